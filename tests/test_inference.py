"""The inference copy: same outputs as the task, batch norm folded, the user's model untouched."""

import copy

import torch
from torch import nn

from hmxai.explain.inference import fold_network, inference_copy
from hmxai.tasks.base import wrap_task
from pixel_models import quadrant_task


def count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def test_lite0_copy_is_exact_and_folded(lite0):
    before = {k: v.clone() for k, v in lite0.state_dict().items()}
    fast = inference_copy(lite0)
    assert count(fast, nn.BatchNorm2d) == 0 and count(lite0, nn.BatchNorm2d) == 49
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(torch.softmax(fast(x), -1), torch.softmax(lite0(x), -1), atol=2e-6, rtol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in lite0.state_dict().items())
    assert all(p.requires_grad for p in lite0.parameters()) and not lite0.training


def test_folding_a_conv_bn_stack_by_hand():
    net = quadrant_task(batch_norm=True).net[1:].eval()  # conv, BN, ReLU, pool, linear (the quadrant mask is untraceable)
    folded = fold_network(copy.deepcopy(net).eval())
    assert count(folded, nn.BatchNorm2d) == 0 and count(net, nn.BatchNorm2d) == 1
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=1e-5)


class Shared(nn.Module):
    """One conv called twice, then one batch norm: folding it would change the first call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(self.conv(x))).mean((2, 3))


class Loop(nn.Module):
    """Data-dependent control flow: fx cannot trace it; the copy keeps its layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        for _ in range(int(x.shape[0])):
            if x.sum() > 0:
                x = self.bn(self.conv(x))
        return x.mean((2, 3))


def test_unsafe_or_untraceable_networks_stay_exact():
    x = torch.rand(2, 3, 8, 8)
    for net in (Shared(), Loop()):
        with torch.no_grad():
            net.bn.running_mean.uniform_(-1, 1)
        task = wrap_task(net.eval(), num_classes=3)
        fast = inference_copy(task)
        assert count(fast, nn.BatchNorm2d) == 1
        with torch.no_grad():
            torch.testing.assert_close(fast(x), task(x), atol=1e-6, rtol=1e-5)


class BatchNormAct(nn.BatchNorm2d):
    """A batch-norm subclass that does more (as timm's BatchNormAct2d): must not be folded."""

    def forward(self, x):
        return torch.relu(super().forward(x)) * 2


class StdConv(nn.Conv2d):
    """A convolution subclass that transforms its weights: must not be folded into."""

    def forward(self, x):
        w = (self.weight - self.weight.mean()) / (self.weight.std() + 1e-5)
        return nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


def test_only_plain_eval_batch_norm_after_a_known_conv_is_folded():
    x = torch.rand(2, 3, 8, 8)
    cases = [nn.Sequential(nn.Conv2d(3, 4, 3), BatchNormAct(4)), nn.Sequential(StdConv(3, 4, 3), nn.BatchNorm2d(4))]
    train_bn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    for net in cases + [train_bn]:
        with torch.no_grad():
            net[1].running_mean.uniform_(-1, 1)
        net.eval()
    train_bn[1].train()
    for net in cases + [train_bn]:
        out = fold_network(copy.deepcopy(net))
        assert count(out, nn.BatchNorm2d) == 1
    for net in cases:
        fast = inference_copy(wrap_task(nn.Sequential(net, nn.Flatten()), num_classes=4 * 36), probe=x[:1])
        with torch.no_grad():
            torch.testing.assert_close(fast(x), nn.Sequential(net, nn.Flatten())(x), atol=1e-5, rtol=1e-5)


def test_user_hooks_are_not_copied():
    task = quadrant_task()
    calls = []
    handle = task.net[1].register_forward_hook(lambda *a: calls.append(1))
    try:
        fast = inference_copy(task)
        with torch.no_grad():
            fast(torch.rand(1, 3, 16, 16))
        assert calls == [] and len(task.net[1]._forward_hooks) == 1
    finally:
        handle.remove()
