"""A browser test that fails leaves a screenshot and the page's HTML behind (tests/browser.py);
one that passes leaves nothing. Run as a separate pytest session in real Chromium, since the
failure being tested must not fail this suite."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INNER_TESTS = """
def test_that_fails(browser):
    browser.driver.get("data:text/html,<h1>the evidence</h1>")
    assert False, "failed on purpose"


def test_that_passes(browser):
    browser.driver.get("data:text/html,<h1>nothing to keep</h1>")
"""


def test_a_failed_browser_test_leaves_a_screenshot_and_the_html(tmp_path: Path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pytest.ini").write_text("[pytest]\n")
    (inner / "conftest.py").write_text('pytest_plugins = ["tests.browser"]\n')
    (inner / "test_inner.py").write_text(INNER_TESTS)
    artifacts = tmp_path / "artifacts"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner)],
        cwd=inner,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BROWSER_ARTIFACTS": str(artifacts),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    saved = sorted(path.name for path in artifacts.iterdir())
    assert saved == ["test_inner.py__test_that_fails.html", "test_inner.py__test_that_fails.png"]
    assert (artifacts / saved[1]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "the evidence" in (artifacts / saved[0]).read_text()
    assert "browser evidence for test_inner.py::test_that_fails" in done.stdout
