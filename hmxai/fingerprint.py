"""Short content hashes: of tensors' bytes (an image) or of a module's parameters and buffers.

The explorer's cache keys and a sweep's provenance columns use the same hash, so a weights id
in a results table can be matched against the model that made it.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import torch


def fingerprint(*arrays: Iterable) -> str:
    """Short SHA-1 of tensors' bytes (image) or of a module's parameters and buffers."""
    digest = hashlib.sha1()
    for a in arrays:
        if isinstance(a, torch.nn.Module):
            for key, value in sorted(a.state_dict().items()):
                digest.update(key.encode())
                digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        else:
            t = torch.as_tensor(a).detach().cpu().contiguous()
            digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:16]
