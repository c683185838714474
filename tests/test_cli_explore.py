"""``hmxai explore`` from the command line: one explorer view as JSON, the export, clean errors."""

import json
import os
import subprocess
import sys

import pytest


def hmxai(*args):
    env = {**os.environ, "HMXAI_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "hmxai.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_explore_json_matches_the_python_api(tmp_path):
    from hmxai.explore.cache import ByteLRU
    from hmxai.explore.engine import ExplorerEngine
    from hmxai.samples import sample_image
    from hmxai.images import fit_within as fit

    proc = hmxai("explore", "--max-side", 96, "--quality", 2, "--budget", 12, "--ordering", "bits",
                 "--toggle", 5, "--method", "hires-cam", "--json", "--export", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    from hmxai.codecs import DEFAULT_LEARNED_CODEC as default  # what the CLI explores with no --codec

    engine = ExplorerEngine(fit(sample_image("chelsea"), 96), codecs=[default], cache=ByteLRU())
    kept = engine.kept(default, 2, 12, "bits", [5])
    view = engine.view(default, 2, kept, "hires-cam")
    for key, value in view.to_dict().items():
        assert out[key] == value, key
    assert out["ladder"] == list(engine.qualities(default)) and out["notes"]["measured_bpp"]
    assert out["ladder"][:3] == [1, 1.25, 1.5]  # hmxai-vbr's continuous knob, in the explorer's steps
    assert sorted(p.rsplit(".", 1)[1] for p in out["exported"]) == ["json", "pdf", "png"]
    assert all(os.path.getsize(p) > 0 for p in out["exported"])


@pytest.mark.slow
def test_explore_classical_codec_and_errors():
    proc = hmxai("explore", "--max-side", 64, "--codec", "jpeg", "--quality", 40, "--method", "none", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["estimated_bpp"] is None and out["num_channels"] is None and out["measured_bpp"] > 0
    bad = hmxai("explore", "--max-side", 64, "--codec", "jpeg", "--quality", 41, "--json")
    assert bad.returncode == 2 and "not on the ladder" in json.loads(bad.stdout)["error"]
    bad = hmxai("explore", "--max-side", 64, "--codec", "jpeg", "--budget", 3, "--json")
    assert bad.returncode == 2 and "classical" in json.loads(bad.stdout)["error"]
    missing = hmxai("explore", "/no/such/image.png")
    assert missing.returncode == 2 and "error" in missing.stderr
