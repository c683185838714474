"""Training checkpoints: written atomically, read back without unpickling code."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch

from hmxai.errors import CheckpointError


def save_state(state: Dict, path: Path) -> None:
    """Write ``state`` to ``path`` through a temporary file: a crash never leaves half a checkpoint."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_state(path: Path, device) -> Dict:
    """A checkpoint written by :func:`save_state` (tensors and plain values only: ``weights_only=True``);
    a truncated, corrupted or foreign file is a :class:`~hmxai.errors.CheckpointError` naming it."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise CheckpointError(f"the training checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); delete it to start the run again, or restore it") from exc
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{str(path)!r} is not an hmxai training checkpoint")
    return state
