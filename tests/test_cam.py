"""CAMs across a rate ladder: a model whose answer is known, one batched pass, no hooks left."""

import pytest
import torch
from torch import nn

from hmxai.explain.cam import CAM_METHODS, cam_maps, explain_cam, topk_mask
from hmxai.explain.ladder import rate_ladder
from hmxai.explain.pixels import drift
from hmxai.tasks.base import wrap_task
from pixel_models import quadrant_task as pixel_quadrant_task

SIDE = 64


def quadrant_task():
    """Sees only the top-right quadrant (tests/pixel_models.py), no batch norm; layer "2" is its ReLU."""
    return pixel_quadrant_task(batch_norm=False)


@pytest.mark.parametrize("method", CAM_METHODS.names())
def test_cam_lights_the_quadrant_the_model_looks_at(method):
    task = quadrant_task()
    x = torch.rand(2, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    maps = cam_maps(task, x, target=1, method=method)
    assert maps.shape == (2, SIDE, SIDE)
    pos = maps.clamp(min=0)
    h = SIDE // 2
    inside = pos[:, : h - 2, h + 2 :].sum()  # away from the bilinear border of the quadrant
    outside = pos[:, h + 2 :, :].sum() + pos[:, :, : h - 2].sum()
    assert float(inside) > 0 and float(outside) < 1e-3 * float(inside)
    top = topk_mask(pos[0], 0.1)
    assert top[: h + 2, h - 2 :].sum() == top.sum()  # the brightest 10 % lie in the quadrant


def test_batched_equals_one_by_one_and_no_hooks(small, lite0):
    x = torch.cat([small, small.flip(-1)])
    before = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in lite0.modules())
    lite0.train()
    try:
        both = cam_maps(lite0, x, target=281)
        assert lite0.training
    finally:
        lite0.eval()
    one = cam_maps(lite0, x[1:], target=281)
    torch.testing.assert_close(both[1], one[0], rtol=1e-4, atol=1e-6)
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in lite0.modules()) == before
    with pytest.raises(Exception):
        cam_maps(lite0, x[:, :2], target=281)  # two colour channels: the network fails inside captum
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in lite0.modules()) == before


def test_ladder_drift(small, lite0):
    ladder = rate_ladder(small, "jpeg", [5, 90], lite0)
    cam = explain_cam(ladder, lite0)
    assert cam.maps.shape == (3,) + tuple(small.shape[-2:])
    assert cam.target == ladder.predictions[0].indices[0]
    rows = drift(ladder, cam)
    assert [d.quality for d in rows] == [5, 90]
    assert rows[1].spearman > rows[0].spearman - 0.2  # q90 is close to the original
    assert 0 <= rows[0].top_iou <= 1 and cam.shared_scale() > 0
    assert ladder.measured_bpp[0] < ladder.measured_bpp[1] and ladder.psnr[0] < ladder.psnr[1]
    with pytest.raises(ValueError, match="no target layer"):
        cam_maps(wrap_task(nn.Flatten(), num_classes=3), small, 0)


def test_maps_follow_the_tasks_resize_and_crop():
    """A task that resizes (short side 40) and center-crops (32): the map lands where the crop's
    top-right quadrant lies in the 64x96 image, and is 0 where the network saw nothing."""
    base = quadrant_task()
    task = wrap_task(base.net, num_classes=3, target_layer="2", resize=40, input_size=32)
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    (size, top, left) = task.crop_geometry(64, 96)
    assert size == (40, 60) and (top, left) == (4, 14)
    maps = cam_maps(task, x, target=1)[0].clamp(min=0)
    # the crop spans rows 6.4..57.6 and columns 22.4..73.6 of the image; its top-right quadrant
    # rows 6.4..32 and columns 48..73.6
    assert float(maps[:, :18].sum()) < 1e-6 * float(maps.sum())  # left of the crop
    assert float(maps[:, 78:].sum()) < 1e-6 * float(maps.sum())  # right of the crop
    assert float(maps[36:].sum()) < 1e-3 * float(maps.sum())      # below the quadrant
    rows = (maps.sum(1) > 1e-6 * maps.sum()).nonzero().flatten()
    cols = (maps.sum(0) > 1e-6 * maps.sum()).nonzero().flatten()
    assert 5 <= int(rows[0]) <= 8 and 31 <= int(rows[-1]) <= 34  # quadrant rows 6.4..32 (+ bilinear edge)
    assert 45 <= int(cols[0]) <= 49 and 72 <= int(cols[-1]) <= 75  # quadrant columns 48..73.6
