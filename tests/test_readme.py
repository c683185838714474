"""The README's Python examples run as written (on a small photo.png in a temporary folder)."""

import gc
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_examples_run_as_written(tmp_path, monkeypatch, chelsea):
    from hmxai.images import to_pil

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    to_pil(chelsea[..., :96, :128]).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    try:
        for code in blocks:
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own examples
    finally:
        from hmxai.ui.explorer import RateExplorer

        for obj in gc.get_objects():
            if isinstance(obj, RateExplorer):
                obj.close()
    assert namespace["rung"].metrics.measured_bpp == namespace["encoded"].measured_bpp  # same bytes, one path
    assert namespace["result"].measured_bpp == namespace["encoded"].measured_bpp
