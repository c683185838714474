"""Weights: local checkpoints, CompressAI's pretrained path through its cache, and safety."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from hmxai.codecs import create_codec
from hmxai.codecs.compressai_zoo import pretrained_cache_path
from hmxai.errors import CheckpointError, WeightsUnavailableError


@pytest.fixture(scope="module")
def reference():
    return create_codec("bmshj2018-factorized", quality=1)


def test_torch_checkpoint_loads_same_weights(tmp_path, reference, small):
    path = tmp_path / "model.pth.tar"
    torch.save({"epoch": 3, "state_dict": reference.model.state_dict()}, path)
    codec = create_codec("bmshj2018-factorized", quality=1, checkpoint=path)
    assert codec.weights_id == reference.weights_id
    assert codec.weights == f"checkpoint:{path}"
    enc = reference.compress(small)
    assert torch.equal(codec.decompress(enc), reference.decompress(enc))


def test_safetensors_fp16_checkpoint(tmp_path, reference, small):
    from safetensors.torch import save_file

    state = {k: v.half() if v.is_floating_point() else v for k, v in reference.model.state_dict().items()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    codec = create_codec("bmshj2018-factorized", quality=1, checkpoint=tmp_path / "m.safetensors")
    r = codec.analyze(small)
    assert torch.isfinite(r.x_hat).all()
    enc = codec.compress(small)
    assert torch.equal(codec.decompress(enc), r.x_hat)


def test_truncated_checkpoint(tmp_path, reference):
    path = tmp_path / "t.pth"
    torch.save(reference.model.state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated, corrupted"):
        create_codec("bmshj2018-factorized", checkpoint=path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_tampered_checkpoint_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Exploit(str(marker))}, path)
    with pytest.raises(CheckpointError, match="nothing in the file was executed"):
        create_codec("bmshj2018-factorized", checkpoint=path)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(CheckpointError):
        create_codec("bmshj2018-factorized", checkpoint=raw)
    assert not marker.exists()


def test_checkpoint_of_another_architecture(tmp_path, reference):
    path = tmp_path / "f.pth"
    torch.save(reference.model.state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit architecture mbt2018-mean"):
        create_codec("mbt2018-mean", checkpoint=path)
    (tmp_path / "none.pth").write_bytes(b"")
    with pytest.raises(CheckpointError):
        create_codec("mbt2018-mean", checkpoint=tmp_path / "none.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        create_codec("mbt2018-mean", checkpoint=tmp_path / "missing.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="state dict"):
        create_codec("mbt2018-mean", checkpoint=tmp_path / "list.pth")


def test_pretrained_offline_names_folder_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    expected = pretrained_cache_path("mbt2018-mean", 2, "mse")
    assert str(tmp_path / "th") in str(expected)
    with pytest.raises(WeightsUnavailableError) as info:
        create_codec("mbt2018-mean", quality=2, pretrained=True)
    assert expected.name in str(info.value) and str(expected.parent) in str(info.value)


def test_pretrained_download_failure_is_clear(tmp_path, monkeypatch):
    """Without HMXAI_OFFLINE the loader tries; the network guard refuses, the message is ours."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.delenv("HMXAI_OFFLINE")
    with pytest.raises(WeightsUnavailableError, match="could not be loaded or downloaded"):
        create_codec("bmshj2018-hyperprior", quality=1, pretrained=True)


def test_pretrained_from_filled_cache_goes_through_compressai(tmp_path, monkeypatch, small):
    """A file in the torch hub cache is loaded by CompressAI's own loader, no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    source = create_codec("bmshj2018-hyperprior", quality=1)
    path = pretrained_cache_path("bmshj2018-hyperprior", 1, "mse")
    path.parent.mkdir(parents=True)
    torch.save(source.model.state_dict(), path)
    codec = create_codec("bmshj2018-hyperprior", quality=1, pretrained=True)
    assert codec.weights.startswith("compressai-pretrained")
    assert codec.weights_id == source.weights_id
    enc = codec.compress(small)
    assert torch.equal(codec.decompress(enc), source.decompress(enc))
    # a corrupted cached file is a clear error too
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cached file"):
        create_codec("bmshj2018-hyperprior", quality=1, pretrained=True)


def test_network_guard_is_active():
    import socket

    with pytest.raises(ConnectionRefusedError, match="network disabled"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert os.environ["HMXAI_OFFLINE"] == "1"
