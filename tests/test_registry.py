"""Contract tests parametrized over every registered codec and task."""

import pytest
import torch

from hmxai.codecs import CODECS, create_codec, list_codecs
from hmxai.codecs.base import Codec
from hmxai.codecs.classical import CLASSICAL_CODECS
from hmxai.codecs.learned import LearnedCodec
from hmxai.codecs.vbr import VariableRateCodec
from hmxai.errors import NoLatentError, UnknownNameError
from hmxai.registry import Registry
from hmxai.tasks import TASKS, list_tasks
from hmxai.types import EncodedImage, LatentResult

ALL_CODECS = list_codecs()
LEARNED = list_codecs(learned=True)
CLASSICAL = list_codecs(learned=False)


def test_registry_contents_and_wildcards():
    assert set(LEARNED) == {
        "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
        "cheng2020-anchor", "cheng2020-attn", "hmxai-msh", "hmxai-vbr", "hmxai-hm",
    }
    assert set(CLASSICAL) == {"jpeg", "webp", "jpeg2000", "avif", "heif"}
    assert list_codecs("mbt*") == ["mbt2018", "mbt2018-mean"]
    assert list_codecs("*2020*") == ["cheng2020-anchor", "cheng2020-attn"]
    assert list_tasks("resnet*") == ["resnet18", "resnet50"]
    assert list_codecs("nothing*") == []


def test_registry_rejects_bad_names_and_suggests():
    reg = Registry("thing")
    with pytest.raises(ValueError, match="kebab-case"):
        reg.register("Bad_Name", lambda: None)
    reg.register("good-name", lambda: 1)
    with pytest.raises(ValueError, match="already"):
        reg.register("good-name", lambda: 2)
    with pytest.raises(UnknownNameError, match="did you mean good-name"):
        reg.create("good-nam")
    with pytest.raises(UnknownNameError, match="did you mean jpeg"):
        create_codec("jpg")


@pytest.mark.parametrize("name", ALL_CODECS)
def test_codec_contract(name, small):
    entry = CODECS.entry(name)
    codec = create_codec(name)
    expected_type = LearnedCodec if entry.facts["learned"] else CLASSICAL_CODECS[name]
    if entry.facts.get("continuous"):
        expected_type = VariableRateCodec
    assert codec.continuous is bool(entry.facts.get("continuous"))
    assert type(codec) is expected_type  # exact type: a factory cannot build the wrong model
    assert codec.name == name and isinstance(codec, Codec)
    assert codec.has_latent is entry.facts["learned"]
    assert codec.quality == entry.facts["default_quality"]
    assert tuple(codec.quality_range) == tuple(entry.facts["quality_range"])
    enc = codec.compress(small)
    assert type(enc) is EncodedImage and isinstance(enc.payload, bytes) and len(enc.payload) > 0
    assert enc.codec == name and enc.image_size == (64, 96)
    x_hat = codec.decompress(enc)
    assert x_hat.shape == small.shape and x_hat.dtype == torch.float32
    assert 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    if codec.has_latent:
        r = codec.analyze(small)
        assert type(r) is LatentResult and r.codec == name
        assert r.bits_per_channel.shape == (1, r.y_hat.shape[1])
        assert r.bits_per_position.shape == (1, *r.y_hat.shape[-2:])
    else:
        with pytest.raises(NoLatentError, match="no learned latent"):
            codec.analyze(small)


@pytest.mark.parametrize("name", ALL_CODECS)
def test_codec_quality_range_enforced(name):
    lo, hi = CODECS.entry(name).facts["quality_range"]
    assert create_codec(name, quality=lo).quality == lo
    continuous = CODECS.entry(name).facts.get("continuous", False)
    for bad in (lo - 1, hi + 1, "3", float("nan")) + (() if continuous else (2.5,)):
        with pytest.raises(ValueError, match="quality"):
            create_codec(name, quality=bad)
    if continuous:  # a variable-rate codec takes any quality in its range, fractions too
        assert create_codec(name, quality=lo + 0.5).quality == lo + 0.5


def test_learned_architectures_match_their_names():
    """Each name builds its paper's model: the expected classes are written out here, not read
    from the table the factories use."""
    from compressai.models import (
        Cheng2020Anchor,
        Cheng2020Attention,
        FactorizedPrior,
        JointAutoregressiveHierarchicalPriors,
        MeanScaleHyperprior,
        ScaleHyperprior,
    )

    from hmxai.codecs.vbr_model import VariableRateMSH

    expected = {
        "bmshj2018-factorized": FactorizedPrior,
        "bmshj2018-hyperprior": ScaleHyperprior,
        "mbt2018-mean": MeanScaleHyperprior,
        "mbt2018": JointAutoregressiveHierarchicalPriors,
        "cheng2020-anchor": Cheng2020Anchor,
        "cheng2020-attn": Cheng2020Attention,
        "hmxai-msh": MeanScaleHyperprior,
        "hmxai-vbr": VariableRateMSH,
        "hmxai-hm": VariableRateMSH,
    }
    assert set(expected) == set(LEARNED)
    for name, cls in expected.items():
        assert type(create_codec(name, quality=1).model) is cls, name


@pytest.mark.parametrize("name", list_tasks())
def test_task_contract(name, small):
    from hmxai.tasks.base import TaskModel

    task = TASKS.create(name, pretrained=(name == "efficientnet-lite0"))
    assert type(task) is TaskModel and task.name == name
    assert task.num_classes == 1000 and task.target_layer is not None
    logits = task(small)
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    assert not task.training
