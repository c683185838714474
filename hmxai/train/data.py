"""Training data: a fixed, documented split, and random crops drawn from a seeded generator.

The split (never Kodak, which is for evaluation only):

* ImageNet samples, sorted by file name (the wordnet id): the image at
  sorted position ``i`` is **held out** for machine-side evaluation when
  ``i % 5 == 0`` (150 images), and used for training otherwise (600);
* all COCO-tiny ``val2017`` images (80) are used for training.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError, MissingFileError

from hmxai.datasets import HOLDOUT_EVERY, fixed_split  # noqa: F401  (the split is defined once)

_EXTENSIONS = (".jpg", ".jpeg", ".png")


def imagenet_split(folder: str | Path) -> Tuple[List[Path], List[Path]]:
    """(train, held-out) ImageNet sample paths under the fixed split."""
    return fixed_split(p for p in Path(folder).iterdir() if p.suffix.lower() in _EXTENSIONS)


def training_paths(root: str | Path, folders: Sequence[str]) -> List[Path]:
    """Training images under ``root``; the ImageNet folder contributes its train part only."""
    root = Path(root)
    out: List[Path] = []
    for name in folders:
        folder = root / name
        if not folder.is_dir():
            raise MissingFileError(f"training folder {str(folder)!r} does not exist")
        if "imagenet" in name:
            out += imagenet_split(folder)[0]
        else:
            out += sorted(p for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)
    if "kodak" in " ".join(str(p).lower() for p in out):
        raise InvalidArgumentError("Kodak is for evaluation only; remove it from the training folders")
    return out


def shrink_factors(paths: Sequence[Path], rules: Sequence[Tuple[str, float, float]], max_side: int,
                   sizes: Sequence[Tuple[int, int]], seed: int) -> List[float]:
    """Per image, the factor it is shrunk by before cropping (1.0: kept as is).

    ``rules``: (folder, low, high): an image whose path contains ``folder`` gets a factor drawn
    once, seeded by ``seed`` and its position, in [low, high]. ``max_side``: then no side
    exceeds it (0: no limit). ``sizes``: each image's (height, width).
    """
    gen = torch.Generator().manual_seed(seed)
    draws = torch.rand(len(paths), generator=gen, dtype=torch.float64).tolist()
    out = []
    for p, (h, w), u in zip(paths, sizes, draws):
        f = 1.0
        for folder, lo, hi in rules:
            if f"/{folder.strip('/')}/" in f"/{Path(p).as_posix()}":
                f = lo + (hi - lo) * u
                break
        if max_side and max(h, w) * f > max_side:
            f = max_side / max(h, w)
        out.append(f)
    return out


def load_uint8(path: Path, factor: float = 1.0) -> Tensor:
    """(3, H, W) uint8 of an image file, shrunk by ``factor`` (antialiased bicubic) when < 1."""
    import torch.nn.functional as F

    from hmxai.images import load_image

    x = load_image(path)
    if factor < 1.0:
        h, w = x.shape[-2:]
        size = (max(1, round(h * factor)), max(1, round(w * factor)))
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp_(0, 1)
    return (x[0] * 255).round().to(torch.uint8)


def image_sizes(paths: Sequence[Path]) -> List[Tuple[int, int]]:
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append((im.height, im.width))
    return out


class CropSampler:
    """All training images in memory (uint8), random crops + horizontal flips.

    ``rules``/``max_side``/``seed``: images shrunk once at load (see :func:`shrink_factors`).
    ``threads``: images decoded in parallel. ``device``: where the images (and crops) live.
    """

    def __init__(self, paths: Sequence[Path], rules: Sequence[Tuple[str, float, float]] = (),
                 max_side: int = 0, seed: int = 0, threads: int = 1, device: str = "cpu"):
        paths = list(paths)
        factors = [1.0] * len(paths)
        if rules or max_side:
            factors = shrink_factors(paths, rules, max_side, image_sizes(paths), seed)
        self.factors = factors
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                images = list(pool.map(load_uint8, paths, factors))
        else:
            images = [load_uint8(p, f) for p, f in zip(paths, factors)]
        self.images: List[Tensor] = [im.to(device) for im in images]
        self.device = torch.device(device)
        if not self.images:
            raise InvalidArgumentError("no training images")

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, crop: int, generator: torch.Generator) -> Tensor:
        """(batch, 3, crop, crop) float in [0, 1]; images smaller than the crop are skipped."""
        eligible = [im for im in self.images if min(im.shape[-2:]) >= crop]
        if not eligible:
            raise InvalidArgumentError(f"no training image is at least {crop} pixels on each side")
        out = torch.empty(batch, 3, crop, crop, device=eligible[0].device)
        for b in range(batch):
            i = int(torch.randint(len(eligible), (1,), generator=generator))
            im = eligible[i]
            top = int(torch.randint(im.shape[-2] - crop + 1, (1,), generator=generator))
            left = int(torch.randint(im.shape[-1] - crop + 1, (1,), generator=generator))
            patch = im[:, top : top + crop, left : left + crop]
            if bool(torch.randint(2, (1,), generator=generator)):
                patch = patch.flip(-1)
            out[b] = patch.float() / 255.0
        return out
