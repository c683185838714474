"""Sweeps: config files, the Parquet store under kills and crashes, failures, engines, BD and figures."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hmxai.errors import InvalidArgumentError
from hmxai.sweep import SweepConfig, Store, run_sweep
from hmxai.sweep.unit import VOLATILE

TINY = """
name = "tiny"
out = "store"
anchor = "jpeg"
seed = 3
threads = 1
workers = 1
[codecs]
jpeg = [10, 30, 50, 70, 90]
webp = [20, 60]
hmxai-msh = [1, 3]
[[tasks]]
name = "efficientnet-lite0"
[[datasets]]
name = "samples"
samples = ["chelsea", "coffee"]
max_side = 64
"""


def write(tmp_path: Path, text: str = TINY, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def rows_of(config):
    frame = Store(config.out_dir).frame()
    return frame.drop(columns=list(VOLATILE)).reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny sweep, computed once in this process (serial engine)."""
    tmp = tmp_path_factory.mktemp("tiny")
    config = SweepConfig.from_file(write(tmp))
    summary = run_sweep(config, progress=False)
    return config, summary


# ---------------------------------------------------------------------- config
def test_toml_and_yaml_describe_the_same_sweep(tmp_path):
    yaml_text = """
name: tiny
out: store
anchor: jpeg
seed: 3
threads: 1
workers: 1
codecs: {jpeg: [10, 30, 50, 70, 90], webp: [20, 60], hmxai-msh: [1, 3]}
tasks: [efficientnet-lite0]
datasets:
  - {name: samples, samples: [chelsea, coffee], max_side: 64}
"""
    a = SweepConfig.from_file(write(tmp_path))
    b = SweepConfig.from_file(write(tmp_path, yaml_text, "sweep.yaml"))
    assert a.digest() == b.digest() and a.to_dict() == b.to_dict()
    assert a.codecs[2] == ("hmxai-msh", (1, 3)) and a.out_dir == tmp_path / "store"


def test_fractional_qualities_and_task_parameters(tmp_path):
    text = TINY.replace("hmxai-msh = [1, 3]", "hmxai-vbr = [1, 2.75, 6]").replace(
        '[[tasks]]\nname = "efficientnet-lite0"',
        '[[tasks]]\nname = "efficientnet-lite0"\n[[tasks]]\nname = "efficientnet-lite0-snn"\nsteps = 2')
    config = SweepConfig.from_file(write(tmp_path, text))
    assert dict(config.codecs)["hmxai-vbr"] == (1, 2.75, 6)
    assert [t.key for t in config.tasks] == ["efficientnet-lite0", "efficientnet-lite0-snn[steps=2]"]


@pytest.mark.parametrize("change, message", [
    (("seed = 3", "seed = 3\ncolour = 1"), "unknown sweep config keys"),
    (("webp = [20, 60]", "webp = [20, nan]"), "finite numbers"),
    (("webp = [20, 60]", "webp = [20, true]"), "finite numbers"),
    (("webp = [20, 60]", "webp = [20, 20]"), "twice"),
    (("webp = [20, 60]", "webp = []"), "no qualities"),
    (('samples = ["chelsea", "coffee"]', 'samples = ["chelsea"]\npath = "kodak"'), "exactly one of"),
    (("max_side = 64", 'max_side = 64\nsplit = "test"'), "split must be"),
    (("max_side = 64", 'max_side = 64\ntasks = ["resnet18"]'), "does not have"),
    (("max_side = 64", "max_side = 0"), "positive integer"),
    (("[codecs]", "[codec]"), "unknown sweep config keys"),
])
def test_bad_configs_give_clear_errors(tmp_path, change, message):
    with pytest.raises(InvalidArgumentError, match=message):
        SweepConfig.from_file(write(tmp_path, TINY.replace(*change)))


def test_unreadable_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot read sweep config"):
        SweepConfig.from_file(write(tmp_path, "name = [unclosed"))
    with pytest.raises(InvalidArgumentError, match="use a .toml"):
        SweepConfig.from_file(write(tmp_path, TINY, "sweep.ini"))


def test_adding_a_codec_keeps_the_stored_rows_and_computes_only_the_new_ones(tmp_path):
    """Rows are per (dataset, image, codec, quality): a codec added to the config adds its units; the
    stored rows stay (same digest, same values), and the stored sweep.toml becomes the new config."""
    small = TINY.replace("jpeg = [10, 30, 50, 70, 90]\nwebp = [20, 60]\nhmxai-msh = [1, 3]", "jpeg = [10, 50]")
    first = SweepConfig.from_file(write(tmp_path, small))
    assert run_sweep(first, progress=False).computed == 4
    before = rows_of(first)
    grown = SweepConfig.from_file(write(tmp_path, small.replace("jpeg = [10, 50]", "jpeg = [10, 50]\nwebp = [20]")))
    assert grown.digest() == first.digest()
    assert run_sweep(grown, progress=False).computed == 2
    after = rows_of(grown)
    kept = after[after["codec"] == "jpeg"].sort_values(["image", "quality"]).reset_index(drop=True)
    assert kept.equals(before.sort_values(["image", "quality"]).reset_index(drop=True))
    assert "webp" in (Path(grown.out_dir) / "sweep.toml").read_text()


def test_a_store_refuses_rows_of_another_sweep(tmp_path):
    config = SweepConfig.from_file(write(tmp_path))
    Store(config.out_dir).open_for("x", config.digest(), config.name)
    other = SweepConfig.from_file(write(tmp_path, TINY.replace("seed = 3", "seed = 4")))
    with pytest.raises(InvalidArgumentError, match="another sweep"):
        run_sweep(other, progress=False)


# ---------------------------------------------------------------------- rows
def test_rows_carry_metrics_and_provenance(tiny_run):
    from hmxai.codecs import create_codec
    from hmxai.fingerprint import fingerprint
    from hmxai.samples import sample_image
    from hmxai.tasks import create_task

    config, summary = tiny_run
    assert summary.units == 18 and summary.computed == 18 and summary.failed == 0
    frame = Store(config.out_dir).frame()
    assert len(frame) == 18 and set(frame["status"]) == {"ok"}
    assert frame.duplicated(["dataset", "image", "codec", "quality", "task"]).sum() == 0
    msh = frame[frame["codec"] == "hmxai-msh"].iloc[0]
    assert msh["codec_weights_id"] == create_codec("hmxai-msh", quality=int(msh["quality"])).weights_id
    assert msh["estimated_bpp"] > 0 and np.isnan(frame[frame["codec"] == "jpeg"]["estimated_bpp"]).all()
    assert msh["task_weights_id"] == fingerprint(create_task("efficientnet-lite0"))
    x = sample_image(msh["image"])
    assert msh["image_sha256"] == hashlib.sha256(x.numpy().tobytes()).hexdigest()
    versions = json.loads(msh["versions"])
    assert versions["hmxai"] and versions["torch"] and versions["pyarrow"]
    assert (frame["seed"] == 3).all() and (frame["sweep_digest"] == config.digest()).all()
    assert frame["agreement"].dtype == bool and frame["accuracy"].isna().all()  # samples have no labels
    # the row is the rung: same bytes and metrics as hmxai.decode on the same (resized) image
    from hmxai.images import fit_within
    from hmxai.pipeline import decode

    rung = decode(fit_within(x, 64), "hmxai-msh", "efficientnet-lite0", quality=int(msh["quality"]))
    assert rung.metrics.measured_bpp == msh["measured_bpp"] and rung.metrics.psnr == pytest.approx(msh["psnr"])
    assert rung.prediction.indices[0] == msh["top1"]


def test_a_second_run_computes_nothing(tiny_run):
    config, _ = tiny_run
    before = rows_of(config)
    again = run_sweep(config, progress=False)
    assert (again.computed, again.skipped) == (0, 18)
    assert rows_of(config).equals(before)


def test_unreadable_images_are_recorded_and_lose_nothing_else(tmp_path, chelsea):
    from hmxai.images import to_pil

    good = tmp_path / "good.png"
    to_pil(chelsea[..., :64, :64]).save(good)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    text = TINY.replace('samples = ["chelsea", "coffee"]',
                        f'files = ["{good}", "{tmp_path / "broken.png"}", "{tmp_path / "missing.png"}"]')
    config = SweepConfig.from_file(write(tmp_path, text))
    summary = run_sweep(config, progress=False)
    assert summary.units == 27 and summary.failed == 18
    frame = Store(config.out_dir).frame()
    ok = frame[frame["status"] == "ok"]
    assert set(ok["image"]) == {"good.png"} and len(ok) == 9
    errors = frame[frame["status"] != "ok"]
    assert set(errors["image"]) == {"broken.png", "missing.png"}
    assert errors[errors["image"] == "broken.png"]["error"].str.contains("not a readable image").all()
    assert errors[errors["image"] == "missing.png"]["error"].str.contains("No such file").all()
    assert errors["measured_bpp"].isna().all()
    # stored failures are not retried unless asked; a fixed image is then computed and replaces them
    assert run_sweep(config, progress=False).computed == 0
    to_pil(chelsea[..., :64, :64]).save(tmp_path / "missing.png")
    retried = run_sweep(config, progress=False, retry_errors=True)
    assert retried.computed == 18 and retried.failed == 9
    frame = Store(config.out_dir).frame()
    assert set(frame[frame["status"] == "ok"]["image"]) == {"good.png", "missing.png"}
    assert len(frame) == 27


def test_crash_leftovers_never_corrupt_the_store(tiny_run, tmp_path):
    import shutil

    config, _ = tiny_run
    copy = tmp_path / "store"
    shutil.copytree(config.out_dir, copy)
    store = Store(copy)
    reference = store.table()
    seg = sorted(store.segments.glob("seg-*.parquet"))[0]
    # a crash after a segment was written but before its parts were deleted: rows twice on disk
    shutil.copy(seg, store.parts / ("0" * 40 + ".parquet"))
    # a writer killed mid-file: only a temporary name, never a .parquet
    (store.parts / ".tmp-abc.parquet-123").write_bytes(b"PAR1\x00half")
    assert store.table().equals(reference)
    assert store.done_keys() == Store(config.out_dir).done_keys()
    store.open_for("", store.manifest()["digest"], "tiny")
    assert not list(store.parts.glob(".tmp-*"))
    store.compact()
    assert store.table().equals(reference) and not list(store.parts.glob("*.parquet"))


def _no_worker_outlives(children, timeout: float = 10.0) -> None:
    """The killed sweep's worker processes end themselves (they watch their parent)."""
    import psutil

    _, alive = psutil.wait_procs(children, timeout=timeout)
    assert not alive, f"worker processes outlived the killed sweep: {[p.pid for p in alive]}"


@pytest.mark.slow
def test_killed_with_a_real_signal_then_resumed_equals_an_uninterrupted_run(tmp_path, tiny_run):
    """SIGKILL mid-run (no cleanup at all), run again: the table equals the uninterrupted one,
    and nothing finished before the kill is computed again."""
    path = write(tmp_path, TINY.replace("workers = 1\n", ""))  # the default engine: one process per core
    config = SweepConfig.from_file(path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "hmxai.cli", "sweep", str(path), "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = config.out_dir / "parts"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < 5 and proc.poll() is None:
        time.sleep(0.05)
    import psutil

    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    assert len(children) >= 2  # the default engine: a worker process per core (and the resource tracker)
    _no_worker_outlives(children)
    stored = Store(config.out_dir).done_keys()
    assert 5 <= len(stored) < 18
    out = subprocess.run([sys.executable, "-m", "hmxai.cli", "sweep", str(path), "--json"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["skipped"] == len(stored) and summary["computed"] == 18 - len(stored)
    raw = sum(Store._read_file(p).num_rows for p in Store(config.out_dir)._files())
    assert raw == 18  # no unit was written twice
    assert rows_of(config).equals(rows_of(tiny_run[0]))


@pytest.mark.slow
def test_local_processes_and_dask_give_the_same_rows(tiny_run, tmp_path):
    from distributed import Client, LocalCluster

    reference = rows_of(tiny_run[0])
    procs = SweepConfig.from_file(write(tmp_path, TINY.replace('out = "store"', 'out = "procs"')))
    summary = run_sweep(procs, progress=False, workers=2)
    assert summary.engine == "processes" and summary.computed == 18
    assert rows_of(procs).equals(reference)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = SweepConfig.from_file(write(tmp_path, TINY.replace('out = "store"', 'out = "dask"')))
        summary = run_sweep(dask, progress=False, scheduler=client)
        assert summary.engine == "dask" and summary.workers == 2 and summary.computed == 18
    assert rows_of(dask).equals(reference)


# ---------------------------------------------------------------------- curves, BD, figures
def test_curves_average_the_images_every_codec_decoded(tiny_run):
    from hmxai.sweep.results import SweepResults

    frame = Store(tiny_run[0].out_dir).frame()
    results = SweepResults(frame, anchor="jpeg")
    curves = results.curves("samples")
    assert curves["jpeg"].images == 2 and curves["jpeg"].qualities == (10, 30, 50, 70, 90)
    jpeg = frame[frame["codec"] == "jpeg"]
    assert curves["jpeg"].psnr[0] == pytest.approx(jpeg[jpeg["quality"] == 10]["psnr"].mean())
    assert list(curves["jpeg"].measured_bpp) == sorted(curves["jpeg"].measured_bpp)
    broken = frame.copy()
    broken.loc[(broken["codec"] == "webp") & (broken["image"] == "coffee") & (broken["quality"] == 20), "status"] = "error"
    curves = SweepResults(broken).curves("samples")
    assert curves["jpeg"].images == 1  # coffee left out for every codec, not only for webp
    assert curves["jpeg"].psnr[0] == pytest.approx(jpeg[(jpeg["quality"] == 10) & (jpeg["image"] == "chelsea")]["psnr"].iloc[0])


def test_bd_table_agrees_with_the_bjontegaard_package(tiny_run):
    import bjontegaard

    from hmxai.sweep.results import load_results

    results = load_results(tiny_run[0].out_dir)
    table = results.bd_table(method="pchip", machine_metric="agreement")
    assert table.anchor == "jpeg" and [r.codec for r in table.rows] == ["hmxai-msh", "jpeg", "webp"]
    curves = results.curves("samples")
    a, t = curves["jpeg"], curves["hmxai-msh"]
    expected = bjontegaard.bd_rate(a.measured_bpp, a.psnr, t.measured_bpp, t.psnr, method="pchip", min_overlap=0,
                                   require_matching_points=False)
    assert table.row("hmxai-msh").human_rate.value == pytest.approx(expected, rel=1e-9)
    assert table.row("jpeg").human_rate.value == pytest.approx(0.0, abs=1e-9)  # the anchor against itself
    assert table.row("jpeg").human_metric.value == pytest.approx(0.0, abs=1e-9)
    assert "| jpeg (anchor) |" in table.to_markdown() and table.to_csv().startswith("codec,")


def test_bd_table_on_known_curves():
    """A codec with 80 % of the anchor's rate at every point: BD-rate -20 % on both sides."""
    import pandas as pd

    from hmxai.sweep.results import SweepResults

    rows = []
    for i, bpp in enumerate((0.1, 0.2, 0.4, 0.8, 1.6)):
        for codec, scale in (("anchor", 1.0), ("better", 0.8)):
            for image in ("a", "b"):
                rows.append({"dataset": "d", "image": image, "codec": codec, "quality": float(i), "task": "t",
                             "status": "ok", "measured_bpp": bpp * scale, "estimated_bpp": None,
                             "psnr": 25 + 4 * np.log(bpp), "ms_ssim": 0.9, "agreement": i >= 2 or image == "a",
                             "accuracy": None, "original_accuracy": None})
    table = SweepResults(pd.DataFrame(rows), anchor="anchor").bd_table(method="pchip")
    better = table.row("better")
    assert better.human_rate.value == pytest.approx(-20.0, abs=1e-9)
    assert better.human_metric.value == pytest.approx(-4 * np.log(0.8), abs=1e-9)
    assert table.machine == ("d", "t", "agreement")


def test_figures_are_regenerated_byte_identical_without_recomputing(tiny_run, tmp_path, monkeypatch):
    from hmxai.cli import main

    config = tiny_run[0]
    monkeypatch.setattr("hmxai.sweep.unit.compute_unit", lambda unit: pytest.fail("figures recomputed a unit"))
    assert main(["figures", str(config.out_dir), "--out", str(tmp_path / "a"), "--json"]) == 0
    time.sleep(1.1)  # a second later: any date in the files would differ
    assert main(["figures", str(config.out_dir / ".." / "sweep.toml"), "--out", str(tmp_path / "b"), "--json"]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"rd_psnr_samples.pdf", "rd_psnr_samples.svg", "rd_psnr_samples.png", "overview.pdf", "bd_table.md",
            "rate_agreement_samples_efficientnet-lite0.png"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    svg = (tmp_path / "a" / "overview.svg").read_text()
    assert "<text" not in svg  # glyphs embedded as paths: no font needed to view it
    pdf = (tmp_path / "a" / "overview.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"CreationDate" not in pdf  # TrueType embedded, no date


def test_figures_from_an_exported_parquet_file(tiny_run, tmp_path):
    from hmxai.sweep.figures import figures_from

    path = Store(tiny_run[0].out_dir).export(tmp_path / "rows.parquet")
    out = figures_from(path, tmp_path / "figs")
    assert out["rows"] == 18 and (tmp_path / "figs" / "rd_psnr_samples.pdf").is_file()
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(InvalidArgumentError, match="not a readable Parquet"):
        figures_from(tmp_path / "bad.parquet")


def test_rows_of_other_weights_are_refused(tiny_run, tmp_path):
    """A retrained codec must not add rows to a store made with its old weights."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    config = SweepConfig.from_file(write(tmp_path))
    shutil.copytree(tiny_run[0].out_dir, config.out_dir)
    store = Store(config.out_dir)
    seg = sorted(store.segments.glob("seg-*.parquet"))[0]
    t = pq.read_table(seg)
    ids = [("0" * 16 if c == "hmxai-msh" else w) for c, w in zip(t.column("codec").to_pylist(),
                                                                  t.column("codec_weights_id").to_pylist())]
    pq.write_table(t.set_column(t.schema.get_field_index("codec_weights_id"), "codec_weights_id", pa.array(ids)), seg)
    with pytest.raises(InvalidArgumentError, match="other weights: hmxai-msh q1"):
        run_sweep(config, progress=False)


def test_recompute_drops_one_codec_and_computes_it_again(tiny_run, tmp_path):
    import shutil

    config = SweepConfig.from_file(write(tmp_path))
    shutil.copytree(tiny_run[0].out_dir, config.out_dir)
    before = rows_of(config)
    summary = run_sweep(config, progress=False, recompute=["webp"])
    assert summary.computed == 4 and summary.skipped == 14  # 2 images x 2 webp qualities
    assert rows_of(config).equals(before)
    assert len(list(Store(config.out_dir).segments.glob("*.parquet"))) == 2  # the consolidated one + the new
    with pytest.raises(InvalidArgumentError, match="not codecs of this sweep"):
        run_sweep(config, progress=False, recompute=["avif"])
    Store(config.out_dir).consolidate()
    assert len(list(Store(config.out_dir).segments.glob("*.parquet"))) == 1 and rows_of(config).equals(before)
