"""The spiking classifier: neuron dynamics by hand, scoped state, determinism, exact counting."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import nn

from hmxai.errors import InvalidArgumentError
from hmxai.spiking.energy import ENERGY_PJ, count_operations, energy_joules, measure
from hmxai.spiking.layers import FoldedConv
from hmxai.spiking.network import SpikingEfficientNet
from hmxai.spiking.neurons import IFNeurons


def reference_if(currents, theta, v0=0.5):
    """Integrate-and-fire with reset by subtraction, one float at a time."""
    v, out = v0 * theta, []
    for i in currents:
        v += i
        s = 1 if v >= theta else 0
        v -= s * theta
        out.append(s)
    return out


def test_if_neurons_fire_as_counted_by_hand():
    gen = torch.Generator().manual_seed(0)
    currents = torch.rand(40, 1, 3, 2, 2, generator=gen) * 3 - 0.5
    theta = torch.tensor([0.7, 1.3, 2.0])
    spikes, _ = IFNeurons(theta)(currents)
    for c in range(3):
        for y in range(2):
            for x in range(2):
                ref = reference_if(currents[:, 0, c, y, x].tolist(), float(theta[c]))
                assert spikes[:, 0, c, y, x].tolist() == ref
    # windows: two halves with the state handed on give the same spikes as one call
    layer = IFNeurons(theta)
    first, state = layer(currents[:17])
    second, _ = layer(currents[17:], state)
    assert torch.equal(torch.cat([first, second]), spikes)


def test_signed_burst_count_is_the_rounded_clipped_input():
    """After T steps the net count is clamp(floor(v0 + sum(I) / theta), 0, T), whatever the timing."""
    gen = torch.Generator().manual_seed(1)
    currents = torch.randn(16, 2, 4, 3, 3, generator=gen) * 2
    theta = torch.tensor([0.5, 1.0, 2.0, 4.0])
    layer = IFNeurons(theta, neuron="signed-burst", burst=1000)
    spikes, _ = layer(currents)
    total = currents.sum(0) / theta.view(1, -1, 1, 1)
    expected = torch.floor(0.5 + total).clamp(0, 16)
    assert torch.equal(spikes.sum(0), expected)
    assert spikes.min() < 0  # negative spikes do happen on this input
    limited, _ = IFNeurons(theta, neuron="signed-burst", burst=1)(currents)
    assert limited.abs().max() == 1


def test_neuron_state_is_scoped_to_the_call_and_the_model():
    from snntorch._neurons.neurons import SpikingNeuron

    before = len(SpikingNeuron.instances)
    a, b = IFNeurons(torch.ones(2)), IFNeurons(torch.ones(2))
    assert len(SpikingNeuron.instances) == before  # not in snntorch's process-wide list
    x = torch.rand(5, 1, 2, 3, 3)
    first, _ = a(x)
    b(torch.rand(5, 1, 2, 3, 3) * 10)  # another model's call in between
    SpikingNeuron.instances.extend([])  # a process-wide reset has nothing of ours to touch
    assert a.neuron.mem.numel() == 0 and b.neuron.mem.numel() == 0  # nothing left after a call
    again, _ = a(x)
    assert torch.equal(first, again)


@pytest.fixture(scope="module")
def tiny():
    """A random-init EfficientNet-Lite0 and its spiking twin at T=3 (contract tests only)."""
    from hmxai.tasks.classifiers import efficientnet_lite0

    ann = efficientnet_lite0(pretrained=False).net.eval()
    return ann, SpikingEfficientNet(ann, steps=3, budget=4)


def test_folded_analog_network_is_the_ann(tiny):
    ann, net = tiny
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.analog(x), ann(x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # spiking networks run over several time steps (tens of seconds)
@pytest.mark.parametrize("encoding", ["direct", "rate"])
def test_same_input_same_spikes_whatever_ran_between(tiny, encoding):
    _, net = tiny
    net.configure(encoding=encoding)
    try:
        x = torch.randn(2, 3, 64, 64)
        first, rep = measure(net, x)
        net(torch.randn(5, 3, 64, 64))  # another batch size (other windows) in between
        net.configure(steps=2)
        net(x[:1])
        net.configure(steps=3)
        again, rep2 = measure(net, torch.cat([x, torch.randn(1, 3, 64, 64)]))
        torch.testing.assert_close(again[:2], first, rtol=0, atol=1e-5)
        assert [r.spikes for r in rep2[:2]] == [r.spikes for r in rep]
    finally:
        net.configure(encoding="direct")


def test_memory_stays_flat_over_create_call_delete(tiny):
    from snntorch._neurons.neurons import SpikingNeuron

    ann, _ = tiny
    before = len(SpikingNeuron.instances)
    refs = []
    for _ in range(3):
        net = SpikingEfficientNet(ann, steps=1)
        net(torch.randn(1, 3, 32, 32))
        refs.append(weakref.ref(net))
        del net
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(SpikingNeuron.instances) == before


def test_synops_of_a_strided_convolution_equal_the_hand_count():
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
    bn = nn.BatchNorm2d(3).eval()
    folded = FoldedConv(conv, bn)
    spikes = torch.zeros(1, 2, 5, 5)
    spikes[0, 0, 0, 0] = 1  # a corner: reaches output (0, 0) only
    spikes[0, 1, 2, 2] = 2  # the centre, twice: only output (1, 1)'s window (1..3) covers it
    spikes[0, 0, 4, 3] = 1  # the bottom border: outputs (2, 1) and (2, 2)
    # by hand: output (oy, ox) reads inputs 2*oy-1 .. 2*oy+1; outputs are 3 x 3, 3 channels
    expected = 0
    for (c, y, x), n in (((0, 0, 0), 1), ((1, 2, 2), 2), ((0, 4, 3), 1)):
        reach = sum(1 for oy in range(3) for ox in range(3) if abs(2 * oy - y) <= 1 and abs(2 * ox - x) <= 1)
        expected += n * reach * 3
    assert float(folded.fan_in_count(spikes)[0]) == expected == (1 * 1 + 2 * 1 + 1 * 2) * 3
    assert folded.macs_per_image((5, 5)) == 3 * 3 * 3 * (2 * 9)


def test_energy_of_a_counted_report_matches_the_table(tiny):
    _, net = tiny
    _, (report,) = measure(net, torch.randn(1, 3, 64, 64))
    mac, ac = ENERGY_PJ["fp32"]
    assert report.energy_j == pytest.approx((report.macs * mac + report.acs * ac) * 1e-12)
    assert report.acs == pytest.approx(sum(lc.acs for lc in report.layers))
    for lc in report.layers:
        if lc.spikes is not None:
            assert 0 <= lc.firing_rate <= 1
    stem = next(lc for lc in report.layers if lc.name == "stem")
    assert stem.macs == net.stem.macs_per_image((64, 64)) and stem.acs == 0  # direct input: once, real-valued
    assert report.to_dict()["energy_ratio"] == pytest.approx(report.energy_j / report.ann_energy_j)


def test_resnet18_reproduces_syops_counters_figure():
    """syops-counter's README: ResNet-18 (ImageNet, 224x224) 1.82 GMac, 8.372 mJ at 4.6 pJ per MAC."""
    from torchvision.models import resnet18

    ops = count_operations(resnet18().eval(), torch.zeros(1, 3, 224, 224))
    assert round(ops / 1e9, 2) == 1.82
    assert energy_joules(round(ops / 1e9, 2) * 1e9, 0) == pytest.approx(8.372e-3)
    assert energy_joules(ops, 0) == pytest.approx(8.372e-3, rel=0.005)


def test_calibration_file_errors_are_clear(tmp_path):
    from hmxai.spiking.calibrate import CalibrationError, load_calibration, save_calibration

    path = save_calibration(tmp_path / "c.safetensors", {"stem": {"threshold": torch.ones(32)}},
                            {"ann_sha256": "abc"})
    thresholds, _, meta = load_calibration(path, expect_ann_sha256="abc")
    assert torch.equal(thresholds["stem"], torch.ones(32)) and meta["ann_sha256"] == "abc"
    with pytest.raises(CalibrationError, match="other ANN weights"):
        load_calibration(path, expect_ann_sha256="def")
    data = path.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CalibrationError, match="truncated"):
        load_calibration(tmp_path / "t.safetensors")
    tampered = bytearray(data)
    tampered[10:14] = b"\xff\xff\xff\xff"
    (tmp_path / "x.safetensors").write_bytes(bytes(tampered))
    with pytest.raises(CalibrationError):
        load_calibration(tmp_path / "x.safetensors")
    with pytest.raises(CalibrationError, match="missing"):
        load_calibration(tmp_path / "none.safetensors")


@pytest.fixture(scope="module")
def snn_task():
    """The shipped spiking task (real ANN weights, shipped thresholds) at T=2, for contract tests."""
    from hmxai.tasks import create_task

    return create_task("efficientnet-lite0-snn", steps=2)


def test_shipped_task_loads_its_calibration(snn_task):
    from hmxai.spiking.calibrate import MIN_THRESHOLD, load_calibration
    from hmxai.spiking.zoo import CALIBRATION_FILE

    thresholds, stats, meta = load_calibration(CALIBRATION_FILE)
    sites = snn_task.net.sites()
    assert set(thresholds) == set(sites) and len(sites) == 33
    for name, neurons in sites.items():
        assert torch.equal(neurons.threshold, thresholds[name])
        theta = thresholds[name]
        assert (theta <= 6).all() and (theta >= MIN_THRESHOLD).all()
        # percentile 1: each threshold is its channel's largest sampled activation, within [floor, 6]
        torch.testing.assert_close(theta, stats[name]["max"].clamp(MIN_THRESHOLD, 6.0))
    assert meta["percentile"] == 1.0 and len(meta["images"]) == 128
    assert snn_task.target_layer is snn_task.net.readout and not snn_task.training


def test_quantized_analog_pass_is_the_unbounded_burst_network(snn_task, small):
    """With a burst bound that never binds, a signed-burst layer's output after T steps is its mean
    input rounded to theta/T and clipped: one analog pass (analog(steps=T)) gives every layer's output."""
    net = snn_task.net
    x = snn_task.preprocess(small)
    T = 6
    net.configure(steps=T, burst=T)
    try:
        sites = net.sites()
        for site in ("blocks.1.depthwise", "blocks.3.expand", "blocks.5.depthwise"):
            seen = {}

            def observe(name, current):
                if name == site:
                    theta = sites[name].threshold.view(1, -1, 1, 1)
                    seen["q"] = torch.floor(0.5 + T * current / theta).clamp(0, T) * theta / T

            with torch.no_grad():
                net.analog(x, observe, steps=T)
                spiking = net.run(x, upto=site)
            assert (spiking > 0).float().mean() > 0.01  # the layer is active on this image
            # equal but for float rounding exactly at a quantization step: rare, but each such flip
            # moves a value by theta/T and the flips multiply with depth (about 10 % by the head)
            assert ((spiking - seen["q"]).abs() > 1e-4).float().mean() < 2e-3
        with torch.no_grad():
            fast, spiking, ann = net.analog(x, steps=T), net.run(x), net.analog(x)
        cos = torch.nn.functional.cosine_similarity
        assert fast.argmax(1) == spiking.argmax(1)
        assert cos(fast, spiking) > 0.9 > cos(ann, spiking)  # much closer to the spiking net than the ANN is
        with pytest.raises(InvalidArgumentError):
            net.analog(x, steps=0)
    finally:
        net.configure(steps=2, burst=4)


@pytest.mark.slow  # spiking networks run over several time steps (tens of seconds)
def test_explanations_run_on_the_spiking_task(snn_task, small):
    """Grad-CAM through the surrogate gradients, LIME and channel scores take the SNN as any task."""
    from hmxai.explain.cam import cam_maps
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.pixels import explain_pixels

    target = snn_task.predict(small)[0].indices[0]
    cam = cam_maps(snn_task, small, target, "grad-cam")
    assert cam.shape == (1,) + tuple(small.shape[-2:]) and torch.isfinite(cam).all() and cam.abs().sum() > 0
    ladder = rate_ladder(small, "jpeg", [20], snn_task)
    lime = explain_pixels(ladder, "lime", snn_task, num_samples=12, seed=0, progress=False)
    assert torch.isfinite(lime.maps).all()
    scores = channel_scores(small, "hmxai-msh", snn_task, quality=1, method="input-x-gradient")
    assert torch.isfinite(scores.machine).all() and scores.machine.abs().sum() > 0


@pytest.mark.slow  # spiking networks run over several time steps (tens of seconds)
def test_bits_vs_spikes_counts_each_rung_as_alone(snn_task, small):
    from hmxai.spiking.bits import bits_vs_spikes
    from hmxai.spiking.energy import measure_task

    result = bits_vs_spikes(small, "hmxai-msh", [1, 3], snn_task, raster=4)
    assert len(result.reports) == 3 and len(result.raster) == 3 and result.raster[0].shape[0] == 2
    assert result.raster[0].shape[1] == len(result.raster_layers) == 4 * 33
    alone_logits, (alone,), _ = measure_task(snn_task, result.ladder.images[2:3])  # batch-independent counts
    assert alone.spikes == result.reports[2].spikes and alone.acs == result.reports[2].acs
    assert snn_task.top_k(alone_logits)[0].indices == result.ladder.predictions[2].indices
    assert result.ladder.rungs[1].prediction == result.ladder.predictions[2]
    rows = result.to_dict()["rows"]
    assert [r["row"] for r in rows] == ["original", "hmxai-msh q1", "hmxai-msh q3"]
    assert rows[1]["measured_bpp"] == result.ladder.rungs[0].encoded.measured_bpp
    assert result.reports[1].spike_map.sum().item() == pytest.approx(result.reports[1].spikes, rel=1e-5)
    assert snn_task.net.steps == 2


def test_spiking_inputs_are_checked(snn_task, small):
    from hmxai.errors import InvalidArgumentError
    from hmxai.spiking.bits import bits_vs_spikes

    with pytest.raises(InvalidArgumentError, match="spiking task"):
        bits_vs_spikes(small, "jpeg", [20], "efficientnet-lite0")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="steps"):
            snn_task.net.configure(steps=bad)
    with pytest.raises(InvalidArgumentError, match="encoding"):
        snn_task.net.configure(encoding="phase")
    with pytest.raises(InvalidArgumentError, match="neuron"):
        snn_task.net.configure(neuron="lif")
    assert snn_task.net.steps == 2


@pytest.mark.slow  # spiking networks run over several time steps (tens of seconds)
def test_explorer_shows_spikes_and_energy_of_a_spiking_task(snn_task, small):
    from hmxai.explore.cache import ByteLRU
    from hmxai.explore.engine import ExplorerEngine
    from hmxai.spiking.energy import measure_task

    engine = ExplorerEngine(small, snn_task, codecs=["jpeg"], cache=ByteLRU())
    view = engine.view("jpeg", 20, None, "none")
    numbers = view.to_dict()
    _, (report,), _ = measure_task(snn_task, engine.decoded("jpeg", 20))
    assert numbers["spikes"] == report.spikes and numbers["steps"] == 2
    assert numbers["energy_j"] == report.energy_j and numbers["ann_energy_j"] == report.ann_energy_j
    assert view.decoded.indices == snn_task.predict(engine.decoded("jpeg", 20))[0].indices


@pytest.mark.slow
def test_cli_snn_json_and_figure(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HMXAI_OFFLINE": "1", "MPLBACKEND": "Agg"}
    fig = tmp_path / "bits-vs-spikes.png"
    run = subprocess.run([sys.executable, "-m", "hmxai.cli", "snn", "--codec", "jpeg", "--qualities", "10", "50",
                          "--steps", "1", "--figure", str(fig), "--json"], capture_output=True, text=True, env=env,
                         timeout=900)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["steps"] == 1 and out["neuron"] == "signed-burst" and len(out["rows"]) == 3
    assert out["rows"][1]["measured_bpp"] < out["rows"][2]["measured_bpp"]
    for row in out["rows"]:
        assert row["spikes"] > 0 and row["energy_j"] > 0 and row["ann_macs"] > 0 and "firing_rates" in row
    assert fig.stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "hmxai.cli", "snn", "--steps", "0", "--json"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert bad.returncode == 2


def test_spiking_head_trains_only_its_own_parameters():
    """One surrogate-gradient step lowers the distillation loss; the ANN's classifier weights stay."""
    import torch.nn.functional as F

    from hmxai.spiking.head import SpikingHead

    torch.manual_seed(0)
    fc = nn.Linear(16, 5)
    head = SpikingHead(fc, torch.full((16,), 2.0), steps=4)
    feats = torch.rand(64, 16) * 3
    teacher = F.softmax(fc(feats) * 3, dim=-1)
    weight = head.fc.weight.clone()
    trainable = [p for p in head.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable) == 16 * 3 + 5
    opt = torch.optim.Adam(trainable, lr=0.05)

    def loss():
        return F.kl_div(F.log_softmax(head(feats), dim=-1), teacher, reduction="batchmean")

    before = loss()
    opt.zero_grad()
    before.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)  # surrogate gradients flow
    opt.step()
    with torch.no_grad():
        assert float(loss()) < float(before.detach())
    assert torch.equal(head.fc.weight, weight) and head.lif.mem.numel() == 0


def test_shipped_spiking_head_loads_and_refuses_a_damaged_file(tmp_path, small):
    from hmxai.spiking.calibrate import CalibrationError
    from hmxai.spiking.head import HEAD_FILE, efficientnet_lite0_snn_head

    task = efficientnet_lite0_snn_head(steps=8)
    assert task.predict(small)[0].labels[0]
    data = HEAD_FILE.read_bytes()
    (tmp_path / "h.safetensors").write_bytes(data[:-100])
    with pytest.raises(CalibrationError, match="truncated"):
        efficientnet_lite0_snn_head(path=tmp_path / "h.safetensors")


@pytest.mark.slow  # spiking networks run over several time steps (tens of seconds)
def test_integrated_gradients_on_a_spiking_task(tiny):
    """Channel IG with a spiking machine: completeness holds for the human objective (it never passes
    through spikes: quadratic, exact); for the machine, the surrogate gradient is not the derivative
    of the spike count, so the gap is only reported (finite), not zero."""
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.objective import ablation_values
    from hmxai.tasks.base import TaskModel

    _, net = tiny
    task = TaskModel(net, "tiny-snn", [f"class {i}" for i in range(1000)], resize=None, input_size=None,
                     target_layer="readout")
    from compressai.models import MeanScaleHyperprior

    from hmxai.codecs.learned import LearnedCodec

    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=8, M=6)
    model.g_s = nn.ConvTranspose2d(6, 3, kernel_size=16, stride=16)
    with torch.no_grad():
        model.g_s.weight.normal_(0, 2e-3)
        model.g_s.bias.fill_(0.5)
        model.g_a[-1].weight.mul_(40)
        model.g_a[-1].bias.mul_(40)
    codec = LearnedCodec(model, "analytic", 1, weights="random-init")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    s = channel_scores(x, codec, task, method="integrated-gradients", steps=8)
    latent = codec.analyze(x)
    with torch.no_grad():
        none = codec.model.g_s(ablation_values(codec, latent)).clamp(0, 1)
    mse_all_removed = float(((none - x) ** 2).mean())
    assert float(s.human_mse.sum()) == pytest.approx(mse_all_removed - s.base_value("mse"), rel=1e-3)
    assert torch.isfinite(s.machine_logit).all() and s.completeness_gap == s.completeness_gap  # not NaN
