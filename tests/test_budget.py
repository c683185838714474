"""Bit budget, channel-budget curves, spatial maps, faithfulness, their plots and the CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hmxai.explain.budget import ORDERINGS, bit_budget, budget_curves, channel_order, machine_human_split
from hmxai.explain.channels import channel_scores
from hmxai.explain.faithfulness import deletion_insertion, method_agreement
from hmxai.explain.spatial import where_bits_go


@pytest.fixture(scope="module")
def zoo():
    from hmxai.codecs import create_codec

    return create_codec("hmxai-msh", quality=2)


@pytest.fixture(scope="module")
def scores(zoo, small, lite0):
    return channel_scores(small, zoo, lite0, method="input-x-gradient")


def _fake(scores, machine, human, bits):
    n = len(bits)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return replace(scores, bits=t(bits), machine_logit=t(machine), human_mse=t(human),
                   live=torch.ones(n, dtype=torch.bool))


def test_bit_budget_rule_by_hand(scores):
    # machine: channel 0 holds 80 % of the positive importance; human: channels 1 and 2 hold 50 % + 40 %
    s = _fake(scores, machine=[8, 1, 1, 0, -5], human=[0, 5, 4, 1, 0], bits=[10, 20, 30, 40, 50])
    b = bit_budget(s, machine_coverage=0.8, human_coverage=0.8)
    assert b.classes == ("machine", "human", "human", "neither", "neither")
    assert b.bits.to_dict() == {"both": 0.0, "machine": 10.0, "human": 50.0, "neither": 90.0}
    assert sum(v for _, v in b.fractions.items()) == pytest.approx(1.0)
    b2 = bit_budget(s, machine_coverage=1.0, human_coverage=0.5)
    assert b2.classes == ("machine", "both", "machine", "neither", "neither")
    with pytest.raises(ValueError, match="coverage"):
        bit_budget(s, machine_coverage=0)


def test_orderings_and_split(scores):
    s = _fake(scores, machine=[1, 4, 2, 0], human=[3, 1, 2, 0], bits=[1, 8, 1, 1])
    assert channel_order(s, "machine").tolist() == [1, 2, 0, 3]
    assert channel_order(s, "machine-per-bit").tolist() == [2, 0, 1, 3]
    assert channel_order(s, "human").tolist() == [0, 2, 1, 3]
    assert channel_order(s, "bits").tolist()[0] == 1
    assert torch.equal(channel_order(s, "random", seed=3), channel_order(s, "random", seed=3))
    dead = replace(s, live=torch.tensor([True, False, True, True]))
    assert channel_order(dead, "random", seed=1).tolist()[-1] == 1  # dead channels go last
    assert sorted(channel_order(s, "random").tolist()) == [0, 1, 2, 3]
    split = machine_human_split(s, fraction=0.5)
    assert split.top_n == 2 and split.top_overlap == 0.5  # {1,2} vs {0,2}
    assert split.live_channels == 4 and split.to_dict()["top_overlap"] == 0.5


def test_budget_curves_end_points(zoo, small, lite0, scores):
    curves = budget_curves([small], zoo, lite0, labels=[281], points=4, progress=False)
    assert {c.ordering for c in curves.curves} == set(ORDERINGS)
    with torch.no_grad():
        agrees = float(lite0(zoo.analyze(small).x_hat).argmax() == lite0(small).argmax())
    full_psnr = None
    for c in curves.curves:
        assert c.ks[0] == 0 and c.ks[-1] == scores.num_channels
        assert c.estimated_bpp[-1] == pytest.approx(scores.estimated_bpp)  # all sent = the whole estimate
        full_psnr = full_psnr or c.psnr[-1]
        assert c.psnr[-1] == pytest.approx(full_psnr)  # every ordering ends at the same image
        assert c.agreement[-1] == agrees and c.accuracy is not None
    bits_curve = curves.curve("bits")
    order = torch.argsort(scores.bits, descending=True)
    for k, rate in zip(bits_curve.ks, bits_curve.estimated_bpp):  # rate of exactly the k costliest channels
        assert rate == pytest.approx((float(scores.bits[order[:k]].sum()) + scores.side_bits) / scores.num_pixels)
    assert curves.bd_of("random").bd_psnr_db == pytest.approx(0.0, abs=1e-9)
    json.dumps(curves.to_dict())


def test_deletion_insertion_end_points(zoo, small, lite0, scores):
    from hmxai.codecs import create_codec

    d = deletion_insertion(small, scores, zoo, lite0, points=5)
    base = scores.base_value("probability")
    assert d.deletion[0] == pytest.approx(base, rel=1e-5) and d.insertion[-1] == pytest.approx(base, rel=1e-5)
    assert d.deletion[-1] == pytest.approx(d.insertion[0], rel=1e-5)  # all removed, both ways
    assert d.random_deletion[0] == pytest.approx(base, rel=1e-5)
    h = deletion_insertion(small, scores, zoo, lite0, objective="human", points=3)
    assert h.deletion[0] > h.deletion[-1]  # removing every channel loses PSNR
    with pytest.raises(ValueError, match="computed with"):
        deletion_insertion(small, scores, create_codec("hmxai-msh", quality=3), lite0)
    with pytest.raises(ValueError, match="another image"):
        deletion_insertion(small.flip(-1), scores, zoo, lite0)


def test_spatial_maps(zoo, small, lite0):
    m = where_bits_go(small, zoo, lite0)
    latent = zoo.analyze(small)
    assert m.bits_y.shape == latent.y_hat.shape[-2:]
    assert float(m.bits_y.sum()) == pytest.approx(float(latent.latent_bits[0]))
    assert m.machine.shape == small.shape[-2:] and m.error.shape == small.shape[-2:]
    assert float(m.machine_on_grid.sum()) == pytest.approx(float(m.machine.abs().sum()), rel=1e-6)
    for i, j in ((0, 0), (1, 2), (3, 5)):  # 64x96 image: the cell (i, j) covers rows 16i.., columns 16j..
        block = m.machine.abs()[16 * i : 16 * i + 16, 16 * j : 16 * j + 16]
        assert float(m.machine_on_grid[i, j]) == pytest.approx(float(block.sum()), rel=1e-6)
    assert -1 <= m.agreement <= 1 and m.bits_z is not None


def test_spatial_maps_read_the_rung_they_are_given(zoo, small, lite0, monkeypatch):
    """Given the image's rung, where_bits_go reads its latent (no second analysis) and gives the maps
    it computes itself; another image's or another quality's rung is refused."""
    from hmxai.codecs import create_codec
    from hmxai.errors import InvalidArgumentError
    from hmxai.pipeline import decode

    rung = decode(small, zoo)
    own = where_bits_go(small, zoo, lite0)
    monkeypatch.setattr(type(zoo), "analyze", lambda *a, **k: pytest.fail("analysed the image again"))
    given = where_bits_go(small, zoo, lite0, latent=rung)
    assert torch.equal(given.bits_y, own.bits_y) and torch.allclose(given.machine, own.machine, atol=1e-6)
    assert torch.equal(given.x_hat, rung.latent.x_hat)
    with pytest.raises(InvalidArgumentError, match="image"):
        where_bits_go(small[..., :, :64], zoo, lite0, latent=rung)
    monkeypatch.undo()
    with pytest.raises(InvalidArgumentError, match="rung is"):
        where_bits_go(small, create_codec(zoo.name, quality=zoo.quality + 1), lite0, latent=rung)


@pytest.mark.slow
def test_method_agreement_reports_per_image(zoo, small, lite0):
    """Per image, the Spearman of the fast method's scores with ablation's over the live channels,
    computed here by hand from the two methods' own scores."""
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.common import spearman

    out = method_agreement([small, small.flip(-1)], zoo, lite0, methods=("input-x-gradient",), progress=False)
    row = out["input-x-gradient"]
    for i, x in enumerate((small, small.flip(-1))):
        ref = channel_scores(x, zoo, lite0, method="ablation")
        fast = channel_scores(x, zoo, lite0, method="input-x-gradient")
        assert row.machine[i] == pytest.approx(spearman(ref.machine[ref.live], fast.machine[ref.live]), abs=1e-9)
        assert row.human[i] == pytest.approx(spearman(ref.human[ref.live], fast.human[ref.live]), abs=1e-9)
    assert row.median_machine == pytest.approx(float(np.median(row.machine)))
    assert len(out.reference_seconds) == 2 and out.reference == "ablation"
    assert json.loads(json.dumps(out.to_dict()))["rows"][0]["method"] == "input-x-gradient"


def test_plots_return_figures(zoo, small, lite0, scores):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from hmxai.plots import channels as p

    budget = bit_budget(scores)
    curves = budget_curves([small], zoo, lite0, points=3, orderings=("machine", "random"), progress=False)
    figs = [p.plot_channel_scores(scores, budget), p.plot_bit_budget(budget),
            p.plot_spatial(where_bits_go(small, zoo, lite0)), p.plot_budget_curves(curves),
            p.plot_deletion_insertion(deletion_insertion(small, scores, zoo, lite0, points=3))]
    for fig in figs:
        assert type(fig) is Figure
        plt.close(fig)


def test_cli_channels_json(tmp_path, small):
    from hmxai.cli import main
    from hmxai.images import to_pil

    path = tmp_path / "crop.png"
    to_pil(small).save(path)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["channels", str(path), "--quality", "1", "--method", "input-x-gradient", "--spatial",
                   "--figures", str(tmp_path / "figs"), "--json"])
    assert rc == 0
    out = json.loads(buf.getvalue())["images"][0]
    from hmxai.codecs import DEFAULT_LEARNED_CODEC, create_codec

    assert len(out["scores"]["channels"]["bits"]) == create_codec(DEFAULT_LEARNED_CODEC, quality=1).model.M
    assert set(out["budget"]["fractions"]) == {"both", "machine", "human", "neither"}
    assert "bits_vs_machine_spearman" in out["spatial"]
    assert (tmp_path / "figs" / "channels.pdf").stat().st_size > 0
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["channels", str(path), "--codec", "jpeg", "--json"])
    assert rc == 2 and "no latent" in json.loads(buf.getvalue())["error"]
