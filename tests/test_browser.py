"""The explorer in a real browser: ``hmxai app`` serves it with Voila on localhost, Playwright drives
Debian's Chromium. Moving the quality slider must change the decoded image and the measured bpp;
clicking a channel bar must drop that channel; the page must log no JavaScript error and request
nothing from any host but this machine.
A screenshot is written to ``test-artifacts/`` (or ``$HMXAI_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here starts a browser, a kernel or a server

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("HMXAI_ARTIFACTS", REPO / "test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
LOCAL = ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "ws://localhost", "blob:", "data:")

PNG_DIGEST = """async (selector) => {
  const img = document.querySelector(selector);
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [img.src.slice(0, 5), bytes.byteLength,
          Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, "0")).join("")];
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"hmxai app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"hmxai app did not listen on port {port} within {timeout} s:\n{log.read_text()[-3000:]}")


def _group_members(pgid: int) -> list:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    members.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return members


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    log = folder / "voila.log"
    port = _free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hmxai", "app", "--no-browser", "--port", str(port),
                                 "--max-side", "160"], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()  # hmxai app stops Voila and its kernel on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        time.sleep(1)
        survivors = _group_members(proc.pid)
        if survivors:  # never leave a server behind, but say so: hmxai app should have stopped them
            os.killpg(proc.pid, signal.SIGKILL)
        assert not survivors, f"hmxai app left processes running: {survivors}"


def _number(page, key: str) -> str:
    return page.inner_text(f'.hmx-numbers tr[data-key="{key}"] td')


def _default_ladder_and_channels(codec: str = ""):
    """A learned codec's explorer ladder and its M; by default the default codec's (hmxai-vbr: 1 to 6
    in steps of 0.25)."""
    from hmxai.codecs import DEFAULT_LEARNED_CODEC, CODECS
    from hmxai.explore.engine import CONTINUOUS_STEP
    from hmxai.registry import quality_value

    codec = codec or DEFAULT_LEARNED_CODEC
    lo, hi = CODECS.entry(codec).facts["quality_range"]
    if CODECS.entry(codec).facts.get("continuous"):
        ladder = [quality_value(lo + CONTINUOUS_STEP * i) for i in range(int((hi - lo) / CONTINUOUS_STEP) + 1)]
    else:
        ladder = list(range(lo, hi + 1))
    from hmxai.codecs import create_codec

    return ladder, create_codec(codec, quality=lo).model.M


def quality_step_changes_the_view(page, ladder) -> None:
    """Move the quality slider one step with the keyboard (to the next rung): the decoded image's PNG
    bytes (sent as a binary buffer, shown through a blob: URL) and the measured bpp must change."""
    kind, size, digest = page.evaluate(PNG_DIGEST, "img.hmx-img.decoded")
    assert kind == "blob:" and size > 1000  # PNG bytes sent as a binary buffer, not a data: URL
    bpp = _number(page, "bpp-measured")
    slider = page.locator(".widget-slider", has=page.locator("label", has_text="quality"))
    start = float(slider.locator(".widget-readout").inner_text().strip())
    assert start in ladder
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    after = ladder[ladder.index(start) + 1]
    page.wait_for_function(
        """(old) => { const td = document.querySelector('.hmx-numbers tr[data-key="bpp-measured"] td');
                      const panel = document.querySelector('.hmx-panel');
                      return td && td.textContent !== old && panel.dataset.state === 'ready'; }""",
        arg=bpp, timeout=180_000)
    assert float(slider.locator(".widget-readout").inner_text().strip()) == after
    new_bpp = _number(page, "bpp-measured")
    assert float(new_bpp.split()[0]) > float(bpp.split()[0]), (bpp, new_bpp)
    _, _, new_digest = page.evaluate(PNG_DIGEST, "img.hmx-img.decoded")
    assert new_digest != digest


def test_quality_slider_and_channel_click_in_chromium(app_url):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: apt-get install -y chromium (.ci/run installs it)"
    errors = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            # the page must ask nothing of any host but this one (hmxai's Voila template drops the
            # lab template's CDN stylesheets); a request elsewhere is refused and fails the test
            outside = []
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(LOCAL)
                       else (outside.append(route.request.url), route.abort()))
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(app_url, timeout=180_000)
            page.wait_for_selector('.hmx-panel[data-state="ready"] img.hmx-img.decoded[src]', timeout=300_000)
            ladder, m = _default_ladder_and_channels()
            quality_step_changes_the_view(page, ladder)

            channels = page.locator(".hmx-channels")
            assert _number(page, "channels") == f"{m} / {m}"
            box = page.locator(".hmx-channels-canvas").bounding_box()
            page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # the first channel sent
            page.wait_for_function("(m) => document.querySelector('.hmx-channels').dataset.sent === String(m - 1)",
                                   arg=m, timeout=120_000)
            page.wait_for_function(
                """(m) => { const td = document.querySelector('.hmx-numbers tr[data-key="channels"] td');
                           return td && td.textContent === `${m - 1} / ${m}`; }""", arg=m, timeout=120_000)
            assert channels.get_attribute("data-channels") == str(m)
            # then the explanation follows the decoded image
            page.wait_for_selector('.hmx-panel[data-state="ready"] img.hmx-img.overlay[src]:not([hidden])',
                                   timeout=120_000)
            # the fast bars are labelled as estimates, then exact ablation replaces them
            page.wait_for_selector('.hmx-channels[data-method="ablation"]', timeout=300_000)
            assert "exact" in page.inner_text(".hmx-channels-method")
            page.screenshot(path=str(ARTIFACTS / "explorer-voila.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, f"the page requested hosts other than this machine: {outside}"
