"""Images that ship with a dependency (scikit-image), so demos run offline with no data."""

from __future__ import annotations

from typing import Dict, Tuple

from torch import Tensor

#: the embedded default images: name -> what they show
SAMPLES = {
    "chelsea": "a tabby cat (scikit-image, 451x300)",
    "coffee": "a cup of coffee (scikit-image, 600x400)",
    "astronaut": "astronaut Eileen Collins (scikit-image, 512x512)",
}


def sample_image(name: str) -> Tensor:
    """One embedded sample as (1, 3, H, W) in [0, 1]."""
    from skimage import data

    from hmxai.errors import UnknownNameError
    from hmxai.images import load_image

    if name not in SAMPLES:
        raise UnknownNameError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    return load_image(getattr(data, name)())


def sample_images() -> Dict[str, Tensor]:
    return {name: sample_image(name) for name in SAMPLES}


def sample_names() -> Tuple[str, ...]:
    return tuple(SAMPLES)
