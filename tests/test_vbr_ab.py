"""The variable-rate A/B (benchmarks/vbr_ab.py): its reading of the curve, and a run on two tiny arms."""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_vbr import TINY, _Sampler

REPO = Path(__file__).resolve().parents[1]


def _ab():
    spec = importlib.util.spec_from_file_location("vbr_ab", REPO / "benchmarks" / "vbr_ab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_reads_the_variable_rate_curve_at_the_single_rate_point():
    ab = _ab()
    # PSNR = 30 + 4·ln(bpp): linear in log-rate, so the reading is exact
    curve = [{"measured_bpp": r, "psnr": 30 + 4 * math.log(r)} for r in (0.2, 0.4, 0.8)]
    on = ab.compare({"measured_bpp": 0.5, "psnr": 30 + 4 * math.log(0.5)}, curve)
    assert on["psnr_difference_db"] == pytest.approx(0) and on["rate_difference"] == pytest.approx(0)
    above = ab.compare({"measured_bpp": 0.5, "psnr": 30 + 4 * math.log(0.5) + 0.5}, curve)
    assert above["psnr_difference_db"] == pytest.approx(-0.5)  # the shared model is 0.5 dB worse here
    assert above["rate_difference"] == pytest.approx(math.exp(0.5 / 4) - 1)  # and needs this much more rate
    outside = ab.compare({"measured_bpp": 2.0, "psnr": 40.0}, curve)
    assert outside["psnr_difference_db"] is None and outside["rate_difference"] is None


def test_ab_on_two_tiny_arms_measures_kodak_and_renders_in_the_card(small, tmp_path, data_root, monkeypatch):
    from hmxai.codecs.zoo import zoo_card_path
    from hmxai.train.vbr import VbrTrainer
    from hmxai.zoo_card import render_vbr_markdown

    monkeypatch.setenv("HMXAI_DATA", str(data_root))
    arms = {"vbr": TINY, "single": replace(TINY, fixed_quality=2.0)}
    for name, config in arms.items():
        trainer = VbrTrainer(config, _Sampler(small), tmp_path / name)
        trainer.run(progress=False)
        (tmp_path / name / "summary.json").write_text(json.dumps(trainer.summary()))  # as train_vbr writes them
        (tmp_path / name / "config.json").write_text(json.dumps(config.to_dict()))
    ab = _ab()
    out = tmp_path / "ab.json"
    result = ab.main(["--vbr", str(tmp_path / "vbr"), "--single", str(tmp_path / "single"), "--images", "1",
                      "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["rate"]["quality"] == 2.0 and result["steps"] == {"vbr": TINY.total, "single": TINY.total}
    assert sorted(float(q) for q in result["vbr"]) == [1.0, 1.5, 2.0, 2.5, 3.0]  # clipped to the range
    assert result["single"]["measured_bpp"] > 0 and math.isfinite(result["single"]["psnr"])
    card = json.loads(zoo_card_path("hmxai-vbr").read_text())
    card["training"]["ab"] = result
    text = render_vbr_markdown(card)
    assert "## What sharing costs" in text and f"| single rate | q2 | {result['single']['measured_bpp']:.4f} |" in text
    with pytest.raises(SystemExit, match="not a single-rate run"):  # the arms swapped
        ab.main(["--vbr", str(tmp_path / "single"), "--single", str(tmp_path / "vbr"), "--images", "1",
                 "--out", str(out)])
