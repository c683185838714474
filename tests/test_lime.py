"""LIME across a ladder: equal to stock LIME, seeded bit for bit, one segmentation and one mask set."""

import numpy as np
import pytest
import torch

from hmxai.explain.lime import SEGMENTATIONS, explain_lime, sample_masks, segment, superpixel_fill
from pixel_models import SIDE, hooks, image, ladder, ladder_of, quadrant_task, task  # noqa: F401 (fixtures)


def test_equals_stock_lime(task, ladder):
    """Same segmentation, same seed: our weights are stock lime_image's weights (to float rounding)."""
    from lime.lime_image import LimeImageExplainer

    ours = explain_lime(ladder, task, num_samples=150, seed=3, progress=False)
    segments = ours.segments.numpy()

    def classifier(batch):  # what stock LIME calls: (b, H, W, 3) float64 -> probabilities
        with torch.no_grad():
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
            return torch.softmax(task(x), dim=-1).double().numpy()

    for row in range(len(ladder)):
        img = ladder.images[row].permute(1, 2, 0).double().numpy()
        stock = LimeImageExplainer(random_state=3).explain_instance(
            img, classifier, labels=(ours.target,), top_labels=None, num_samples=150, random_seed=0,
            segmentation_fn=lambda _: segments)
        w = np.zeros(ours.weights.shape[1])
        for feature, value in stock.local_exp[ours.target]:
            w[feature] = value
        np.testing.assert_allclose(ours.weights[row].numpy(), w, rtol=1e-4, atol=1e-6)
        assert ours.intercepts[row] == pytest.approx(stock.intercept[ours.target], abs=1e-6)


def test_same_seed_identical_other_seed_same_segmentation(task, ladder):
    a = explain_lime(ladder, task, num_samples=64, seed=7, progress=False)
    b = explain_lime(ladder, task, num_samples=64, seed=7, progress=False)
    c = explain_lime(ladder, task, num_samples=64, seed=8, progress=False)
    assert torch.equal(a.weights, b.weights) and torch.equal(a.maps, b.maps)
    assert torch.equal(a.segments, c.segments)
    assert not torch.equal(a.weights, c.weights)
    assert not np.array_equal(sample_masks(64, a.weights.shape[1], 7), sample_masks(64, a.weights.shape[1], 8))


def test_rows_share_segmentation_and_masks(task):
    """Two identical rows get identical weights: nothing but the image differs between rows."""
    x = image(2)
    ladder = ladder_of(task, torch.cat([x, x, x.flip(-2)]))
    e = explain_lime(ladder, task, num_samples=64, seed=0, progress=False)
    assert torch.equal(e.weights[0], e.weights[1])
    assert not torch.equal(e.weights[0], e.weights[2])
    assert torch.equal(e.maps[1], e.weights[1][e.segments].float())


def test_lights_the_quadrant(task):
    """Switching a superpixel off (grey 0) only matters inside the top-right quadrant."""
    x = image(1)
    ladder = ladder_of(task, x)
    e = explain_lime(ladder, task, target=1, num_samples=300, seed=0, fill=0.0, segmentation="slic",
                     segmentation_params={"n_segments": 16, "compactness": 30}, progress=False)
    h = SIDE // 2
    share = torch.tensor([float((e.segments == s)[:h, h:].sum() / (e.segments == s).sum())
                          for s in range(e.weights.shape[1])])
    inside, outside = share > 0.9, share == 0
    w = e.weights[0]
    assert inside.sum() >= 2 and outside.sum() >= 2
    assert float(w[inside].min()) > 5 * float(w[outside].abs().max())
    assert all(share[s] > 0.5 for s in e.top_superpixels(0, k=int(inside.sum())))


@pytest.mark.parametrize("method", SEGMENTATIONS.names())
def test_segmentations_are_deterministic_and_contiguous(method):
    x = image(5)
    a, b = segment(x, method), segment(x, method)
    assert torch.equal(a, b) and a.shape == (SIDE, SIDE) and a.dtype == torch.int64
    assert torch.equal(torch.unique(a), torch.arange(int(a.max()) + 1))


def test_fill_is_each_superpixels_mean():
    x = image(6)
    seg = segment(x, "slic")
    fill = superpixel_fill(x, seg)
    for s in (0, int(seg.max())):
        m = seg == s
        torch.testing.assert_close(fill[:, m], x[0][:, m].mean(dim=1, keepdim=True).expand(3, int(m.sum())))
    assert torch.equal(superpixel_fill(x, seg, 0.25), torch.full_like(x[0], 0.25))


class FailOnBatch(torch.nn.Module):
    """Lets single images through (the ladder, the probe) and fails on LIME's batches."""

    def forward(self, x):
        if x.shape[0] > 1:
            raise RuntimeError("no batch, please")
        return x


def failing_task():
    t = quadrant_task()
    t.net = torch.nn.Sequential(FailOnBatch(), *t.net)
    return t


def test_model_untouched_also_after_an_exception(task, ladder):
    task.train()
    before = {k: v.clone() for k, v in task.state_dict().items()}
    try:
        explain_lime(ladder, task, num_samples=16, progress=False)
        assert task.training and hooks(task) == 0
        with pytest.raises(ValueError, match="num_samples"):
            explain_lime(ladder, task, num_samples=1)
    finally:
        task.eval()
    assert all(torch.equal(before[k], v) for k, v in task.state_dict().items()) and hooks(task) == 0
    bad = failing_task()
    bad_ladder = ladder_of(bad, ladder.images[:1])
    bad.train()
    bad_before = {k: v.clone() for k, v in bad.state_dict().items()}
    with pytest.raises(RuntimeError):
        explain_lime(bad_ladder, bad, num_samples=16, progress=False, target=1)
    assert bad.training and hooks(bad) == 0
    assert all(torch.equal(bad_before[k], v) for k, v in bad.state_dict().items())


def test_bad_arguments(task, ladder):
    with pytest.raises(ValueError, match="precision"):
        explain_lime(ladder, task, precision="float16")
    with pytest.raises(ValueError, match="fill"):
        explain_lime(ladder, task, fill=2.0)
    with pytest.raises(ValueError, match="target"):
        explain_lime(ladder, task, target=3)
    with pytest.raises(KeyError):
        explain_lime(ladder, task, segmentation="watershed")


def test_bfloat16_runs_and_is_close(task, ladder):
    a = explain_lime(ladder, task, num_samples=64, progress=False)
    b = explain_lime(ladder, task, num_samples=64, precision="bfloat16", progress=False)
    assert b.weights.shape == a.weights.shape and torch.isfinite(b.weights).all()
    assert dict(b.params)["precision"] == "bfloat16"


def test_workers_do_not_change_the_weights_and_threads_are_restored(task, ladder):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # so that restoring is visible even where torch starts with one thread
    one = explain_lime(ladder, task, num_samples=40, workers=1, batch_size=3, progress=False)
    two = explain_lime(ladder, task, num_samples=40, workers=2, batch_size=3, progress=False)
    assert torch.equal(one.weights, two.weights) and torch.get_num_threads() == 2
    bad = failing_task()
    bad_ladder = ladder_of(bad, ladder.images[:1])
    with pytest.raises(RuntimeError, match="batch"):
        explain_lime(bad_ladder, bad, num_samples=16, workers=2, progress=False, target=1)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(threads)


class Stateful(torch.nn.Module):
    """Keeps a membrane-like state on the module during a call (as spiking neurons do)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.mem = None

    def forward(self, x):
        self.mem = torch.zeros_like(x)
        for _ in range(4):
            self.mem = 0.5 * self.mem + self.conv(x)
        return self.mem.mean((2, 3))


def test_stateful_task_gets_one_copy_per_worker():
    from hmxai.tasks.base import wrap_task

    torch.manual_seed(0)
    task = wrap_task(Stateful(), num_classes=3, name="stateful")
    ladder = ladder_of(task, image(3))
    # fold=False: the copies are the module itself (with its state attribute), not a traced graph
    one = explain_lime(ladder, task, num_samples=48, workers=1, batch_size=2, fold=False, progress=False)
    two = explain_lime(ladder, task, num_samples=48, workers=2, batch_size=2, fold=False, progress=False)
    assert torch.equal(one.weights, two.weights)
    assert task.net.mem is not None and task.net.mem.shape[0] == 1  # only the ladder's own call touched it
