"""Readers for the evaluation folders (Kodak, ImageNet samples) used by tests and benchmarks.

Users point these at their own copies; hmxai never downloads them. The
root usually comes from the ``HMXAI_DATA`` setting (:func:`data_root`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Tuple

from hmxai.errors import HmxaiError

#: the fixed ImageNet split: the image at sorted position i is held out when i % HOLDOUT_EVERY == 0
HOLDOUT_EVERY = 5


def fixed_split(paths) -> Tuple[List[Path], List[Path]]:
    """(train, held-out) of ``paths`` under the fixed split, in sorted order (150 of the 750 held out)."""
    paths = sorted(Path(p) for p in paths)
    return ([p for i, p in enumerate(paths) if i % HOLDOUT_EVERY != 0],
            [p for i, p in enumerate(paths) if i % HOLDOUT_EVERY == 0])


def data_root(root: Optional[str | os.PathLike] = None) -> Path:
    """``root`` or ``$HMXAI_DATA``; a clear error if neither names a folder."""
    value = root if root is not None else os.environ.get("HMXAI_DATA")
    if value is None:
        raise HmxaiError("no data folder: pass root=... or set HMXAI_DATA")
    path = Path(value)
    if not path.is_dir():
        raise HmxaiError(f"data folder {str(path)!r} does not exist")
    return path


def kodak_paths(root: Optional[str | os.PathLike] = None) -> List[Path]:
    """The 24 Kodak images, ``kodim01.png`` .. ``kodim24.png``, sorted."""
    paths = sorted((data_root(root) / "kodak").glob("kodim*.png"))
    if not paths:
        raise HmxaiError(f"no kodim*.png in {data_root(root) / 'kodak'}")
    return paths


def imagenet_samples(root: Optional[str | os.PathLike] = None) -> List[Tuple[Path, int]]:
    """(path, class index) of the ImageNet samples, sorted by wordnet id."""
    folder = data_root(root) / "imagenet-samples"
    index = json.loads((folder / "imagenet_class_index.json").read_text())
    wnid_to_class = {wnid: int(k) for k, (wnid, _) in index.items()}
    return [(p, wnid_to_class[p.stem]) for p in sorted(folder.glob("*.JPEG"))]
