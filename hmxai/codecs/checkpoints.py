"""Safe loading of weight files: safetensors, or torch files with ``weights_only=True``.

Nothing here ever unpickles arbitrary objects: a tampered file is refused
before any of its code could run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import torch
from torch import Tensor

from hmxai.errors import CheckpointError


def load_state_dict(path: str | os.PathLike) -> Dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file, safely.

    Accepts a bare state dict or the common ``{"state_dict": ...}`` wrapper
    (CompressAI's training script writes that). Half-precision tensors are
    returned as float32.

    Raises:
        CheckpointError: missing, truncated, tampered, or not a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # every failure to parse is the file's fault, not ours
        raise CheckpointError(
            f"checkpoint {str(path)!r} could not be read safely ({type(exc).__name__}: "
            f"{str(exc)[:300]}); it is truncated, corrupted, or holds more than tensors. "
            "hmxai loads weights only (safetensors or torch weights_only=True), "
            "so nothing in the file was executed"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"checkpoint {str(path)!r} does not hold a state dict of tensors")
    return {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in state.items()}
