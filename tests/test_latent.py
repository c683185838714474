"""Machines that read the bits: the latent classifier's contract, training, spiking twin and reach."""

from __future__ import annotations

import json

import pytest
import torch

from hmxai.codecs import create_codec
from hmxai.latent.model import CROP, STRIDE, LatentInputError, adapter_features, preprocess_latent
from hmxai.pipeline import decode


@pytest.fixture(scope="module")
def vbr():
    return create_codec("hmxai-vbr", quality=2.7)


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(3)
    base = torch.rand(1, 3, 12, 16, generator=g)
    return torch.nn.functional.interpolate(base, size=(96, 128), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def random_latent_task():
    from hmxai.latent.zoo import efficientnet_lite0_latent

    return efficientnet_lite0_latent(pretrained=False)


def test_read_latent_is_the_latent_the_bytes_carry_without_the_decoder(vbr, image):
    encoded = vbr.compress(image)
    y_hat = vbr.read_latent(encoded)
    assert torch.equal(y_hat, vbr.analyze(image).y_hat)
    assert torch.equal(y_hat, vbr.decode_latent(encoded)[0])
    calls = []
    handle = vbr.model.g_s.register_forward_hook(lambda *a: calls.append(1))
    try:
        vbr.read_latent(encoded)
    finally:
        handle.remove()
    assert calls == []  # the synthesis transform never ran


def test_latent_geometry_follows_the_image_task_crop():
    from hmxai.tasks import create_task

    task = create_task("efficientnet-lite0", pretrained=False)
    for size in ((375, 500), (500, 375), (224, 224), (300, 301)):
        y = torch.randn(1, 4, -(-size[0] // 64) * 4, -(-size[1] // 64) * 4)
        assert preprocess_latent(y, size).shape == (1, 4, CROP // STRIDE, CROP // STRIDE)
        (rh, rw), top, left = task.crop_geometry(*size)
        from hmxai.latent.model import crop_geometry

        (lh, lw), ltop, lleft = crop_geometry(size)
        assert abs(lh * STRIDE - rh) <= STRIDE / 2 and abs(lw * STRIDE - rw) <= STRIDE / 2
        assert abs(ltop * STRIDE - top) <= STRIDE and abs(lleft * STRIDE - left) <= STRIDE


def test_latent_task_refuses_what_it_cannot_read(random_latent_task, image):
    task = random_latent_task
    with pytest.raises(LatentInputError, match="classical"):
        task.predict(decode(image, "jpeg", quality=50))
    with pytest.raises(LatentInputError, match="hmxai-vbr"):
        task.predict(decode(image, "hmxai-msh", quality=2))
    with pytest.raises(LatentInputError, match=r"\(B, 128, h, w\)"):
        task.check("hmxai-vbr", None, torch.zeros(1, 96, 6, 8))
    with pytest.raises(LatentInputError, match="NaN"):
        task.check("hmxai-vbr", None, torch.full((1, 128, 6, 8), float("nan")))
    other = type(task)(task.net, task.name, task.labels, "hmxai-vbr", "0123456789abcdef", 128)
    with pytest.raises(LatentInputError, match="retrain"):
        other.predict(decode(image, "hmxai-vbr", quality=3))


def test_a_rung_predicted_by_a_latent_task_reads_its_latent(random_latent_task, image):
    rung = decode(image, "hmxai-vbr", random_latent_task, quality=4.5)
    with torch.no_grad():
        expected = random_latent_task(rung.latent.y_hat, rung.image_size).argmax(-1).item()
    assert rung.prediction.indices[0] == expected


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    from hmxai.train.latent import build_cache
    from hmxai.train.latent_config import LatentConfig

    config = LatentConfig(data=("train-extra/set14",), val_images=3, steps=4, batch=3, max_side=96, val_every=0,
                          checkpoint_every=2, warmup=1, lr=5e-3)
    out = tmp_path_factory.mktemp("latent")
    return config, build_cache(config, data_root, out, progress=False)


def _trainable_student(config, codec):
    """A run's student with only its trainable parameters requiring grad, and its state before a step."""
    from hmxai.tasks import create_task
    from hmxai.train.latent import student, trainable

    model = student(config, codec, create_task("efficientnet-lite0"))
    model.requires_grad_(False)
    params = trainable(model, config)
    for p in params:
        p.requires_grad_(True)
    return model, params, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("adapter, train_first", [("synthesis", True), ("synthesis", False), ("mbconv", True)])
def test_one_training_step_lowers_the_loss_and_trains_only_the_adapter(tiny_run, adapter, train_first):
    from hmxai.codecs import create_codec
    from hmxai.train.latent import batch_of, losses, read_cache, set_modes

    config, cache = tiny_run
    config = type(config)(**{**config.__dict__, "adapter": adapter, "train_first": train_first})
    codec = create_codec(config.codec)
    data = read_cache(cache, codec)
    model, params, before = _trainable_student(config, codec)
    y, feats, logits = batch_of(codec, data["train"], config, 0)
    opt = torch.optim.SGD(params, lr=0.05 if adapter == "mbconv" else 2e-4)
    set_modes(model, config, True)  # both losses in the modes the step trains in (batch norm: batch statistics)
    loss0 = losses(model, y, feats, logits, config)[0]
    loss0.backward()
    opt.step()
    with torch.no_grad():
        loss1 = losses(model, y, feats, logits, config)[0].item()
    assert loss1 < loss0.item()
    after = model.state_dict()
    first = ("net._conv_stem.", "net._bn0.") + tuple(f"net._blocks.{i}." for i in range(model.net.adapter_blocks))
    meant = (("synthesis.",) if adapter == "synthesis" else ()) + (first if train_first else ())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(meant) for k in changed)
    assert any(k.startswith(meant[0]) for k in changed)
    if adapter == "synthesis":
        assert any(k.startswith("synthesis.layers.0.") for k in changed)
        assert any(k.startswith("net._blocks.0.") for k in changed) == train_first  # frozen: bit-identical


def test_the_untrained_synthesis_adapter_is_decode_then_crop(vbr):
    """The synthesis adapter before training: the codec's own last layers on the crop, i.e. the
    centre crop of the decoded image, normalized as the teacher's input (away from the crop's border)."""
    from hmxai.latent.zoo import efficientnet_lite0_latent
    from hmxai.tasks.classifiers import LITE_MEAN

    task = efficientnet_lite0_latent(pretrained=False)
    g = torch.Generator().manual_seed(5)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g), size=(256, 256), mode="bilinear")
    latent = vbr.analyze(x)
    with torch.no_grad():
        seen = task.features(latent.y_hat, (256, 256))
        image = vbr.model.g_s(latent.y_hat)[..., 16:240, 16:240]  # 256 short side: no resize, centre 224
    assert seen.shape == (1, 3, 224, 224)
    expected = (image - LITE_MEAN[0]) / 0.502
    inner = (slice(None), slice(None), slice(24, -24), slice(24, -24))
    assert torch.allclose(seen[inner], expected[inner], atol=1e-4)
    assert not torch.allclose(seen, expected, atol=1e-4)  # the border sees the crop's edge: not a copy of g_s


def test_a_resumed_run_continues_identically(tiny_run, tmp_path, data_root):
    from hmxai.train.checkpoint import load_state
    from hmxai.train.latent import train_latent

    config, cache = tiny_run
    straight = train_latent(config, data_root, tmp_path / "a", progress=False, cache=cache)
    half = type(config)(**{**config.__dict__, "steps": 2})
    train_latent(half, data_root, tmp_path / "b", progress=False, cache=cache)
    (tmp_path / "b" / "config.json").write_text(json.dumps(config.to_dict()))  # the same run, longer
    resumed = train_latent(config, data_root, tmp_path / "b", progress=False, cache=cache)
    a, b = load_state(straight, "cpu"), load_state(resumed, "cpu")
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_exported_weights_load_and_tampered_files_are_refused(tiny_run, tmp_path, data_root):
    from hmxai.errors import HmxaiError
    from hmxai.latent.zoo import efficientnet_lite0_latent
    from hmxai.train.latent import export_latent, train_latent

    config, cache = tiny_run
    train_latent(config, data_root, tmp_path / "run", progress=False, cache=cache)
    path = export_latent(tmp_path / "run", tmp_path / "w.safetensors")
    task = efficientnet_lite0_latent(weights=path)
    assert task.codec == "hmxai-vbr" and task.codec_weights_id == create_codec("hmxai-vbr").weights_id
    raw = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(HmxaiError, match="truncated"):
        efficientnet_lite0_latent(weights=tmp_path / "cut.safetensors")
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    assert any(k.startswith("synthesis.layers.") for k in tensors) and "_conv_stem.weight" in tensors
    assert not any(k.startswith("_blocks.3.") for k in tensors)  # the teacher's later blocks come from its package
    tensors["_conv_stem.weight"] = tensors["_conv_stem.weight"][:16].contiguous()
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"format": "hmxai-latent-task-v1",
                                                                     "meta": json.dumps({"channels": 128})})
    with pytest.raises(HmxaiError, match="does not have"):
        efficientnet_lite0_latent(weights=tmp_path / "bad.safetensors")


def test_a_run_can_start_from_exported_weights_and_refuses_another_adapters(tiny_run, tmp_path, data_root):
    from hmxai.errors import InvalidArgumentError
    from hmxai.tasks import create_task
    from hmxai.train.checkpoint import load_state
    from hmxai.train.latent import export_latent, init_student, student, train_latent

    config, cache = tiny_run
    trained = load_state(train_latent(config, data_root, tmp_path / "run", progress=False, cache=cache), "cpu")["model"]
    path = export_latent(tmp_path / "run", tmp_path / "w.safetensors", fp16=False)
    codec, teacher = create_codec(config.codec), create_task("efficientnet-lite0")
    fresh = student(config, codec, teacher)
    untouched = {k: v.clone() for k, v in fresh.state_dict().items()}
    init_student(fresh, path, codec, config)
    loaded = fresh.state_dict()
    moved = {k for k in loaded if not torch.equal(loaded[k], untouched[k])}
    assert moved and all(k.startswith(("synthesis.", "net._conv_stem.", "net._bn0.", "net._blocks.")) for k in moved)
    assert all(torch.equal(loaded[k], trained[k]) for k in loaded if k.startswith("synthesis."))
    assert torch.equal(loaded["net._blocks.0._depthwise_conv.weight"], trained["net._blocks.0._depthwise_conv.weight"])
    assert torch.equal(loaded["net._fc.weight"], untouched["net._fc.weight"])  # the frozen tail: the teacher's
    other = type(config)(**{**config.__dict__, "adapter": "mbconv"})
    with pytest.raises(InvalidArgumentError, match="adapter"):
        init_student(student(other, codec, teacher), path, codec, other)


def test_spiking_twin_counts_the_latent_input_as_macs_and_matches_the_ann_count(random_latent_task):
    from hmxai.latent.compute import latent_task_macs, macs, network_macs, synthesis_macs
    from hmxai.spiking.energy import measure
    from hmxai.spiking.network import SpikingEfficientNet

    task = random_latent_task
    net = task.net
    snn = SpikingEfficientNet(net, steps=4)
    y = task.features(torch.randn(2, 128, 6, 8), (96, 128))  # g_s's first two layers, crop, its last two
    assert y.shape == (2, 3, 224, 224)
    assert network_macs(task) == macs(net, y)  # two counters, one answer
    front = macs(task.front, torch.zeros(1, 128, 8, 8))  # 128 x 128 padded image: 8 x 8 latent
    assert front == 128 * 8 * 8 * 96 * 25 + (16 * 16 * 96) * 96 + 96 * 16 * 16 * 96 * 25 + (32 * 32 * 96) * 96
    crop = 96 * 56 * 56 * 96 * 25 + (112 * 112 * 96) * 96 + 96 * 112 * 112 * 3 * 25  # on the 56 x 56 crop
    assert synthesis_macs(task) == crop
    assert latent_task_macs(task, (128, 128)) == front + crop + network_macs(task)
    from hmxai.latent.compute import decoder_macs, image_task_macs
    from hmxai.tasks import create_task

    full = decoder_macs(create_codec("hmxai-vbr"), (375, 500)) + image_task_macs(create_task("efficientnet-lite0"))
    assert latent_task_macs(task, (375, 500)) < 0.5 * full  # an ImageNet-sized image: under half the MACs
    logits, reports = measure(snn, y)
    assert logits.shape == (2, 1000) and len(reports) == 2
    assert reports[0].ann_macs == macs(net, y)
    stem = next(lc for lc in reports[0].layers if lc.name == "stem")
    assert stem.macs == snn.stem.macs_per_image((224, 224))  # direct encoding: once, not once per step
    with pytest.raises(Exception, match=r"\(B, 3, H, W\)"):
        snn(torch.zeros(1, 96, 56, 56))


def test_decoder_macs_count_transposed_convolutions_by_hand():
    from hmxai.latent.compute import macs

    layer = torch.nn.ConvTranspose2d(4, 3, 5, stride=2, padding=2, output_padding=1)
    assert macs(layer, torch.zeros(1, 4, 6, 7)) == 4 * 6 * 7 * 3 * 25


def test_counting_macs_changes_nothing_in_a_network_left_in_train_mode():
    """A task model's ``net`` stays in train mode between calls; counting its MACs must not move its
    batch norm statistics (it once did, once per image, and the image task drifted over a benchmark)."""
    from hmxai.latent.compute import image_task_macs
    from hmxai.tasks import create_task

    task = create_task("efficientnet-lite0")
    task.net.train()
    before = {k: v.clone() for k, v in task.net.state_dict().items()}
    for _ in range(3):
        image_task_macs(task)
    assert all(torch.equal(before[k], v) for k, v in task.net.state_dict().items())
    assert task.net.training  # its mode is restored, not changed


def test_channel_scores_work_on_a_latent_task(random_latent_task, image):
    from hmxai.errors import InvalidArgumentError
    from hmxai.explain.channels import channel_scores

    codec = create_codec("hmxai-vbr", quality=3)
    scores = channel_scores(image, codec, random_latent_task, method="ablation", batch=16)
    assert scores.task == "efficientnet-lite0-latent"
    assert scores.machine_logit.abs().sum() > 0  # the latent reaches the machine
    latent = codec.analyze(image)
    with torch.no_grad():
        ref = random_latent_task(latent.y_hat, latent.image_size).argmax(-1).item()
    assert scores.reference_class == ref
    with pytest.raises(InvalidArgumentError, match="ablation"):
        channel_scores(image, codec, random_latent_task, method="input-x-gradient")


def test_adapter_output_has_the_shape_of_the_teachers_block_at_its_stride(random_latent_task):
    from hmxai.latent.model import latent_network
    from hmxai.tasks import create_task

    h = adapter_features(random_latent_task.net, torch.zeros(1, 3, 224, 224))
    assert h.shape == (1, 24, 56, 56)  # block 2 at stride 4
    net = latent_network(create_task("efficientnet-lite0", pretrained=False).net, 128, stride=16)
    assert adapter_features(net, torch.zeros(1, 128, 14, 14)).shape == (1, 112, 14, 14)  # block 10 at stride 16
    from hmxai.spiking.network import SpikingEfficientNet

    with pytest.raises(Exception, match="direct"):  # a network on the latent itself: no pixels to rate-code
        SpikingEfficientNet(net.eval(), steps=2).configure(encoding="rate")


@pytest.mark.slow
def test_command_line_trains_exports_and_compares_the_three_machines(tmp_path, data_root):
    import os
    import subprocess
    import sys

    from hmxai.images import to_pil

    def hmxai(*args):
        env = {**os.environ, "HMXAI_OFFLINE": "1"}
        return subprocess.run([sys.executable, "-m", "hmxai.cli", *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=900)

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"data": ["train-extra/set14"], "val_images": 2, "steps": 2, "batch": 2,
                                  "max_side": 96, "val_every": 0, "checkpoint_every": 2, "warmup": 1}))
    trained = hmxai("train", "latent", config, "--data", data_root, "--out", tmp_path / "run",
                    "--export-to", tmp_path / "zoo", "--json")
    assert trained.returncode == 0, trained.stderr
    g = torch.Generator().manual_seed(0)
    image = tmp_path / "x.png"
    to_pil(torch.nn.functional.interpolate(torch.rand(1, 3, 8, 12, generator=g), size=(128, 192), mode="bilinear")).save(image)
    proc = hmxai("latent-task", image, "--qualities", 2, 5.5, "--weights-dir", tmp_path / "zoo", "--steps", 2, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["quality"] for r in out["rungs"]] == [2, 5.5]
    machines = {m["machine"]: m for m in out["rungs"][0]["machines"]}
    assert set(machines) == {"decode-then-classify", "efficientnet-lite0-latent", "efficientnet-lite0-latent-snn"}
    # at 128 x 192 the crop's synthesis layers (always 224 x 224) cost more than decoding the small image
    assert machines["efficientnet-lite0-latent"]["macs"] > 0 and machines["decode-then-classify"]["macs"] > 0
    assert machines["efficientnet-lite0-latent-snn"]["energy_mj"] > 0
    missing = hmxai("latent-task", image, "--weights-dir", tmp_path / "nowhere", "--json")
    assert missing.returncode == 2 and "missing" in json.loads(missing.stdout)["error"]


def test_shipped_latent_classifiers_reproduce_their_card_on_a_subset(data_root):
    """The card's rows (benchmarks/results/latent_curves_rows.jsonl, from benchmarks/latent_curves.py)
    recomputed on the first 3 held-out images at the range's two ends. Tolerance: bits and MACs equal
    (0.1 %), at most one of the 12 top-1 answers may differ (a near-tie can flip between CPUs)."""
    from pathlib import Path

    from hmxai.latent import create_latent_task
    from hmxai.latent.ladder import machines_ladder
    from hmxai.latent.zoo import LATENT_FILE, LATENT_SNN_FILE
    from hmxai.train.data import imagenet_split

    assert LATENT_FILE.is_file() and LATENT_SNN_FILE.is_file()  # they ship
    rows_path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "latent_curves_rows.jsonl"
    card = {r["image"]: r for r in map(json.loads, rows_path.read_text().splitlines())}
    summary = json.loads((rows_path.parent / "latent_curves.json").read_text())
    from hmxai.spiking.calibrate import sha256_of

    shipped = {"codec": create_codec("hmxai-vbr").weights_id, "latent": sha256_of(LATENT_FILE)[:16],
               "latent_snn": sha256_of(LATENT_SNN_FILE)[:16]}
    assert summary["weights"] == shipped and all(r["weights"] == shipped for r in card.values())  # rows of these files
    steps, qualities = summary["snn_steps"], summary["qualities"]
    pick = [qualities.index(min(qualities)), qualities.index(max(qualities))]
    tasks = [create_latent_task("efficientnet-lite0-latent"), create_latent_task("efficientnet-lite0-latent-snn", steps=steps)]
    _, held = imagenet_split(Path(data_root) / "imagenet-samples")
    flips = 0
    for path in held[:3]:
        stored = card[path.name]
        ladder = machines_ladder(path, "hmxai-vbr", [qualities[i] for i in pick], tasks)
        assert ladder.reference == stored["reference"]
        for rung, i in zip(ladder.rungs, pick):
            want = stored["rungs"][i]
            assert rung.measured_bpp == pytest.approx(want["measured_bpp"], rel=1e-3)
            for got, exp in zip(rung.machines, want["machines"]):
                assert got.machine == exp["machine"]
                assert got.macs == pytest.approx(exp["macs"], rel=1e-3)
                flips += got.top1 != exp["top1"]
                if exp["energy_mj"] is not None:
                    assert got.energy_mj == pytest.approx(exp["energy_mj"], rel=0.05)
    assert flips <= 1


def test_a_trained_tail_with_frozen_norm_keeps_the_teachers_statistics(tiny_run):
    """``tail_frozen_norm``: the tail's weights change in a step, its batch-norm statistics do not
    (the adapter's do); without it the tail's statistics move too. Asking for it without a trained
    tail is refused."""
    from hmxai.codecs import create_codec
    from hmxai.errors import InvalidArgumentError
    from hmxai.train.latent import batch_of, losses, read_cache, set_modes

    config, cache = tiny_run
    codec = create_codec(config.codec)
    data = read_cache(cache, codec)
    y, feats, logits = batch_of(codec, data["train"], config, 0)
    moved = {}
    for frozen_norm in (True, False):
        run = type(config)(**{**config.__dict__, "train_tail": True, "tail_frozen_norm": frozen_norm})
        model, params, before = _trainable_student(run, codec)
        set_modes(model, run, True)
        assert model.net._dropout.training is not frozen_norm
        losses(model, y, feats, logits, run)[0].backward()
        torch.optim.SGD(params, lr=1e-3).step()
        changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
        tail = tuple(f"net._blocks.{i}." for i in range(model.net.adapter_blocks, len(model.net._blocks))) + ("net._bn1.",)
        assert any(k.startswith(tail) and k.endswith(".weight") for k in changed)  # the tail trains
        assert any(k.startswith("net._bn0.") and k.endswith("running_mean") for k in changed)  # the adapter's norm adapts
        moved[frozen_norm] = any(k.startswith(tail) and k.endswith("running_mean") for k in changed)
    assert moved == {True: False, False: True}
    with pytest.raises(InvalidArgumentError, match="train_tail"):
        type(config)(**{**config.__dict__, "tail_frozen_norm": True})
