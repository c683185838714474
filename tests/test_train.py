"""Codec training: a step lowers the loss, resuming continues exactly, runs are deterministic."""

import json
from dataclasses import replace

import pytest
import torch

from hmxai.train.codec import CodecTrainer, learning_rate
from hmxai.train.config import TrainConfig
from hmxai.train.data import CropSampler, imagenet_split, training_paths

TINY = TrainConfig(N=8, M=12, lambdas=(0.01, 0.02), warm_start=(None, 1), steps=6, warm_steps=4, batch=2,
                   crop=64, late_crop=0, warmup=2, checkpoint_every=3, lr=1e-3)


@pytest.fixture(scope="module")
def sampler(chelsea):
    return _sampler_from(chelsea)


def _sampler_from(x):
    s = CropSampler.__new__(CropSampler)
    s.images = [(x[0] * 255).round().to(torch.uint8), (x[0, :, :200, :250].flip(-1) * 255).round().to(torch.uint8)]
    return s


def test_split_is_fixed_and_disjoint(data_root):
    train, held = imagenet_split(data_root / "imagenet-samples")
    assert len(held) == 150 and len(train) == 600
    assert not set(train) & set(held)
    assert held[0].name == "n01440764.JPEG"
    paths = training_paths(data_root, ("imagenet-samples", "coco-tiny/val2017"))
    assert len(paths) == 680 and not any("kodak" in str(p) for p in paths)
    with pytest.raises(ValueError, match="Kodak"):
        training_paths(data_root, ("kodak",))


def test_one_step_lowers_the_loss(sampler, tmp_path):
    config = replace(TINY, lr=1e-2, warmup=1)
    trainer = CodecTrainer(config, 1, sampler, tmp_path)
    g = torch.Generator().manual_seed(5)
    x = sampler.sample(2, 64, g)
    crit = trainer.criterion
    trainer.model.train()
    torch.manual_seed(0)
    before = float(crit(trainer.model(x), x)["loss"])
    trainer.sampler = _FixedSampler(x)
    trainer.train_step()
    torch.manual_seed(0)
    after = float(crit(trainer.model(x), x)["loss"])
    assert after < before


class _FixedSampler:
    def __init__(self, x):
        self.x = x

    def sample(self, batch, crop, generator):
        return self.x


def test_resume_continues_same_step_and_state(sampler, tmp_path):
    full = CodecTrainer(TINY, 1, sampler, tmp_path / "full")
    full.run(progress=False)
    part = CodecTrainer(TINY, 1, sampler, tmp_path / "part")
    part.run(progress=False, stop_after=3)       # stops at a checkpoint
    assert part.step == 3
    resumed = CodecTrainer(TINY, 1, sampler, tmp_path / "part")
    assert resumed.resume() and resumed.step == 3
    resumed.run(progress=False)
    assert resumed.step == full.step == 6
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_same_seed_same_weights_and_config_checked(sampler, tmp_path):
    a = CodecTrainer(TINY, 1, sampler, tmp_path / "a")
    b = CodecTrainer(TINY, 1, sampler, tmp_path / "b")
    a.run(progress=False)
    b.run(progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    other = replace(TINY, lambdas=(0.05, 0.02))
    with pytest.raises(ValueError, match="another config"):
        CodecTrainer(other, 1, sampler, tmp_path / "a").resume()


def test_schedule_and_config_validation(tmp_path):
    assert learning_rate(TINY, 0, 6) == pytest.approx(TINY.lr / 2)
    assert learning_rate(TINY, 6, 6) == pytest.approx(TINY.lr_min)
    assert TrainConfig().order()[0] == 3  # the from-scratch quality first
    with pytest.raises(ValueError, match="warm_start"):
        TrainConfig(lambdas=(0.1, 0.2), warm_start=(None,))
    (tmp_path / "c.json").write_text(json.dumps({"N": 8, "bogus": 1}))
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_json(tmp_path / "c.json")


def test_export_round_trip(sampler, tmp_path):
    from hmxai.codecs.checkpoints import load_state_dict
    from hmxai.train.export import compact_state_dict

    trainer = CodecTrainer(TINY, 1, sampler, tmp_path)
    trainer.run(progress=False)
    trainer.model.update(force=True)
    compact = compact_state_dict(trainer.model)
    assert all(v.dtype != torch.float32 or v.numel() < 1024 for v in compact.values())
    from safetensors.torch import save_file

    save_file(compact, str(tmp_path / "m.safetensors"))
    loaded = load_state_dict(tmp_path / "m.safetensors")
    assert set(loaded) == set(trainer.model.state_dict())


def test_fine_tuning_stage_starts_from_previous_run(sampler, tmp_path, monkeypatch):
    import hmxai.train.codec as codec
    import hmxai.train.data as data
    from hmxai.train.codec import train_zoo
    from hmxai.train.export import export_zoo, quality_facts

    first = tmp_path / "first"
    (first / "q1").mkdir(parents=True)
    base = CodecTrainer(TINY, 1, sampler, first / "q1")
    base.run(progress=False)
    (first / "q1" / "summary.json").write_text(json.dumps(base.summary()))
    (first / "config.json").write_text(json.dumps(TINY.to_dict()))
    stage = replace(TINY, warm_start=(None, None), init_from=str(first), stage_steps=(2, 3))
    with pytest.raises(ValueError, match="warm_start must be all null"):
        replace(TINY, init_from=str(first))
    with pytest.raises(FileNotFoundError, match="q2"):  # q2 of the first run never finished
        monkeypatch.setattr(data, "training_paths", lambda root, folders: [])
        monkeypatch.setattr(codec, "CropSampler", lambda paths: sampler)
        train_zoo(stage, "unused", tmp_path / "second", progress=False)
    second = tmp_path / "second"
    trainer = CodecTrainer(stage, 1, sampler, second / "q1", init_state=torch.load(
        first / "q1" / "state.pt", weights_only=True)["model"])
    assert trainer.total == 2
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, base.model.state_dict()[key]), key
    trainer.run(progress=False)
    (second / "q1" / "summary.json").write_text(json.dumps(trainer.summary()))
    (second / "config.json").write_text(json.dumps(stage.to_dict()))
    facts = quality_facts(second, 1)
    assert facts["steps"] == TINY.steps + 2 and [s["steps"] for s in facts["stages"]] == [TINY.steps, 2]
    assert facts["warm_start"] is None and facts["stages"][0]["run"] == "first"
    with pytest.raises(FileNotFoundError, match="quality 2"):
        export_zoo(second, tmp_path / "zoo")

