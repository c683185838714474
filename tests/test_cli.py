"""The hmxai command, run as a user runs it: a separate process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image


def hmxai(*args, check=True):
    env = {**os.environ, "HMXAI_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hmxai.cli", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def image_file(tmp_path_factory, chelsea):
    from hmxai.images import to_pil

    path = tmp_path_factory.mktemp("img") / "cat.png"
    to_pil(chelsea[..., :96, :128]).save(path)
    return path


@pytest.mark.slow
def test_info_json():
    info = json.loads(hmxai("info", "--json").stdout)
    names = {c["name"]: c for c in info["codecs"]}
    assert names["jpeg"]["weights"]["available_offline"] is True
    assert "cache_folder" in names["mbt2018-mean"]["weights"]
    tasks = {t["name"]: t for t in info["tasks"]}
    assert tasks["efficientnet-lite0"]["weights"]["available_offline"] is True
    assert info["versions"]["compressai"] == "1.2.8"


@pytest.mark.slow
@pytest.mark.parametrize("codec, quality", [("jpeg", 30), ("mbt2018-mean", 1)])
def test_compress_decompress_round_trip(tmp_path, image_file, codec, quality):
    from hmxai.codecs import create_codec, read_compressed
    from hmxai.images import load_image, to_uint8

    out = tmp_path / "c.hmx"
    meta = json.loads(hmxai("compress", image_file, out, "--codec", codec, "--quality", quality, "--json").stdout)
    assert meta["file_bytes"] == out.stat().st_size and meta["codec"] == codec
    dec = json.loads(hmxai("decompress", out, tmp_path / "d.png", "--json").stdout)
    assert (dec["width"], dec["height"]) == (128, 96)
    expected = create_codec(codec, quality=quality).decompress(read_compressed(out))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d.png")), to_uint8(expected))
    assert meta["measured_bpp"] == read_compressed(out).measured_bpp


@pytest.mark.slow
def test_corrupted_and_truncated_files_exit_cleanly(tmp_path, image_file):
    out = tmp_path / "c.hmx"
    hmxai("compress", image_file, out, "--codec", "webp")
    data = out.read_bytes()
    for name, blob in (("trunc.hmx", data[: len(data) // 2]), ("flip.hmx", data[:50] + bytes([data[50] ^ 1]) + data[51:]),
                       ("empty.hmx", b"")):
        (tmp_path / name).write_bytes(blob)
        proc = hmxai("decompress", tmp_path / name, tmp_path / "x.png", check=False)
        assert proc.returncode == 2, proc.stderr
        assert "error" in proc.stderr and "Traceback" not in proc.stderr
        proc = hmxai("decompress", tmp_path / name, tmp_path / "x.png", "--json", check=False)
        assert proc.returncode == 2 and json.loads(proc.stdout)["type"] == "BitstreamError"
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_bad_inputs_exit_cleanly(tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    cases = [
        ("compress", tmp_path / "bad.png", tmp_path / "o.hmx"),
        ("compress", tmp_path / "missing.png", tmp_path / "o.hmx"),
        ("run", tmp_path / "bad.png"),
        ("compress", tmp_path / "bad.png", tmp_path / "o.hmx", "--codec", "jpg"),
        ("compress", tmp_path / "bad.png", tmp_path / "o.hmx", "--codec", "jpeg", "--quality", "500"),
        ("run", tmp_path / "bad.png", "--codec", "mbt2018-mean", "--pretrained"),
    ]
    for args in cases:
        proc = hmxai(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("hmxai ")


@pytest.mark.slow
def test_pixel_limit_flag(image_file, tmp_path):
    proc = hmxai("compress", image_file, tmp_path / "o.hmx", "--max-pixels", "1000", check=False)
    assert proc.returncode == 2 and "over the limit" in proc.stderr


@pytest.mark.slow
def test_run_json_separates_estimated_and_measured(image_file):
    """measured_bpp counts the bitstream's bytes, estimated_bpp the entropy model's likelihoods."""
    from hmxai.codecs import create_codec
    from hmxai.images import load_image

    out = json.loads(hmxai("run", image_file, "--codec", "bmshj2018-hyperprior", "--quality", "1", "--json").stdout)
    (r,) = out["results"]
    codec, x = create_codec("bmshj2018-hyperprior", quality=1), load_image(image_file)
    assert r["measured_bpp"] == 8 * len(codec.compress(x).payload) / (96 * 128)
    assert r["estimated_bpp"] == pytest.approx(float(codec.analyze(x).estimated_bpp[0]), rel=1e-9)
    assert r["estimated_bpp"] != r["measured_bpp"]
    out = json.loads(hmxai("run", image_file, "--codec", "jpeg", "--label", "281", "--json").stdout)
    assert out["results"][0]["estimated_bpp"] is None and out["results"][0]["label"] == 281


@pytest.mark.slow
def test_run_without_image_uses_embedded_samples():
    proc = hmxai("run", "--codec", "jpeg", "--quality", "40")
    for name in ("chelsea", "coffee", "astronaut"):
        assert f"image        {name}" in proc.stdout
    assert "bpp measured" in proc.stdout and "top-1 agrees" in proc.stdout


@pytest.mark.slow
def test_demo_quick_and_figures_regenerate(tmp_path):
    out = json.loads(hmxai("demo", "--quick", "--out", tmp_path / "r", "--json").stdout)
    assert out["runs"] == 4 and out["computed"] == 4
    for name in ("report.md", "results.parquet", "sweep/manifest.json", "figures/rd_psnr_samples.pdf",
                 "figures/rate_agreement_samples_efficientnet-lite0.png", "figures/channels.png", "figures/gradcam.svg"):
        assert (tmp_path / "r" / name).stat().st_size > 0, name
    page = (tmp_path / "r" / "report.md").read_text()
    for section in ("Two audiences", "Which bits serve whom", "Where the machine looks"):
        assert section in page
    again = json.loads(hmxai("demo", "--quick", "--out", tmp_path / "r", "--json").stdout)
    assert again["computed"] == 0  # the rows are reused
    figs = json.loads(hmxai("figures", tmp_path / "r" / "sweep", "--out", tmp_path / "f", "--json").stdout)
    assert "rd_psnr_samples" in figs["figures"] and all(os.path.getsize(p) > 0 for ps in figs["figures"].values() for p in ps)
    assert (tmp_path / "f" / "rd_psnr_samples.png").read_bytes() == (tmp_path / "r" / "figures" / "rd_psnr_samples.png").read_bytes()
    (tmp_path / "junk.json").write_text("[]")
    assert hmxai("figures", tmp_path / "junk.json", check=False).returncode == 2


def test_only_callers_errors_exit_2_and_bugs_show_their_traceback(monkeypatch, capsys):
    """HmxaiError (and a path the caller named) -> one line, status 2; anything else is a bug: it propagates."""
    from hmxai import cli
    from hmxai.errors import InvalidArgumentError

    def raising(exc):
        def command(args):
            raise exc
        return command

    monkeypatch.setattr(cli, "cmd_info", raising(InvalidArgumentError("a setting is out of range")))
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err.strip() == "hmxai info: error: a setting is out of range"
    monkeypatch.setattr(cli, "cmd_info", raising(FileNotFoundError(2, "No such file", "/no/such/out.hmx")))
    assert cli.main(["info", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["type"] == "FileNotFoundError"
    for bug in (ValueError("internal"), OSError("no path named"), KeyError("x")):
        monkeypatch.setattr(cli, "cmd_info", raising(bug))
        with pytest.raises(type(bug)):
            cli.main(["info"])


def test_every_deliberate_raise_is_an_hmxai_error():
    """Library code raises hmxai's errors (each still a ValueError/TypeError/... subclass), never bare built-ins."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "hmxai"
    bare = re.compile(r"raise (ValueError|TypeError|FileNotFoundError|KeyError|OSError)\(")
    hits = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if bare.search(line)]
    assert not hits, hits
