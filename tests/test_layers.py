"""Data flows one way: the ground floor (types, errors, formats, plain tables) imports nothing above it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hmxai"
GROUND = [*sorted((ROOT / "types").glob("*.py")), ROOT / "errors.py", ROOT / "container.py", ROOT / "modes.py",
          ROOT / "ladders.py", ROOT / "scales.py"]
ALLOWED = ("hmxai.types", "hmxai.errors", "hmxai.container", "hmxai.modes")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hmxai"):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("hmxai"))


def test_the_ground_floor_imports_nothing_above_it():
    bad = {p.name: m for p in GROUND for m in _imports(p) if not m.startswith(ALLOWED)}
    assert not bad, bad


def test_codecs_and_tasks_do_not_import_features():
    """Codecs and tasks sit below the pipeline, explanations, explorer, UI and CLI."""
    above = ("hmxai.pipeline", "hmxai.explain", "hmxai.explore", "hmxai.ui", "hmxai.cli", "hmxai.report",
             "hmxai.train")
    bad = {f"{p.parent.name}/{p.name}": m for folder in ("codecs", "tasks") for p in (ROOT / folder).glob("*.py")
           for m in _imports(p) if m.startswith(above)}
    assert not bad, bad
