"""End to end in headless Chromium against the real gunicorn: what a person sees and gets."""

import io
import math
import struct
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from downloads.models import DownloadLog, StoredFile
from harness.gunicorn import Gunicorn
from tests.browser import Browser
from tests.servers import make_live_user
from tests.stored import store_file

pytestmark = pytest.mark.integration

ASSETS = Path(__file__).resolve().parent.parent / "downloads" / "demo_assets"
PASSWORD = "browser-pass-1"


@dataclass
class Shelf:
    """Alice's view of the world: her files, files shared with her, and one that is not."""

    resume: StoredFile
    video: StoredFile
    landing: StoredFile
    image: StoredFile
    tone: StoredFile
    report: StoredFile
    secret: StoredFile


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A 440 Hz tone as 16-bit mono WAV: audio every browser plays, made without tools."""
    samples = (
        int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return out.getvalue()


def store(
    owner: User, name: str, asset: str | bytes, share_with: User | Group | None = None
) -> StoredFile:
    content = asset if isinstance(asset, bytes) else (ASSETS / asset).read_bytes()
    return store_file(owner, name, content, share_with)


@pytest.fixture
def shelf(live_gunicorn: Gunicorn) -> Shelf:
    alice = make_live_user("alice", PASSWORD)
    # Bob never logs in here: no password hash to compute.
    bob = User.objects.create(username="bob")
    crew = Group.objects.create(name="crew")
    crew.user_set.add(alice)
    return Shelf(
        resume=store(alice, "résumé 2024.txt", "resume.txt"),
        video=store(alice, "Launch teaser.webm", "teaser.webm"),
        landing=store(alice, "landing.html", "landing.html"),
        image=store(bob, "Harbour at dusk.png", "harbour.png", share_with=alice),
        tone=store(alice, "Tuning tone.wav", tone_wav()),
        report=store(bob, "Quarterly report.pdf", "report.pdf", share_with=crew),
        secret=store(bob, "Bob's secret plan.txt", "resume.txt"),
    )


def url(server: Gunicorn, path: str) -> str:
    return f"{server.url}{path}"


def log_in(browser: Browser, server: Gunicorn, start: str = "/") -> None:
    """Open a page, get sent to the login form, fill it in and come back to that page."""
    driver = browser.driver
    driver.get(url(server, start))
    browser.wait().until(EC.url_contains("/accounts/login/"))
    driver.find_element(By.ID, "id_username").send_keys("alice")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    browser.wait().until(lambda d: urlsplit(d.current_url).path == start)


def logged(timeout: float = 10.0, **filters: object) -> bool:
    """Whether the server's log writer wrote such a row within `timeout` (it writes off the
    request, a few milliseconds after the answer)."""
    deadline = time.monotonic() + timeout
    while not DownloadLog.objects.filter(**filters).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def listed_names(browser: Browser) -> list[str]:
    # The name links to the file's page; the other links in a row are buttons.
    links = browser.driver.find_elements(By.CSS_SELECTOR, "table.files tbody a:not(.button)")
    return [link.text for link in links]


def test_log_in_lists_my_and_shared_files_and_search_filters(live_gunicorn, browser, shelf):
    log_in(browser, live_gunicorn)
    driver = browser.driver
    assert driver.find_element(By.TAG_NAME, "h1").text == "My files"
    assert driver.find_element(By.CSS_SELECTOR, "header .who").text == "alice"
    assert sorted(listed_names(browser)) == sorted(
        f.name
        for f in (shelf.resume, shelf.video, shelf.landing, shelf.image, shelf.tone, shelf.report)
    )

    search = driver.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    search.send_keys("harbour")
    search.submit()
    browser.wait().until(EC.url_contains("q=harbour"))
    assert listed_names(browser) == ["Harbour at dusk.png"]

    search = driver.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    search.clear()
    search.send_keys("secret")
    search.submit()
    browser.wait().until(EC.url_contains("q=secret"))
    assert listed_names(browser) == []
    assert "No file matches" in driver.find_element(By.CSS_SELECTOR, "p.empty").text


def test_download_button_saves_the_exact_bytes_under_the_non_ascii_name(
    live_gunicorn, browser, shelf
):
    log_in(browser, live_gunicorn, start=shelf.resume.get_absolute_url())
    browser.driver.find_element(By.LINK_TEXT, "Download").click()
    saved = browser.wait_for_download("résumé 2024.txt")
    assert saved.read_bytes() == (ASSETS / "resume.txt").read_bytes()
    assert [p.name for p in browser.finished_downloads()] == ["résumé 2024.txt"]


def test_html_asked_inline_is_downloaded_never_rendered(live_gunicorn, browser, shelf):
    log_in(browser, live_gunicorn)
    driver = browser.driver
    driver.get(url(live_gunicorn, f"{shelf.landing.get_download_url()}?inline=1"))
    saved = browser.wait_for_download("landing.html")
    assert saved.read_bytes() == (ASSETS / "landing.html").read_bytes()
    # Had the page rendered, its script's alert would be open by now and the title "Landing".
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.title == "My files · Protected downloads"
    assert urlsplit(driver.current_url).path == "/"


SEEK_TO_MIDDLE = """
const done = arguments[arguments.length - 1];
const video = document.querySelector("video");
const report = () => done({
  current: video.currentTime,
  duration: video.duration,
  seekable: video.seekable.length ? video.seekable.end(0) : null,
  error: video.error && video.error.code,
});
video.addEventListener("error", report, {once: true});
const seek = () => {
  video.addEventListener("seeked", report, {once: true});
  video.currentTime = video.duration / 2;
};
if (video.readyState >= HTMLMediaElement.HAVE_METADATA) seek();
else video.addEventListener("loadedmetadata", seek, {once: true});
"""


def test_video_preview_seeks_to_the_middle_with_range_requests(live_gunicorn, browser, shelf):
    log_in(browser, live_gunicorn, start=shelf.video.get_absolute_url())
    driver = browser.driver
    video = driver.find_element(By.CSS_SELECTOR, "figure.preview video")
    assert video.get_attribute("controls") is not None
    # A signed media URL (issue 11): the seeks below are answered without a checked request.
    assert video.get_attribute("src").startswith(url(live_gunicorn, "/m/"))

    driver.set_script_timeout(10)
    state = driver.execute_async_script(SEEK_TO_MIDDLE)
    assert state["error"] is None
    assert 5.5 < state["duration"] < 6.5  # the teaser lasts six seconds
    assert state["current"] == pytest.approx(state["duration"] / 2, abs=0.5)
    # Seekable to the end without having played it: the server honours ranges.
    assert state["seekable"] == pytest.approx(state["duration"], abs=0.1)
    # The page issued the URL (logged); the seeks through it are the server's access log's.
    assert logged(file=shelf.video, outcome="issued", delivery="signed")
    assert not DownloadLog.objects.filter(file=shelf.video, status=206).exists()


AUDIO_METADATA = """
const done = arguments[arguments.length - 1];
const audio = document.querySelector("figure.preview audio");
const report = () => done({duration: audio.duration, error: audio.error && audio.error.code});
if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) report();
else {
  audio.addEventListener("loadedmetadata", report, {once: true});
  audio.addEventListener("error", report, {once: true});
}
"""


def test_image_and_audio_previews_play_and_open_is_offered_only_for_safe_types(
    live_gunicorn, browser, shelf
):
    log_in(browser, live_gunicorn, start=shelf.image.get_absolute_url())
    driver = browser.driver
    image = driver.find_element(By.CSS_SELECTOR, "figure.preview img")
    browser.wait().until(lambda d: d.execute_script("return arguments[0].complete", image))
    assert driver.execute_script("return arguments[0].naturalWidth", image) == 640
    # Loaded through its signed URL, not the checked download (issue 11).
    assert image.get_attribute("src").startswith(url(live_gunicorn, "/m/"))
    assert logged(file=shelf.image, outcome="issued", delivery="signed")

    # Served inline under `Content-Security-Policy: sandbox`, media still plays in the page.
    driver.get(url(live_gunicorn, shelf.tone.get_absolute_url()))
    assert driver.find_element(By.CSS_SELECTOR, "figure.preview audio[controls]")
    driver.set_script_timeout(10)
    state = driver.execute_async_script(AUDIO_METADATA)
    assert state["error"] is None
    assert state["duration"] == pytest.approx(1.0, abs=0.05)

    driver.get(url(live_gunicorn, shelf.report.get_absolute_url()))
    opener = driver.find_element(By.LINK_TEXT, "Open")
    assert opener.get_attribute("href").endswith(f"{shelf.report.get_download_url()}?inline=1")
    assert not driver.find_elements(By.CSS_SELECTOR, "figure.preview")

    driver.get(url(live_gunicorn, shelf.landing.get_absolute_url()))
    assert driver.find_element(By.TAG_NAME, "h1").text == "landing.html"
    assert not driver.find_elements(By.LINK_TEXT, "Open")
    assert not driver.find_elements(By.CSS_SELECTOR, "figure.preview")


def test_my_files_shows_each_image_as_a_thumbnail_through_a_signed_url(
    live_gunicorn, browser, shelf
):
    log_in(browser, live_gunicorn)
    driver = browser.driver
    (thumb,) = driver.find_elements(By.CSS_SELECTOR, "table.files img.thumb")
    assert thumb.get_attribute("src").startswith(url(live_gunicorn, "/m/"))
    browser.wait().until(lambda d: d.execute_script("return arguments[0].complete", thumb))
    assert driver.execute_script("return arguments[0].naturalWidth", thumb) == 640
    assert thumb.size == {"width": 48, "height": 48}
    assert logged(file=shelf.image, outcome="issued")


def test_log_out_returns_to_login_and_downloads_then_ask_to_log_in(live_gunicorn, browser, shelf):
    log_in(browser, live_gunicorn)
    driver = browser.driver
    driver.find_element(By.CSS_SELECTOR, "header form button[type=submit]").click()
    browser.wait().until(EC.url_contains("/accounts/login/"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Log in"
    assert not driver.find_elements(By.CSS_SELECTOR, "header .who")

    download = shelf.resume.get_download_url()
    driver.get(url(live_gunicorn, download))
    browser.wait().until(EC.url_contains("/accounts/login/"))
    assert parse_qs(urlsplit(driver.current_url).query) == {"next": [download]}
    assert driver.find_element(By.TAG_NAME, "h1").text == "Log in"
    assert list(browser.downloads.iterdir()) == []
