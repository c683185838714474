"""pyproject.toml and environment.yml list the same packages; importing hmxai stays light."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _env_yml_requirements():
    conda, pip, in_pip, in_deps = [], [], False, False
    for line in (REPO / "environment.yml").read_text().splitlines():
        s = line.strip()
        if not line.startswith(" "):
            in_deps = line.startswith("dependencies:")
            continue
        if not in_deps:
            continue
        if s.startswith("- pip:"):
            in_pip = True
            continue
        if s.startswith("- ") and not s.startswith("- pip"):
            (pip if in_pip and line.startswith("      ") else conda).append(s[2:].strip())
    return conda, pip


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda, pip = _env_yml_requirements()
    listed = {}
    for r in conda + pip:
        if _name(r) in ("python", "pip"):
            continue
        listed[_name(r)] = r.replace(" ", "")
    assert set(listed) == set(wanted), (set(listed) ^ set(wanted))
    for name, spec in wanted.items():
        assert listed[name].lower() == spec.lower(), (name, listed[name], spec)
    python = next(r for r in conda if r.startswith("python"))
    assert project["requires-python"] == ">=3.10" and "3.1" in python


def test_import_hmxai_is_light():
    code = "import sys, hmxai; print('torch' in sys.modules, 'compressai' in sys.modules, hmxai.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["False", "False"]


def test_widgets_folder_is_packaged():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["widgets"] == "hmxai/_widgets"
    assert (REPO / "widgets").is_dir()
