"""The one way the browser tests (test_browser.py, test_site.py) find and start Chromium: headless,
offline-minded, from the system (Debian's `chromium`; elsewhere Chromium or Google Chrome on PATH)."""

import os
import shutil

import pytest

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL_HINT = "install Debian's Chromium with `sudo apt-get install chromium` (what .ci/run does)"
SKIP_VARIABLE = "COURSE_SKIP_BROWSER_TESTS"  # set to 1 where a CI job deliberately runs no browser


def require_chromium() -> None:
    """Skip the calling test (module) without Chromium, except in CI, where that is a failure, unless
    the job says it runs no browser (the fork CI's macOS and Windows jobs)."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: this job runs no browser tests", allow_module_level=True)
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but Chromium is missing: {INSTALL_HINT}", pytrace=False)
    pytest.skip(f"Chromium not found; to run the browser tests, {INSTALL_HINT}", allow_module_level=True)


def launch_chromium(playwright):
    """A headless Chromium from the system package, with background networking off."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
