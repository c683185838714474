"""The explorer in JupyterLab, in a real browser: JupyterLab serves a notebook on localhost, Playwright
drives Debian's Chromium. The notebook has a kernelspec, so Lab opens it straight on the kernel; the
test runs its ``RateExplorer`` cell, moves the quality slider with the keyboard, and checks that the
decoded image and the measured bpp change. Nothing may be requested from any host but this machine
and no console error may appear. Screenshots go to ``test-artifacts/`` (or ``$HMXAI_ARTIFACTS``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_browser import (ARTIFACTS, FLAGS, LOCAL, _default_ladder_and_channels, _free_port, _group_members,
                                 quality_step_changes_the_view)

pytestmark = pytest.mark.slow

CELL = """from hmxai.images import fit_within
from hmxai.samples import sample_image
from hmxai.ui import RateExplorer

RateExplorer(fit_within(sample_image("chelsea"), 160), codec="hmxai-msh", quality=3)"""

#: JupyterLab's own calls home, off: news and update checks, the PyPI extension manager
LAB_OFFLINE = ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--ServerApp.open_browser=False"]


def _notebook(folder: Path) -> Path:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "explorer-cell", "metadata": {},
                     "outputs": [], "source": CELL}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / "explorer.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    state = tmp_path_factory.mktemp("lab-state")  # Lab's settings and runtime files, outside the notebook folder
    _notebook(folder)
    port = _free_port()
    log = state / "lab.log"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(state / "ws")}
    cmd = [sys.executable, "-m", "jupyterlab", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           f"--ServerApp.root_dir={folder}", *LAB_OFFLINE] + (["--allow-root"] if os.geteuid() == 0 else [])
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        import socket

        end = time.monotonic() + 120
        while time.monotonic() < end:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"jupyter lab did not listen within 120 s:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        time.sleep(1)
        survivors = _group_members(proc.pid)
        if survivors:
            import signal

            os.killpg(proc.pid, signal.SIGKILL)
        assert not survivors, f"jupyter lab left processes running (its kernel?): {survivors}"


def test_rate_explorer_in_jupyterlab(lab_url):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: apt-get install -y chromium (.ci/run installs it)"
    errors, outside = [], []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(LOCAL)
                       else (outside.append(route.request.url), route.abort()))
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(lab_url, timeout=180_000)
            # the kernelspec is set: Lab starts the kernel without asking; wait until it is idle
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
            page.wait_for_function("""() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
                                              return s && s.getAttribute('data-status') === 'idle'; }""",
                                   timeout=180_000)
            started = r"""() => { const p = document.querySelector('.jp-Cell .jp-InputPrompt');
                                 return p && /\[(\*|\d+)\]/.test(p.textContent); }"""
            for attempt in range(4):  # Lab may show "Idle" a moment before the kernel takes requests
                page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Control+Enter")  # run the cell, stay on it
                try:  # the cell starts: its prompt shows [*] or a number
                    page.wait_for_function(started, timeout=20_000)
                    break
                except Exception:
                    if attempt == 3:
                        page.screenshot(path=str(ARTIFACTS / "explorer-lab-not-started.png"), full_page=True)
                        raise
            try:
                page.wait_for_selector('.hmx-panel[data-state="ready"] img.hmx-img.decoded[src]', timeout=300_000)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "explorer-lab-no-view.png"), full_page=True)
                raise
            page.screenshot(path=str(ARTIFACTS / "explorer-lab.png"), full_page=True)
            quality_step_changes_the_view(page, _default_ladder_and_channels("hmxai-msh")[0])  # the cell's codec
            page.wait_for_selector('.hmx-panel[data-state="ready"] img.hmx-img.overlay[src]:not([hidden])',
                                   timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "explorer-lab-q4.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, f"JupyterLab or the explorer requested hosts other than this machine: {outside}"
