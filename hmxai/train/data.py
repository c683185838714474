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

HOLDOUT_EVERY = 5
_EXTENSIONS = (".jpg", ".jpeg", ".png")


def imagenet_split(folder: str | Path) -> Tuple[List[Path], List[Path]]:
    """(train, held-out) ImageNet sample paths under the fixed split."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in _EXTENSIONS)
    train = [p for i, p in enumerate(paths) if i % HOLDOUT_EVERY != 0]
    held = [p for i, p in enumerate(paths) if i % HOLDOUT_EVERY == 0]
    return train, held


def training_paths(root: str | Path, folders: Sequence[str]) -> List[Path]:
    """Training images under ``root``; the ImageNet folder contributes its train part only."""
    root = Path(root)
    out: List[Path] = []
    for name in folders:
        folder = root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"training folder {str(folder)!r} does not exist")
        if "imagenet" in name:
            out += imagenet_split(folder)[0]
        else:
            out += sorted(p for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)
    if "kodak" in " ".join(str(p).lower() for p in out):
        raise ValueError("Kodak is for evaluation only; remove it from the training folders")
    return out


class CropSampler:
    """All training images in memory (uint8), random crops + horizontal flips."""

    def __init__(self, paths: Sequence[Path]):
        from hmxai.images import load_image

        self.images: List[Tensor] = []
        for p in paths:
            x = load_image(p)[0]
            self.images.append((x * 255).round().to(torch.uint8))
        if not self.images:
            raise ValueError("no training images")

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, crop: int, generator: torch.Generator) -> Tensor:
        """(batch, 3, crop, crop) float in [0, 1]; images smaller than the crop are skipped."""
        eligible = [im for im in self.images if min(im.shape[-2:]) >= crop]
        if not eligible:
            raise ValueError(f"no training image is at least {crop} pixels on each side")
        out = torch.empty(batch, 3, crop, crop)
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
