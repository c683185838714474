"""Every pixel-explanation method on a ladder: contract, drift, deletion/insertion, the figure."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from hmxai.explain.ladder import default_qualities, rate_ladder
from hmxai.explain.pixels import (
    PIXEL_METHODS,
    baseline_image,
    drift,
    explain_ladder,
    explain_pixels,
    pixel_faithfulness,
)
from hmxai.types.ladder import Drift, PixelExplanation, PixelFaithfulness, RateLadder
from pixel_models import SIDE, hooks, image, ladder, ladder_of, quadrant_task, task  # noqa: F401 (fixtures)

FAST = {"lime": {"num_samples": 32, "progress": False}}


@pytest.mark.parametrize("method", PIXEL_METHODS.names())
def test_contract(method, task, ladder):
    task.train()
    try:
        e = explain_pixels(ladder, method, task, **FAST.get(method, {}))
        assert task.training and hooks(task) == 0
    finally:
        task.eval()
    assert type(e) is PixelExplanation and e.method == method
    assert e.maps.shape == (len(ladder), SIDE, SIDE) and torch.isfinite(e.maps).all()
    assert e.target == ladder.predictions[0].indices[0] and len(e.probabilities) == len(ladder)
    with torch.no_grad():
        expected = torch.softmax(task(ladder.images), -1)[:, e.target]
    torch.testing.assert_close(torch.tensor(e.probabilities), expected, atol=1e-5, rtol=1e-4)
    again = explain_pixels(ladder, method, task, **FAST.get(method, {}))
    assert torch.equal(e.maps, again.maps)  # deterministic


def test_drift_invariants(task):
    x = image(3)
    ladder = ladder_of(task, torch.cat([x, x, x.flip(-1)]))
    for method in PIXEL_METHODS.names():
        rows = drift(ladder, explain_pixels(ladder, method, task, **FAST.get(method, {})))
        assert [type(r) for r in rows] == [Drift, Drift] and [r.row for r in rows] == [1, 2]
        assert rows[0].spearman == pytest.approx(1.0) and rows[0].top_iou == 1.0  # identical row
        assert rows[1].spearman < 0.99 and not rows[0].class_changed
    with pytest.raises(ValueError, match="top"):
        drift(ladder, explain_pixels(ladder, "grad-cam", task), top=0)
    other = ladder_of(task, x)
    with pytest.raises(ValueError, match="does not belong"):
        drift(other, explain_pixels(ladder, "grad-cam", task))


def test_faithfulness_of_a_known_answer(task, ladder):
    """HiRes-CAM of the quadrant model ranks the quadrant (25 % of the pixels) first: once 40 % of the
    pixels are deleted (inserted), nothing the model sees is left (missing), unlike a random order."""
    e = explain_pixels(ladder, "hires-cam", task, target=1)
    f = pixel_faithfulness(ladder, e, task, points=6, baseline="grey")
    assert type(f) is PixelFaithfulness and f.deletion.shape == (len(ladder), 6)
    for curve in (f.deletion, f.random_deletion):  # nothing removed: the row's own probability
        torch.testing.assert_close(curve[:, 0], torch.tensor(e.probabilities), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(f.insertion[:, -1], torch.tensor(e.probabilities), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(f.deletion[:, -1], f.insertion[:, 0])  # everything removed = baseline
    late = [i for i, v in enumerate(f.fractions) if v >= 0.4]
    for curves in (f.deletion, f.insertion):
        torch.testing.assert_close(curves[:, late], curves[:, -1:].expand(-1, len(late)), atol=1e-6, rtol=0)
    assert (f.random_deletion[:, late[0]] - f.random_deletion[:, -1]).abs().max() > 1e-3
    assert [set(row) for row in f.aucs()] == [{"row", "deletion_auc", "insertion_auc", "random_deletion_auc",
                                             "random_insertion_auc"}] * len(ladder)
    assert hooks(task) == 0


def test_baselines():
    x = image(2)
    blur = baseline_image(x, "blur")
    assert blur.shape == x.shape and float((blur - x).abs().mean()) > 0.005
    torch.testing.assert_close(blur.mean(), x.mean(), atol=0.02, rtol=0)
    flat = torch.full_like(x, 0.3)
    torch.testing.assert_close(baseline_image(flat, "blur"), flat)  # a constant image stays constant
    assert float(baseline_image(x, "grey").unique()) == 0.5
    with pytest.raises(ValueError, match="baseline"):
        baseline_image(x, "noise")


def test_real_ladder_two_codecs(small, lite0):
    ladder = rate_ladder(small, {"jpeg": [10, 80], "hmxai-msh": [1]}, task=lite0)
    assert type(ladder) is RateLadder and len(ladder) == 4
    assert ladder.codecs == ("jpeg", "jpeg", "hmxai-msh") and ladder.qualities == (10, 80, 1)
    assert ladder.measured_bpp[0] < ladder.measured_bpp[1] and ladder.psnr[0] < ladder.psnr[1]
    assert torch.equal(ladder.images[0:1], small)
    assert [r["row"] for r in ladder.to_dict()["rows"]] == [0, 1, 2, 3]
    cam, lime = explain_ladder(ladder, ["gradcam", "lime"], lite0, num_samples=24, seed=1, progress=False)
    assert cam.method == "grad-cam" and lime.method == "lime" and dict(lime.params)["seed"] == 1
    assert default_qualities("hmxai-msh") == (1, 2, 3, 4, 5) and len(default_qualities("webp")) == 5
    with pytest.raises(ValueError, match="not by"):
        explain_pixels(ladder, "grad-cam", quadrant_task())
    with pytest.raises(TypeError, match="num_sample"):
        explain_ladder(ladder, ["grad-cam", "lime"], lite0, num_sample=10)
    with pytest.raises(ValueError, match="one at a time"):
        rate_ladder(torch.cat([small, small]), "jpeg", [50], lite0)
    with pytest.raises(ValueError, match="mapping"):
        rate_ladder(small, {"jpeg": [50]}, [10], lite0)


def test_grid_figure(tmp_path, task, ladder):
    import matplotlib.pyplot as plt

    from hmxai.plots import save_figure
    from hmxai.plots.explanations import plot_explanation_grid

    es = [explain_pixels(ladder, m, task, **FAST.get(m, {})) for m in ("grad-cam", "lime")]
    before = plt.get_fignums()
    fig = plot_explanation_grid(ladder, es, width="one-column")
    assert len(fig.axes) >= len(ladder) * 4 and fig.get_figwidth() == pytest.approx(3.5)
    paths = save_figure(fig, tmp_path / "grid")
    assert [p.rsplit(".", 1)[1] for p in paths] == ["pdf", "svg", "png"]
    assert all((tmp_path / f"grid.{ext}").stat().st_size > 1000 for ext in ("pdf", "svg", "png"))
    plt.close(fig)
    assert plt.get_fignums() == before
    with pytest.raises(ValueError, match="scale"):
        plot_explanation_grid(ladder, es, scale="global")


@pytest.mark.slow
def test_cli_explain_json_and_figure(tmp_path, chelsea):
    import json
    import os
    import subprocess
    import sys

    from hmxai.images import to_pil

    path = tmp_path / "cat.png"
    to_pil(chelsea[..., :64, :64]).save(path)
    env = {**os.environ, "HMXAI_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "hmxai.cli", "explain", str(path), "--codec", "jpeg:10,60",
           "--method", "gradcam", "--method", "lime", "--samples", "16", "--seed", "3", "--faithfulness",
           "--figure", str(tmp_path / "fig"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["quality"] for r in out["ladder"]] == [None, 10, 60]
    assert set(out["methods"]) == {"grad-cam", "lime"}
    lime = out["methods"]["lime"]
    assert lime["params"]["seed"] == 3 and len(lime["superpixel_weights"]) == 3 and len(lime["drift"]) == 2
    assert len(out["methods"]["grad-cam"]["faithfulness"]) == 3
    assert sorted(p.rsplit(".", 1)[1] for p in out["figures"]) == ["pdf", "png", "svg"]
    again = subprocess.run(cmd[:-3] + ["--json"], capture_output=True, text=True, env=env, timeout=600)
    assert json.loads(again.stdout)["methods"]["lime"]["superpixel_weights"] == lime["superpixel_weights"]
    bad = subprocess.run([sys.executable, "-m", "hmxai.cli", "explain", str(tmp_path / "missing.png"), "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "error" in json.loads(bad.stdout)
    for wrong in (["--width", "abc"], ["--samples", "1"], ["--top", "0"], ["--codec", "jpeg:ten"]):
        early = subprocess.run([sys.executable, "-m", "hmxai.cli", "explain", str(path), *wrong],
                               capture_output=True, text=True, env=env, timeout=600)
        assert early.returncode == 2 and f"error: argument {wrong[0]}" in early.stderr  # argparse, before any work


def test_cli_one_method_alone_and_fractional_rungs(tmp_path, small, capsys):
    """``--method grad-cam`` alone (LIME's options are not its) and ``NAME:1,2.5`` rungs of a variable-rate codec."""
    import json as _json

    from hmxai.cli import main
    from hmxai.images import to_pil

    path = tmp_path / "crop.png"
    to_pil(small).save(path)
    assert main(["explain", str(path), "--codec", "hmxai-vbr:1,2.5", "--method", "grad-cam", "--json"]) == 0
    out = _json.loads(capsys.readouterr().out)
    assert [r["quality"] for r in out["ladder"][1:]] == [1, 2.5] and list(out["methods"]) == ["grad-cam"]
    with pytest.raises(SystemExit):  # argparse refuses a quality that is not a number
        main(["explain", str(path), "--codec", "jpeg:ten", "--json"])
