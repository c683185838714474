"""Every default quality ladder of hmxai, defined once (plain tables: no torch, no codec import).

``DEFAULT_QUALITIES``: the rungs of the explanations and the explorer when none are given (a learned
codec not listed: its whole range); ``DEMO_LADDER`` / ``QUICK_LADDER``: ``hmxai demo`` and its
``--quick`` form (the stored report numbers were measured on them).
"""

from __future__ import annotations

from typing import Dict, Tuple

#: qualities used when none are given (learned codecs: their whole range)
DEFAULT_QUALITIES: Dict[str, Tuple[int, ...]] = {
    "jpeg": (5, 10, 20, 40, 80),
    "webp": (5, 10, 20, 40, 80),
    "avif": (10, 25, 40, 55, 70),
    "heif": (10, 25, 40, 55, 70),
    "jpeg2000": (22, 27, 32, 37, 42),
}

DEMO_LADDER: Dict[str, Tuple[int, ...]] = {
    "hmxai-vbr": (1, 2, 3, 4, 5, 6),
    "jpeg": (10, 25, 50, 80),
    "webp": (10, 25, 50, 80),
    "jpeg2000": (26, 30, 34, 38),
    "avif": (20, 40, 60, 80),
    "heif": (20, 40, 60, 80),
}
QUICK_LADDER: Dict[str, Tuple[int, ...]] = {"hmxai-vbr": (1, 4), "jpeg": (20, 60)}
