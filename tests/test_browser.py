"""A real-browser test: JupyterLab on 127.0.0.1 with a token, lesson 00 run in headless Chromium,
the sparsity slider moved with the keyboard, and the shown result checked to change."""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import launch_chromium, require_chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

require_chromium()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of lesson 00 (so autosave never touches the repository) from a
    temporary directory, with temporary settings, on 127.0.0.1 with a random token."""
    shutil.copy(ROOT / "notebooks" / "00_introduction.ipynb", tmp_path)
    port, token = _free_port(), secrets.token_urlsafe(16)
    env = dict(os.environ)
    settings = ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR",
                "JUPYTER_RUNTIME_DIR")
    for var in settings:
        env[var] = str(tmp_path / ".jupyter" / var.lower())
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        # without the token, the server refuses the API
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{base}/api/contents", timeout=5)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


def _shown_result(page) -> str:
    """The sparsity line the slider panel prints, e.g. 'sparsity 50%: test accuracy 99.33% ...'."""
    shown = page.locator(".jp-OutputArea-output", has_text=re.compile(r"sparsity \d+%: test accuracy"))
    return shown.last.inner_text()


def test_lesson00_runs_in_jupyterlab_and_the_slider_updates_the_result(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/00_introduction.ipynb?token={token}")
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            # the kernel is connected once the status bar names it as idle
            kernel_idle = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Python 3.*\| Idle"))
            kernel_idle.first.wait_for(timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()

            first = page.locator(".jp-OutputArea-output", has_text="sparsity 50%: test accuracy")
            first.first.wait_for(timeout=180_000)
            assert "Error" not in page.locator(".jp-OutputArea-output").all_inner_texts()[0]
            before = _shown_result(page)

            slider = page.locator(".widget-slider [role='slider']").last
            slider.scroll_into_view_if_needed()
            slider.focus()
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "before => [...document.querySelectorAll('.jp-OutputArea-output')]"
                ".some(e => /sparsity \\d+%: test accuracy/.test(e.innerText)"
                " && !e.innerText.includes(before))",
                arg=before.split(":")[0], timeout=60_000,
            )
            after = _shown_result(page)
            assert after.split(":")[0] != before.split(":")[0], (before, after)
            assert int(re.search(r"sparsity (\d+)%", after).group(1)) > 50
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser_test_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
