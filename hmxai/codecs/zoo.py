"""hmxai's own pretrained codecs, shipped as package data and loaded offline.

``hmxai-msh`` is a mean-scale hyperprior (Minnen et al. 2018, CompressAI's
``MeanScaleHyperprior``) trained by ``hmxai train codec configs/zoo-msh.json``
on ImageNet samples and COCO images (never Kodak). Weights are fp16
safetensors in ``hmxai/zoo/``; they load with no network and no pickle, and
``update()`` rebuilds the entropy coder's tables at load time. The model
card (``docs/model-card.md``, ``hmxai info``) gives the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"


from hmxai.codecs.catalog import VARIABLE_RATE  # noqa: E402  (no torch: plain tables)
from hmxai.errors import InvalidArgumentError, WeightsUnavailableError


def zoo_weights_path(name: str, quality=None) -> Path:
    if name in VARIABLE_RATE:
        return ZOO_DIR / f"{name}.safetensors"
    return ZOO_DIR / f"{name}-q{quality}.safetensors"


def make_variable_rate_codec(name: str, quality, metric: str = "mse"):
    """The variable-rate zoo codec at a quality in [1, L], fractions allowed."""
    import json as _json

    from hmxai.codecs.vbr import VariableRateCodec
    from hmxai.codecs.vbr_model import VariableRateMSH

    if metric != "mse":
        raise InvalidArgumentError(f"{name} is trained for mse only, not {metric!r}")
    path = zoo_weights_path(name)
    if not path.is_file():
        raise WeightsUnavailableError(f"{name}: weights file {str(path)!r} is missing from this install")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        lambdas = _json.loads(f.metadata()["lambdas"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    model = VariableRateMSH.from_state_dict(state, lambdas)
    return VariableRateCodec(model.eval(), name, quality, f"hmxai zoo ({path.name})")


def zoo_card_path(name: str = "hmxai-msh") -> Path:
    return ZOO_DIR / ("card.json" if name == "hmxai-msh" else f"{name}-card.json")


def zoo_card(name: str = "hmxai-msh") -> Dict:
    """The shipped model card data (training facts and Kodak results) of a zoo codec."""
    path = zoo_card_path(name)
    if not path.is_file():
        raise WeightsUnavailableError(f"the hmxai zoo card {str(path)!r} is missing from this install")
    return json.loads(path.read_text())


def make_zoo_codec(name: str, quality: int, metric: str = "mse"):
    """Load a zoo codec at one quality as a :class:`~hmxai.codecs.learned.LearnedCodec`."""
    import warnings

    from hmxai.codecs.catalog import ZOO
    from hmxai.codecs.checkpoints import load_state_dict
    from hmxai.codecs.learned import LearnedCodec

    if name in VARIABLE_RATE:
        return make_variable_rate_codec(name, quality, metric)
    lo, hi = ZOO[name].quality_range
    if not isinstance(quality, int) or isinstance(quality, bool) or not lo <= quality <= hi:
        raise InvalidArgumentError(f"{name}: quality must be an integer in {lo}..{hi}, got {quality!r}")
    if metric != "mse":
        raise InvalidArgumentError(f"{name} is trained for mse only, not {metric!r}")
    path = zoo_weights_path(name, quality)
    if not path.is_file():
        raise WeightsUnavailableError(f"{name} quality {quality}: weights file {str(path)!r} is missing from this install")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from compressai.models import MeanScaleHyperprior
    model = MeanScaleHyperprior.from_state_dict(load_state_dict(path))
    return LearnedCodec(model, name, quality, (lo, hi), "mse", f"hmxai zoo ({path.name})")
