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

    from hmxai.images import load_image
    from hmxai.metrics import ms_ssim, psnr

    rows = []
    for path in tqdm(list(paths), desc=f"{codec.name} q{codec.quality}", disable=not progress):
        x = load_image(path)
        enc, x_hat, encode_seconds, decode_seconds = codec.roundtrip(x)
        est = float(codec.analyze(x).estimated_bpp[0]) if codec.has_latent else None
        rows.append({
            "image": Path(path).name,
            "bpp_estimated": est,
            "bpp_measured": enc.measured_bpp,
            "psnr": float(psnr(x, x_hat)[0]),
            "ms_ssim": float(ms_ssim(x, x_hat)[0]),
            "encode_seconds": encode_seconds,
            "decode_seconds": decode_seconds,
        })
    return rows


def summarize(rows: Sequence[Dict]) -> Dict:
    """Means over images (bpp, PSNR, MS-SSIM, times)."""
    out = {}
    for key in ("bpp_estimated", "bpp_measured", "psnr", "ms_ssim", "encode_seconds", "decode_seconds"):
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    out["images"] = len(rows)
    return out
