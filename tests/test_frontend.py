"""The front-end: its JavaScript helpers pass node's test runner; the files are found and packaged."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_javascript_helpers_pass_their_unit_tests():
    node = shutil.which("node")
    assert node, "node is needed for the front-end tests (make test installs Debian's nodejs)"
    run = subprocess.run([node, "--test", "tests/js/"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)", run.stdout, re.M).group(1))
    assert passed >= 6 and re.search(r"^# fail 0", run.stdout, re.M)


def test_widget_module_is_self_contained():
    """anywidget loads the module from a blob URL: a relative import would fail in the browser."""
    source = (REPO / "widgets" / "explorer.js").read_text()
    assert not re.search(r"^\s*import\s", source, re.M)
    assert "export default" in source


def test_assets_are_found_and_are_the_repository_files():
    from hmxai.ui.assets import asset

    for name in ("explorer.js", "explorer.css"):
        assert asset(name).read_bytes() == (REPO / "widgets" / name).read_bytes()


def test_wheel_carries_the_front_end(tmp_path):
    """Build the wheel (no network: hatchling is installed) and find widgets/ as hmxai/_widgets."""
    import sys

    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                          str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    wheel = next(tmp_path.glob("hmxai-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("hmxai/_widgets/explorer.js", "hmxai/_widgets/explorer.css", "hmxai/ui/app.ipynb",
                   "hmxai/ui/explorer.py"):
        assert needed in names, needed
