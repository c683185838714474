"""Rate-distortion evaluation of a codec over a set of images (Kodak for the model card).

Per image: estimated bpp (learned codecs), measured bpp from the real
bytes, PSNR and MS-SSIM of the decoded image, encode and decode time.
Curves average bpp and quality over images per quality, as CompressAI's
published results do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from hmxai.codecs.base import Codec


def evaluate_codec(codec: Codec, paths: Sequence[Path], progress: bool = False) -> List[Dict]:
    """One row per image (see the module docstring)."""
    from tqdm.auto import tqdm

    from hmxai.pipeline import decode

    rows = []
    for path in tqdm(list(paths), desc=f"{codec.name} q{codec.quality}", disable=not progress):
        r = decode(path, codec)
        rows.append({"image": Path(path).name, **r.metrics.to_dict(),
                     "encode_seconds": r.encode_seconds, "decode_seconds": r.decode_seconds})
    return rows


def summarize(rows: Sequence[Dict]) -> Dict:
    """Means over images (bpp, PSNR, MS-SSIM, times)."""
    out = {}
    for key in ("estimated_bpp", "measured_bpp", "psnr", "ms_ssim", "encode_seconds", "decode_seconds"):
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    out["images"] = len(rows)
    return out
