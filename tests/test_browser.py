"""A real-browser test: JupyterLab started as `make lab` starts it (127.0.0.1, a token, the course's
defaults from jupyter-config/, lesson 00 first) in headless Chromium: it opens on lesson 00 with no
news pop-up; the lesson runs; its sparsity slider is reached with Tab and moved with the arrow keys
alone, and the shown result changes."""

import json
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


FIRST_LESSON = "00_introduction.ipynb"
LAB_DEFAULTS = ROOT / "jupyter-config"


def test_make_lab_opens_lesson_00_with_the_course_defaults():
    """The fixture below starts JupyterLab as `make lab` does; this keeps the two in step."""
    makefile = (ROOT / "Makefile").read_text()
    lab = re.search(r"^lab:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert f"FIRST_LESSON := {FIRST_LESSON}" in makefile
    assert "--LabApp.default_url=/lab/tree/$(FIRST_LESSON)" in lab
    assert 'JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config' in lab


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of lesson 00 (so autosave never touches the repository) from a
    temporary directory, with a first-time user's (empty) settings, on 127.0.0.1 with a random
    token, opening on lesson 00 with jupyter-config/'s defaults, as `make lab` does."""
    shutil.copy(ROOT / "notebooks" / FIRST_LESSON, tmp_path)
    port, token = _free_port(), secrets.token_urlsafe(16)
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(LAB_DEFAULTS))
    settings = ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR",
                "JUPYTER_RUNTIME_DIR")
    for var in settings:
        env[var] = str(tmp_path / ".jupyter" / var.lower())
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(360):  # a loaded 2-core machine needs over a minute to start JupyterLab
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 3 minutes")
        # without the token, the server refuses the API
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{base}/api/contents", timeout=5)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


def _shown_result(page) -> str:
    """The sparsity line the slider panel prints, e.g. 'sparsity 50%: validation accuracy 99.33% ...'."""
    shown = page.locator(".jp-OutputArea-output", has_text=re.compile(r"sparsity \d+%: validation accuracy"))
    return shown.last.inner_text()


def _news_default(base: str, token: str) -> str:
    """The default of JupyterLab's "fetch official Jupyter news" setting, as this server serves it."""
    url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)["schema"]["properties"]["fetchNews"]["default"]


FOCUSED = "() => document.activeElement.getAttribute('role') || document.activeElement.tagName"


def _focused(page) -> str:
    """The role (else the tag) of the element that has the keyboard focus."""
    return page.evaluate(FOCUSED)


def test_lesson00_opens_first_without_a_popup_and_its_slider_works_from_the_keyboard(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    assert _news_default(base, token) == "false"  # jupyter-config/ reached the server
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/?token={token}")  # the server's front door, as a student's link
            page.locator(".jp-Notebook").first.wait_for(timeout=180_000)
            assert page.url.split("?")[0].endswith(f"/lab/tree/{FIRST_LESSON}"), page.url
            # the kernel is connected once the status bar names it as idle
            kernel_idle = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Python 3.*\| Idle"))
            kernel_idle.first.wait_for(timeout=180_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()

            first = page.locator(".jp-OutputArea-output", has_text="sparsity 50%: validation accuracy")
            first.first.wait_for(timeout=180_000)
            assert "Error" not in page.locator(".jp-OutputArea-output").all_inner_texts()[0]
            # JupyterLab asks about its news feed as soon as it has started; by now it would have
            assert page.get_by_text("official Jupyter news").count() == 0
            assert page.locator(".Toastify__toast").count() == 0
            before = _shown_result(page)

            # Keyboard alone: command mode, arrow keys to the slider's cell, Tab to the slider.
            page.keyboard.press("Escape")
            active_has_slider = "() => !!document.querySelector('.jp-Cell.jp-mod-active .widget-slider')"
            for _ in range(40):
                if page.evaluate(active_has_slider):
                    break
                page.keyboard.press("ArrowUp")
            assert page.evaluate(active_has_slider), "arrow keys did not reach the slider's cell"
            for _ in range(10):
                page.keyboard.press("Tab")
                if _focused(page) == "slider":
                    break
            assert _focused(page) == "slider", f"Tab reached {_focused(page)}, not the slider"
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "before => [...document.querySelectorAll('.jp-OutputArea-output')]"
                ".some(e => /sparsity \\d+%: validation accuracy/.test(e.innerText)"
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
