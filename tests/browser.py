"""Headless Chromium for end-to-end tests: Debian's chromium driven by Debian's chromedriver.

One browser for the session (starting Chromium costs about a second); each test gets it with no
cookies, an empty download directory and a blank page. When a test that used it fails, a
screenshot and the page's HTML are saved under test-artifacts/browser/ (BROWSER_ARTIFACTS names
another directory), named after the test. Selenium is always handed the driver's
path and runs offline, so Selenium Manager never tries to download a browser or a driver.
"""

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    UnexpectedAlertPresentException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
WAIT_SECONDS = 10.0
ARTIFACTS = Path(
    os.environ.get(
        "BROWSER_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
    )
)


@dataclass
class Browser:
    driver: WebDriver
    downloads: Path

    def wait(self, timeout: float = WAIT_SECONDS) -> WebDriverWait:
        # A page that reloads between finding an element and reading it (a form just posted)
        # leaves a stale reference: look again at the next poll, as for one not found yet.
        return WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,),
        )

    def finished_downloads(self) -> list[Path]:
        """Files fully written: Chromium writes to `*.crdownload` and renames when done."""
        return sorted(
            path
            for path in self.downloads.iterdir()
            if path.is_file() and path.suffix != ".crdownload"
        )

    def wait_for_download(self, name: str, timeout: float = WAIT_SECONDS) -> Path:
        target = self.downloads / name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            partial = list(self.downloads.glob("*.crdownload"))
            if target.is_file() and not partial:
                return target
            time.sleep(0.05)
        found = sorted(p.name for p in self.downloads.iterdir())
        raise AssertionError(f"{name!r} not downloaded within {timeout}s; found {found}")


def require_executable(path: Path, package: str) -> None:
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing: browser tests need Debian's {package} "
            "(run `make system-deps` or `bash scripts/system-deps.sh`)",
            pytrace=False,
        )


def chromium_options(profile: Path, downloads: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        },
    )
    return options


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    require_executable(CHROMIUM, "chromium")
    require_executable(CHROMEDRIVER, "chromium-driver")
    # Selenium Manager must never go looking on the network for a browser or a driver.
    os.environ["SE_OFFLINE"] = "true"
    root = tmp_path_factory.mktemp("chromium")
    downloads = root / "downloads"
    downloads.mkdir()
    driver = webdriver.Chrome(
        service=Service(str(CHROMEDRIVER)),
        options=chromium_options(root / "profile", downloads),
    )
    try:
        yield Browser(driver=driver, downloads=downloads)
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test, for the fixtures to see whether it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


def save_failure(browser: Browser, name: str) -> list[Path]:
    """A screenshot and the HTML of what `browser` shows, as ARTIFACTS/<name>.png and .html."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:150]
    screenshot, html = ARTIFACTS / f"{stem}.png", ARTIFACTS / f"{stem}.html"
    browser.driver.save_screenshot(str(screenshot))
    html.write_text(browser.driver.page_source, encoding="utf-8")
    return [screenshot, html]


def keep_evidence(request: pytest.FixtureRequest, browser: Browser, label: str = "") -> None:
    """After a failed test, save what `browser` shows; never hide the failure itself."""
    if not failed(request):
        return
    name = request.node.nodeid + (f"-{label}" if label else "")
    try:
        saved = save_failure(browser, name)
    except Exception as error:  # a dead browser must not mask the test's own failure
        print(f"browser evidence not saved for {name}: {error!r}")
    else:
        print(f"browser evidence for {name}: {', '.join(map(str, saved))}")


@pytest.fixture
def browser(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The session's Chromium with no cookies, no downloads and nothing loaded."""
    chromium.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    for path in chromium.downloads.iterdir():
        if path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path)
    yield chromium
    keep_evidence(request, chromium)
    # Stop whatever the page still loads (a video, say) before the next test's data goes away.
    # A failed test may leave an alert open: the first command dismisses it and raises.
    try:
        chromium.driver.get("about:blank")
    except UnexpectedAlertPresentException:
        chromium.driver.get("about:blank")
