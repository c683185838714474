"""The explorer's compute side: views from real bytes, channel budgets, the cache, the images it sends."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from hmxai.explore.cache import ByteLRU
from hmxai.explore.engine import ExplorerEngine, _bit_cells, _cells_to_pixels, methods
from hmxai.explore.render import _lut, colorize, overlay, png
from hmxai.scales import BITS_SCALE

CODEC = "hmxai-msh"


@pytest.fixture(scope="module")
def image():
    from hmxai.samples import sample_image
    from hmxai.images import fit_within as fit

    return fit(sample_image("chelsea"), 96)  # (1, 3, 64, 96)


@pytest.fixture(scope="module")
def task():
    from hmxai.tasks import create_task

    return create_task("efficientnet-lite0")


@pytest.fixture(scope="module")
def engine(image, task):
    return ExplorerEngine(image, task, codecs=[CODEC, "jpeg"], qualities={"jpeg": [10, 50]}, cache=ByteLRU())


def test_full_view_is_the_pipeline_on_real_bytes(engine, image, task):
    from hmxai.pipeline import run_pipeline

    view = engine.view(CODEC, 3)
    ref = run_pipeline(image, CODEC, task, quality=3)
    assert view.measured_bpp == ref.measured_bpp
    assert view.estimated_bpp == pytest.approx(ref.estimated_bpp, rel=1e-6)  # bits kept in float32
    assert view.psnr == pytest.approx(ref.psnr, abs=1e-4)
    assert view.ms_ssim == pytest.approx(ref.ms_ssim, abs=1e-4)
    assert view.decoded.indices == ref.decoded.indices
    assert view.original.indices == ref.original.indices
    assert view.kept is None and view.channels_kept == view.num_channels == 96
    from PIL import Image

    images = engine.images(view)
    assert engine.images(view) is images  # rendered once, cached beside the view
    decoded = np.asarray(Image.open(io.BytesIO(images.decoded)))
    assert decoded.shape == (64, 96, 3) and np.array_equal(decoded, view.decoded_image)
    # the bit map travels at one pixel per latent cell: its colours are the cells' values
    cells = np.asarray(Image.open(io.BytesIO(images.bitmap)))
    assert images.bitmap_cell == 16 and cells.shape == (4, 6, 3)
    np.testing.assert_array_equal(cells, colorize(view.bitmap[::16, ::16], 0.0, BITS_SCALE, "viridis"))
    assert np.array_equal(np.repeat(np.repeat(view.bitmap[::16, ::16], 16, 0), 16, 1), view.bitmap)


def test_classical_view_has_no_latent(engine):
    view = engine.view("jpeg", 10)
    assert view.estimated_bpp is None and view.bitmap is None and engine.images(view).bitmap is None
    assert view.num_channels is None and view.channel_bits is None and view.channels_kept is None
    assert engine.view("jpeg", 50).measured_bpp > view.measured_bpp
    with pytest.raises(ValueError, match="classical"):
        engine.kept("jpeg", 10, 5)
    with pytest.raises(ValueError, match="classical"):
        engine.view("jpeg", 10, kept=[0, 1])


def test_channel_budget_rate_by_hand(engine):
    """Estimated bpp = bits of the kept channels + side bits, per pixel; the bit map holds the kept bits."""
    r = engine.rung(CODEC, 3)
    kept = engine.kept(CODEC, 3, 10, "bits")
    view = engine.view(CODEC, 3, kept)
    bits = r.bits.double()
    side = float(r.latent.side_bits[0])
    assert view.estimated_bpp == pytest.approx((float(bits[list(kept)].sum()) + side) / (64 * 96), rel=1e-9)
    cell = r.latent.padded_size[0] // bits.shape[1]
    per_cell = view.bitmap[::cell, ::cell] * cell * cell
    expected = bits[list(kept)].sum(0)[: per_cell.shape[0], : per_cell.shape[1]].numpy()
    np.testing.assert_allclose(per_cell, expected, rtol=1e-5)
    none = engine.view(CODEC, 3, ())
    assert none.estimated_bpp == pytest.approx(side / (64 * 96))
    assert none.bitmap.max() == 0


def test_measured_stream_of_a_budget_decodes_to_the_view(engine):
    r = engine.rung(CODEC, 3)
    kept = engine.kept(CODEC, 3, 20, "bits")
    keep = torch.zeros(96, dtype=torch.bool)
    keep[list(kept)] = True
    y = torch.where(keep.view(1, -1, 1, 1), r.latent.y_hat, r.baseline)
    encoded = r.codec.compress_latent(y, r.latent, r.encoded)
    y_back, x_back = r.codec.decode_latent(encoded)
    assert torch.equal(y_back, y)
    view = engine.view(CODEC, 3, kept)
    assert view.measured_bpp == encoded.measured_bpp
    assert np.abs((x_back[0].permute(1, 2, 0).numpy() * 255) - view.decoded_image).max() <= 0.5 + 1e-3
    # all channels kept: exactly the codec's own stream
    full = r.codec.compress_latent(r.latent.y_hat, r.latent, r.encoded)
    assert full.payload == r.encoded.payload


@pytest.mark.parametrize("arch", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean"])
def test_compress_latent_for_every_non_autoregressive_family(arch, image):
    from hmxai.codecs import create_codec
    from hmxai.explain.objective import ablation_values

    codec = create_codec(arch, quality=1)  # seeded random init: a contract test
    x = image[..., :64, :64]
    latent = codec.analyze(x)
    encoded = codec.compress(x)
    assert codec.compress_latent(latent.y_hat, latent, encoded).payload == encoded.payload
    base = ablation_values(codec, latent)
    keep = torch.arange(latent.y_hat.shape[1]) % 3 == 0
    y = torch.where(keep.view(1, -1, 1, 1), latent.y_hat, base)
    back, _ = codec.decode_latent(codec.compress_latent(y, latent, encoded))
    assert torch.allclose(back, y, atol=1e-5)


def test_autoregressive_codec_refuses_a_changed_latent(image):
    from hmxai.codecs import create_codec

    codec = create_codec("mbt2018", quality=1)
    x = image[..., :64, :64]
    latent, encoded = codec.analyze(x), codec.compress(x)
    with pytest.raises(ValueError, match="autoregressive"):
        codec.compress_latent(latent.y_hat, latent, encoded)


def test_kept_follows_the_ordering_and_toggles(engine):
    order = engine.order(CODEC, 3, "machine")
    assert sorted(order) == list(range(96))
    assert engine.kept(CODEC, 3, 5, "machine") == tuple(sorted(order[:5]))
    assert engine.kept(CODEC, 3, 5, "machine", toggled=[order[0], order[50]]) == tuple(sorted(order[1:5] + (order[50],)))
    assert engine.kept(CODEC, 3, None) is None and engine.kept(CODEC, 3, 96) is None
    assert engine.kept(CODEC, 3, None, toggled=[7]) == tuple(c for c in range(96) if c != 7)
    for bad in (dict(budget=97), dict(budget=-1), dict(toggled=[96])):
        with pytest.raises(ValueError):
            engine.kept(CODEC, 3, **bad)


def test_dropping_a_live_channel_changes_the_decoded_image(engine):
    r = engine.rung(CODEC, 3)
    costly = int(r.bits.sum(dim=(1, 2)).argmax())
    full = engine.view(CODEC, 3)
    view = engine.view(CODEC, 3, engine.kept(CODEC, 3, None, toggled=[costly]))
    assert view.channels_kept == 95 and costly not in view.kept
    assert not np.array_equal(view.decoded_image, full.decoded_image)
    assert view.estimated_bpp < full.estimated_bpp


def test_explanation_and_predictions_match_direct_calls(engine, task):
    """The CAM shown equals cam_maps on the decoded image; the top-5 equal task.predict on it; the
    view with an explanation is the view without one plus the map."""
    from hmxai.explain.cam import cam_maps

    r = engine.rung(CODEC, 2)
    for method in ("grad-cam", "hires-cam"):
        view = engine.view(CODEC, 2, None, method)
        np.testing.assert_allclose(view.explanation, cam_maps(task, r.x_hat, view.target, method)[0].numpy(),
                                   rtol=1e-4, atol=1e-6)
        assert view.decoded.indices == task.predict(r.x_hat)[0].indices
        assert engine.images(view).overlay[:8] == b"\x89PNG\r\n\x1a\n"
        bare = engine.view(CODEC, 2, None, "none")
        assert engine.images(bare).overlay is None and bare.explanation is None
        assert engine.images(bare).decoded == engine.images(view).decoded
        assert bare.to_dict() == {**view.to_dict(), "method": "none"}
    with pytest.raises(ValueError, match="method"):
        engine.view(CODEC, 2, None, "saliency")
    from hmxai.explain.pixels import PIXEL_METHODS

    assert set(methods()) == set(PIXEL_METHODS.names()) | {"none"} == {"grad-cam", "hires-cam", "lime", "none"}
    alias = engine.view(CODEC, 2, None, "gradcam")  # the command line's spelling, as explain_pixels takes it
    assert alias.method == "grad-cam" and alias is engine.view(CODEC, 2, None, "grad-cam")


def test_lime_view_on_demand(image, task):
    engine = ExplorerEngine(image, task, codecs=[CODEC], lime_samples=20, cache=ByteLRU())
    view = engine.view(CODEC, 1, None, "lime")
    assert view.explanation.shape == (64, 96) and np.isfinite(view.explanation).all()
    assert np.abs(view.explanation).max() > 0


def test_second_engine_on_the_same_image_reuses_the_cache(image, task, monkeypatch):
    cache = ByteLRU()
    first = ExplorerEngine(image, task, codecs=[CODEC], cache=cache)
    view = first.view(CODEC, 1)
    second = ExplorerEngine(image.clone(), task, codecs=[CODEC], cache=cache)
    monkeypatch.setattr(ExplorerEngine, "_view", lambda *a: pytest.fail("recomputed a cached view"))
    assert second.view(CODEC, 1) is view
    other = ExplorerEngine(image.flip(-1), task, codecs=[CODEC], cache=cache)
    assert other.peek(CODEC, 1) is None  # another image, another key


def test_settings_that_change_results_are_part_of_the_cache_key(image, task):
    cache = ByteLRU()
    fast = ExplorerEngine(image, task, codecs=[CODEC], cache=cache)
    exact = ExplorerEngine(image, task, codecs=[CODEC], channel_method="ablation", cache=cache)
    a = fast.view(CODEC, 1, None, "none")
    assert a.scores_method == "input-x-gradient" and fast.rung(CODEC, 1).scores.method == "input-x-gradient"
    b = exact.view(CODEC, 1, None, "none")
    assert a is not b and a.machine != b.machine and np.array_equal(a.decoded_image, b.decoded_image)
    assert b.scores_method == "ablation" and exact.rung(CODEC, 1).scores.method == "ablation"
    # exact scores, once computed, are what every engine on this image shows (better, and labelled)
    assert fast.view(CODEC, 1, None, "none").scores_method == "ablation"
    from hmxai.fingerprint import fingerprint

    assert fingerprint(torch.zeros(1, 3, 4, 8)) != fingerprint(torch.zeros(1, 3, 8, 4))


def test_engine_works_on_a_private_copy_of_the_task(image, task):
    def hook(*_):
        raise AssertionError("the explorer ran the user's model")

    handle = task.net.register_forward_hook(hook)
    try:
        engine = ExplorerEngine(image, task, codecs=["jpeg"], cache=ByteLRU())
    except AssertionError:  # the original prediction is made on the copy too
        pytest.fail("the engine called the user's model")
    finally:
        handle.remove()
    assert engine.task is not task and engine.view("jpeg", 10, None, "grad-cam").explanation is not None


def test_engine_refuses_bad_input(image, task):
    with pytest.raises(ValueError, match="batch|one image"):
        ExplorerEngine(torch.cat([image, image]), task)
    with pytest.raises(Exception, match="codec"):
        ExplorerEngine(image, task, codecs=["no-such-codec"])
    with pytest.raises(ValueError, match="qualities"):
        ExplorerEngine(image, task, codecs=["jpeg"], qualities={"webp": [10]})
    engine = ExplorerEngine(image, task, codecs=["jpeg"], cache=ByteLRU())
    with pytest.raises(ValueError, match="not on the ladder"):
        engine.view("jpeg", 11)
    with pytest.raises(ValueError, match="not offered"):
        engine.view("webp", 10)
    with pytest.raises(ValueError, match="NaN|finite|nan"):
        ExplorerEngine(torch.full((1, 3, 32, 32), float("nan")), task)


def test_byte_lru_evicts_least_recently_used():
    class Blob:
        def __init__(self, n):
            self.nbytes = n

    cache = ByteLRU(limit_bytes=100)
    cache.put("a", Blob(40))
    cache.put("b", Blob(40))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", Blob(40))
    assert "b" not in cache and "a" in cache and "c" in cache and cache.nbytes == 80
    calls = []
    assert cache.get_or_compute("d", lambda: calls.append(1) or Blob(10)).nbytes == 10
    cache.get_or_compute("d", lambda: calls.append(1) or Blob(10))
    assert calls == [1]
    with pytest.raises(ValueError):
        ByteLRU(0)


def test_colour_scales_are_fixed_and_pngs_lossless():
    from PIL import Image

    values = np.array([[-1.0, 0.0, 0.075, 0.15, 9.0, np.nan]], dtype=np.float32)
    rgb = colorize(values, 0.0, 0.15, "magma")
    lut = _lut("magma")[:, :3]
    assert (rgb[0, 0] == lut[0]).all() and (rgb[0, 1] == lut[0]).all() and (rgb[0, 5] == lut[0]).all()
    assert (rgb[0, 3] == lut[255]).all() and (rgb[0, 4] == lut[255]).all()
    assert (rgb[0, 2] == lut[127]).all()
    arr = (np.arange(48 * 3).reshape(4, 12, 3) % 256).astype(np.uint8)
    for level in (0, 1):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png(arr, level)))), arr)
    with pytest.raises(ValueError):
        png(arr.astype(np.float32))
    signed = np.array([[1.0, -0.5], [0.0, 0.25]])
    rgba = overlay(signed)
    scale = np.percentile([1.0, 0.5, 0.25], 99)  # the documented drawing scale: p99 of |map| where seen
    for (i, j), v in {(0, 0): 1.0, (0, 1): -0.5, (1, 1): 0.25}.items():
        t = min(abs(v) / scale, 1.0)
        assert rgba[i, j, 3] == np.uint8(np.clip((0.40 + 0.50 * t ** 0.8) * 255, 0, 255))
        lut, pos = (_lut("inferno"), 0.12 + 0.88 * t) if v > 0 else (_lut("viridis"), 0.45 - 0.45 * t)
        assert (rgba[i, j, :3] == lut[int(pos * 255)][:3]).all()
    assert rgba[1, 0, 3] == 0  # never seen by the network: left clear
    one_spike = np.ones((20, 20))
    one_spike[0, 0] = 1000.0  # one extreme pixel does not wash the rest of the map out
    assert overlay(one_spike)[5, 5, 3] == np.uint8((0.40 + 0.50) * 255)
    assert overlay(np.zeros((3, 3))) is None


def test_bit_density_covers_the_image_exactly():
    bits = torch.arange(2 * 2 * 3, dtype=torch.float32).view(2, 2, 3)
    keep = torch.tensor([True, False])
    cells, cell = _bit_cells(bits, keep, (32, 48), (20, 40))
    assert cell == 16 and cells.shape == (2, 3)  # every cell that touches the image
    d = _cells_to_pixels(cells, cell, (20, 40))
    assert d.shape == (20, 40)
    assert d[0, 0] * 256 == bits[0, 0, 0] and d[19, 39] * 256 == bits[0, 1, 2]


def test_variable_rate_codec_slides_over_its_continuous_quality(image, task):
    """hmxai-vbr: the ladder is the continuous range in steps of 0.25; a fractional rung is the
    codec's own stream at that quality, and a channel budget is coded for real at it."""
    from hmxai.codecs import create_codec

    engine = ExplorerEngine(image, task, codecs=["hmxai-vbr"], cache=ByteLRU())
    ladder = engine.qualities("hmxai-vbr")
    assert ladder[0] == 1 and ladder[-1] == 6 and len(ladder) == 21 and 2.75 in ladder
    assert all(type(q) is int for q in ladder if float(q).is_integer())
    view = engine.view("hmxai-vbr", 2.75)
    own = create_codec("hmxai-vbr", quality=2.75).compress(image)
    assert view.quality == 2.75 and view.measured_bpp == own.measured_bpp
    assert engine.view("hmxai-vbr", 4.25).measured_bpp > view.measured_bpp
    r = engine.rung("hmxai-vbr", 2.75)
    kept = engine.kept("hmxai-vbr", 2.75, 30, "bits")
    keep = torch.zeros(r.latent.y_hat.shape[1], dtype=torch.bool)
    keep[list(kept)] = True
    y = torch.where(keep.view(1, -1, 1, 1), r.latent.y_hat, r.baseline)
    encoded = r.codec.compress_latent(y, r.latent, r.encoded)
    assert torch.equal(r.codec.decode_latent(encoded)[0], y)
    assert engine.view("hmxai-vbr", 2.75, kept).measured_bpp == encoded.measured_bpp
    with pytest.raises(ValueError, match="not on the ladder"):
        engine.view("hmxai-vbr", 2.8)


def test_codec_objects_belong_to_the_engine(image, task):
    """Each engine makes its own codec objects, once; a variable-rate codec's qualities share one model."""
    a = ExplorerEngine(image, task, codecs=["hmxai-vbr", "jpeg"], cache=ByteLRU())
    b = ExplorerEngine(image, task, codecs=["hmxai-vbr", "jpeg"], cache=ByteLRU())
    assert a._codec("jpeg", 10) is a._codec("jpeg", 10) and a._codec("jpeg", 10) is not b._codec("jpeg", 10)
    q2, q3 = a._codec("hmxai-vbr", 2.5), a._codec("hmxai-vbr", 3)
    assert q2.model is q3.model and (q2.quality, q3.quality) == (2.5, 3)
    assert q2.compress(image).payload == __import__("hmxai").create_codec("hmxai-vbr", quality=2.5).compress(image).payload


def test_exact_scores_replace_the_fast_ones_piece_by_piece(image, task):
    """Refining a rung chunk by chunk: the fast scores until the 32 channels they rank highest are
    exact, then ``refined`` scores (those exact, the others estimated), then exact ablation (one
    channel_scores call on all channels, to float rounding). Bars, orderings and budgets follow."""
    from hmxai.explain.channels import channel_scores
    from hmxai.explore.engine import REFINED_TOP

    engine = ExplorerEngine(image, task, codecs=[CODEC], cache=ByteLRU())
    fast = engine.view(CODEC, 2, None, "none")
    assert fast.scores_method == "input-x-gradient" and engine.scores_method(CODEC, 2) == "input-x-gradient"
    fast_order = engine.order(CODEC, 2, "machine")
    chunks = engine.exact_chunks(CODEC, 2, size=8)
    fast_scores = engine.rung(CODEC, 2).scores
    live = fast_scores.live
    assert sorted(c for ch in chunks for c in ch) == live.nonzero().flatten().tolist()
    flat = [c for ch in chunks for c in ch]
    assert [abs(fast_scores.machine[c]) for c in flat] == sorted((abs(fast_scores.machine[c]) for c in flat), reverse=True)
    reference = channel_scores(image, engine._codec(CODEC, 2), task, method="ablation")
    head = REFINED_TOP // 8
    for i, chunk in enumerate(chunks):
        assert engine.refine_progress(CODEC, 2) == (i, len(chunks))
        assert engine.refine(CODEC, 2, chunk) == (i == len(chunks) - 1)
        shown = engine.view(CODEC, 2, None, "none")
        if i < head - 1:
            assert shown.scores_method == "input-x-gradient"
        elif i < len(chunks) - 1:
            assert shown.scores_method == "refined"
            top = flat[:REFINED_TOP]
            np.testing.assert_allclose(np.array(shown.machine)[top], reference.machine.float().numpy()[top],
                                       rtol=1e-4, atol=1e-5)
            rest = flat[REFINED_TOP:]
            assert np.array_equal(np.array(shown.machine)[rest], fast_scores.machine.float().numpy()[rest])
    assert engine.refine_progress(CODEC, 2) == (len(chunks), len(chunks))
    view = engine.view(CODEC, 2, None, "none")
    assert view.scores_method == "ablation" and np.array_equal(view.decoded_image, fast.decoded_image)
    np.testing.assert_allclose(view.machine, reference.machine.float().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(view.human, reference.human.float().numpy(), rtol=1e-4, atol=1e-9)
    exact_order = engine.order(CODEC, 2, "machine")
    assert set(exact_order[:5]) == set(reference.machine.argsort(descending=True)[:5].tolist())
    assert exact_order != fast_order  # the fast estimate ranks channels differently on this image
    assert engine.kept(CODEC, 2, 10, "machine") == tuple(sorted(exact_order[:10]))
    assert engine.refine(CODEC, 2, chunks[0]) is True  # nothing left to do
