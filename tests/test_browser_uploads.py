"""Uploads from My files in headless Chromium, through the rendered nginx and real gunicorn:
pick two files at once, watch both progress bars reach 100 %, download one and compare bytes."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from downloads.models import StoredFile
from tests.browser import Browser
from tests.conftest import sha256
from tests.servers import make_live_user
from tests.test_browser import PASSWORD, log_in

pytestmark = pytest.mark.integration

# Large enough that the upload takes several progress events, small enough for a busy machine.
BIG = 3 * 1024 * 1024


@pytest.fixture
def uploader(live_gunicorn):
    alice = make_live_user("alice", PASSWORD)
    alice.user_permissions.add(
        Permission.objects.get(codename="upload_files", content_type__app_label="downloads")
    )
    return alice


def test_upload_two_files_see_both_bars_reach_100_and_download_one(
    live_stack, live_gunicorn, uploader, browser: Browser, tmp_path: Path
):
    stack = live_stack("django")  # nginx in front of the session's gunicorn
    big = tmp_path / "holiday video.bin"
    big.write_bytes(os.urandom(BIG))
    note = tmp_path / "notes 2026.txt"
    note.write_bytes("Shopping: milk, bread, café\n".encode())

    log_in(browser, stack)
    driver = browser.driver
    picker = driver.find_element(By.ID, "upload-input")
    assert picker.get_attribute("multiple") is not None  # the script took over the form
    picker.send_keys(f"{big}\n{note}")

    rows = ".upload-list li"
    browser.wait(60).until(
        lambda d: (
            [row.get_attribute("data-state") for row in d.find_elements(By.CSS_SELECTOR, rows)]
            == ["done", "done"]
        )
    )
    bars = driver.find_elements(By.CSS_SELECTOR, f"{rows} progress")
    assert [bar.get_property("value") for bar in bars] == [100, 100]
    statuses = [s.text for s in driver.find_elements(By.CSS_SELECTOR, f"{rows} .status")]
    assert statuses == [
        "uploaded (application/octet-stream)",
        "uploaded (text/plain; charset=utf-8)",
    ]
    # The bars followed the browser's own upload progress to the end of each request body.
    big_row = driver.find_elements(By.CSS_SELECTOR, rows)[0]
    sent, total = (int(big_row.get_attribute(name) or 0) for name in ("data-sent", "data-total"))
    assert sent == total > BIG

    stored = {f.name: f for f in StoredFile.objects.filter(owner=uploader)}
    assert set(stored) == {big.name, note.name}
    assert stored[big.name].sha256 == sha256(big.read_bytes())

    # The row's name links to the file's page; its Download button gives the same bytes back.
    driver.find_element(By.LINK_TEXT, big.name).click()
    browser.wait().until(EC.url_contains(str(stored[big.name].pk)))
    driver.find_element(By.LINK_TEXT, "Download").click()
    downloaded = browser.wait_for_download(big.name, timeout=60)
    assert downloaded.read_bytes() == big.read_bytes()


def test_a_refused_file_says_why_in_its_own_row_and_the_other_still_arrives(
    live_stack, live_gunicorn, uploader, browser: Browser, tmp_path: Path
):
    stack = live_stack("django")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    fine = tmp_path / "fine.txt"
    fine.write_bytes(b"fine\n")

    log_in(browser, stack)
    driver = browser.driver
    driver.find_element(By.ID, "upload-input").send_keys(f"{empty}\n{fine}")

    rows = ".upload-list li"
    browser.wait(60).until(
        lambda d: (
            sorted(
                str(row.get_attribute("data-state"))
                for row in d.find_elements(By.CSS_SELECTOR, rows)
            )
            == ["done", "failed"]
        )
    )
    found = driver.find_elements(By.CSS_SELECTOR, rows)
    assert [row.get_attribute("data-state") for row in found] == ["failed", "done"]
    assert found[0].find_element(By.CSS_SELECTOR, ".status").text == (
        "The file is empty: there is nothing to store."
    )
    assert [f.name for f in StoredFile.objects.all()] == ["fine.txt"]
