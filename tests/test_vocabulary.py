"""One name per quantity: ``measured_bpp`` and ``estimated_bpp`` in every result type, the CLI's JSON and the docs."""

import dataclasses
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import hmxai.types
from test_cli import hmxai as run_cli

REPO = Path(__file__).resolve().parents[1]
#: other spellings of the two rates (the old ``bpp_measured`` among them)
OTHER = re.compile(r"bpp_(measured|estimated|meas|est)|(meas|est)_bpp\b|bpp_real|real_bpp|bpp_likelihood")


def _result_types():
    for info in pkgutil.iter_modules(hmxai.types.__path__, "hmxai.types."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == info.name:
                yield obj


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def test_result_types_use_the_one_vocabulary():
    types = list(_result_types())
    assert len(types) >= 10  # the scan found the result types
    names = {f.name for t in types for f in dataclasses.fields(t)}
    assert "measured_bpp" in names and "estimated_bpp" in names
    assert [t.__name__ for t in types if "to_dict" not in vars(t)] == []  # one serializer each
    bad = sorted(n for n in names if OTHER.search(n))
    assert not bad, bad
    for t in types:  # properties too
        bad = [n for n in vars(t) if OTHER.search(n)]
        assert not bad, (t.__name__, bad)


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["jpeg", "hmxai-vbr"])
def test_cli_json_uses_the_one_vocabulary(codec):
    for args in (["run", "--codec", codec, "--json"],
                 ["explore", "--codec", codec, "--budget", "8", "--json"] if codec != "jpeg" else
                 ["explore", "--codec", codec, "--json"]):
        out = json.loads(run_cli(*args).stdout)
        keys = set(_keys(out))
        assert "measured_bpp" in keys, args
        bad = sorted(k for k in keys if OTHER.search(k))
        assert not bad, (args, bad)


def test_docs_and_notebooks_use_the_one_vocabulary():
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "notebooks").glob("*.ipynb")),
             *sorted((REPO / "widgets").glob("*.js"))]
    for path in files:
        hits = OTHER.findall(path.read_text())
        assert not hits, (path.name, hits[:3])
