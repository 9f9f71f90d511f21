"""A share link end to end in headless Chromium against the real gunicorn: alice makes a link on
her file's page; a second Chromium with a fresh profile (no cookies, no login) downloads the file
through it and plays and seeks the video; alice revokes it; the stranger is refused."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from downloads.logwriter import WRITER
from downloads.models import DownloadLog, ShareLink, StoredFile
from harness.gunicorn import Gunicorn
from tests.browser import CHROMEDRIVER, Browser, chromium_options, keep_evidence
from tests.servers import make_live_user
from tests.stored import store_file
from tests.test_browser import ASSETS, PASSWORD, log_in, url

pytestmark = pytest.mark.integration

# Plays the shared video from the link (inline, as a page would embed it), seeks to its middle
# and reports where it is: the seek needs range requests the link answers.
PLAY_AND_SEEK = """
const [source, done] = arguments;
const video = document.createElement("video");
video.muted = true;
video.preload = "auto";
video.src = source;
document.body.appendChild(video);
const report = () => done({
  duration: video.duration, current: video.currentTime, error: video.error && video.error.code,
});
video.addEventListener("error", report, {once: true});
video.addEventListener("loadedmetadata", () => {
  video.addEventListener("seeked", report, {once: true});
  video.currentTime = video.duration / 2;
}, {once: true});
"""


@pytest.fixture
def video(live_gunicorn: Gunicorn) -> StoredFile:
    alice = make_live_user("alice", PASSWORD)
    return store_file(alice, "Launch teaser.webm", (ASSETS / "teaser.webm").read_bytes())


@pytest.fixture
def stranger(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A second Chromium with a profile of its own: nobody has logged in there."""
    downloads = tmp_path / "stranger-downloads"
    downloads.mkdir()
    driver = webdriver.Chrome(
        service=Service(str(CHROMEDRIVER)),
        options=chromium_options(tmp_path / "stranger-profile", downloads),
    )
    try:
        yield (stranger := Browser(driver=driver, downloads=downloads))
        keep_evidence(request, stranger, "stranger")
    finally:
        driver.quit()


def test_a_link_is_made_used_without_login_and_revoked(live_gunicorn, browser, stranger, video):
    log_in(browser, live_gunicorn, start=video.get_absolute_url())
    owner = browser.driver
    days = owner.find_element(By.ID, "id_expires_in_days")
    assert days.get_attribute("value") == "7"
    owner.find_element(By.ID, "id_note").send_keys("for the press")
    owner.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]").click()
    field = browser.wait().until(EC.presence_of_element_located((By.ID, "share-url")))
    link = field.get_attribute("value")
    assert link.startswith(url(live_gunicorn, "/s/"))
    owner.find_element(By.ID, "copy-share-url").click()
    # Copied, or (where the clipboard is refused) selected with a word on how to copy it.
    browser.wait().until(lambda d: d.find_element(By.ID, "copy-result").text != "")

    # The stranger downloads the file: same bytes, the file's own name.
    stranger.driver.get(link)
    saved = stranger.wait_for_download("Launch teaser.webm")
    assert saved.read_bytes() == (ASSETS / "teaser.webm").read_bytes()

    # ...and plays it and seeks, from a page of the app's origin where nobody is logged in.
    stranger.driver.get(url(live_gunicorn, "/accounts/login/"))
    stranger.driver.set_script_timeout(10)
    state = stranger.driver.execute_async_script(PLAY_AND_SEEK, f"{link}?inline=1")
    assert state["error"] is None
    assert state["current"] == pytest.approx(state["duration"] / 2, abs=0.5)
    shared = ShareLink.objects.get()
    WRITER.flush()
    assert DownloadLog.objects.filter(share_link=shared, status=206, user=None).exists()
    # The download and the player: two downloads, however many ranges the player asked for.
    assert shared.download_count == 2

    # Alice sees it on the file page, with its uses, and revokes it.
    owner.get(url(live_gunicorn, video.get_absolute_url()))
    row = owner.find_element(By.CSS_SELECTOR, f'tr[data-link="{shared.pk}"]')
    assert "for the press" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.num").text == "2"
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait().until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f'tr[data-link="{shared.pk}"] td.state').text
            == "revoked"
        )
    )

    # The stranger is refused with a page that says why, and gets no file.
    for path in stranger.downloads.iterdir():
        path.unlink()
    stranger.driver.get(link)
    refusal = stranger.wait().until(EC.presence_of_element_located((By.ID, "share-refused")))
    assert "revoked" in refusal.text
    assert stranger.finished_downloads() == []
