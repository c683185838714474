import json

import pytest
import torch
from torch import nn

from hmxai.errors import WeightsUnavailableError
from hmxai.tasks import create_task
from hmxai.tasks.base import wrap_task

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_lite0_loads_offline_and_sees_a_cat(lite0, chelsea):
    assert "package" in lite0.weights
    p = lite0.predict(chelsea, k=5)[0]
    assert p.top1 in CAT_CLASSES, p
    assert len(p.labels) == 5 and list(p.probabilities) == sorted(p.probabilities, reverse=True)
    probs = torch.softmax(lite0(chelsea).double(), -1)[0]  # the top-5 are the softmax's five largest, exactly
    top = probs.topk(5)
    assert list(p.indices) == top.indices.tolist() and list(p.probabilities) == top.values.tolist()
    assert list(p.labels) == [lite0.labels[i] for i in p.indices]


@pytest.mark.slow
@pytest.mark.data
def test_lite0_accuracy_on_imagenet_samples(lite0, data_root):
    """Real weights: top-1 on the first 40 shared ImageNet samples (measured 87 % on 150)."""
    from hmxai.datasets import imagenet_samples
    from hmxai.images import load_image

    items = imagenet_samples(data_root)[:40]
    correct = sum(lite0.predict(load_image(p))[0].top1 == label for p, label in items)
    assert correct / len(items) >= 0.75


def test_preprocess_is_differentiable_and_any_size(lite0):
    x = torch.rand(1, 3, 100, 170, requires_grad=True)
    lite0(x)[0, 3].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert lite0.preprocess(torch.rand(2, 3, 300, 451)).shape == (2, 3, 224, 224)


def test_torchvision_offline_message_names_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as info:
        create_task("resnet18")
    assert "resnet18-f37072fd.pth" in str(info.value) and str(tmp_path) in str(info.value)


def test_torchvision_weights_from_cache(tmp_path, monkeypatch, small):
    from hmxai.tasks.classifiers import torchvision_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    random = create_task("resnet18", pretrained=False)
    path = torchvision_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(random.net.state_dict(), path)
    loaded = create_task("resnet18")
    assert torch.equal(loaded(small), random(small))


def test_wrap_user_module(small):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    task = wrap_task(net, ["a", "b", "c"], target_layer="0", mean=(0.5,) * 3, std=(0.25,) * 3)
    assert task.target_layer is net[0]
    logits = task(small)
    assert torch.allclose(logits, net((small - 0.5) / 0.25))
    expected = ["a", "b", "c"][int(net((small - 0.5) / 0.25).argmax())]
    assert task.predict(small, k=2)[0].labels[0] == expected
    with pytest.raises(ValueError, match="labels"):
        wrap_task(net)
    with pytest.raises(ValueError, match="logits"):
        wrap_task(net, num_classes=5).predict(small)
    with pytest.raises(AttributeError):
        wrap_task(net, num_classes=3, target_layer="nope")


def test_wrapping_never_changes_the_users_network_modes(small):
    """Constructors store, calls compute: the user's network keeps its train/eval modes; a call
    runs it in eval mode (batch norm on running statistics) and restores every module's mode."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    net[1].eval()  # a mixed state the user chose
    modes = [m.training for m in net.modules()]
    task = wrap_task(net, ["a", "b", "c"])
    assert [m.training for m in net.modules()] == modes
    batch = torch.cat([small, small.flip(-1)])
    logits = task(batch)
    assert [m.training for m in net.modules()] == modes  # restored after the call
    net.eval()
    with torch.no_grad():
        assert torch.equal(logits, net(task.preprocess(batch)))  # the call ran in eval mode
    net.train()
    task.predict(small)
    assert all(m.training for m in net.modules())
    task.train()  # the wrapper in training mode: calls leave the modes alone
    assert task(batch).requires_grad and all(m.training for m in net.modules())
