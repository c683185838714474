"""Shared fixtures. The whole suite runs with the network off: a guard refuses
every socket connection that is not to this machine, so any hidden download
fails the test that tried it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def no_network():
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")):
            return real_connect(self, address)
        raise ConnectionRefusedError(f"network disabled in tests: connection to {address!r}")

    socket.socket.connect = guarded
    os.environ["HMXAI_OFFLINE"] = "1"
    yield
    socket.socket.connect = real_connect


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder, from HMXAI_DATA (make test sets it)."""
    value = os.environ.get("HMXAI_DATA")
    if not value:
        pytest.fail("HMXAI_DATA is not set: point it at the shared data folder (make test does)")
    root = Path(value)
    if not (root / "kodak").is_dir():
        pytest.fail(f"HMXAI_DATA={value} has no kodak/ folder")
    return root


@pytest.fixture(scope="session")
def chelsea():
    """(1, 3, 300, 451) embedded sample."""
    from hmxai.samples import sample_image

    return sample_image("chelsea")


@pytest.fixture(scope="session")
def small(chelsea):
    """A 64x96 crop (odd sizes elsewhere): fast for every codec, needs padding for learned ones."""
    return chelsea[..., 100:164, 150:246].contiguous()


@pytest.fixture(scope="session")
def kodak_crops(data_root):
    """Two 192x256 crops of real Kodak images."""
    from hmxai.images import load_image

    crops = []
    for name in ("kodim05.png", "kodim23.png"):
        x = load_image(data_root / "kodak" / name)
        crops.append(x[..., 100:292, 200:456].contiguous())
    return crops


@pytest.fixture(scope="session")
def lite0():
    from hmxai.tasks import create_task

    return create_task("efficientnet-lite0")


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
