"""Reading a sweep's rows back: averaged curves and the research's BD table, never recomputing.

``load_results(path)`` takes a results folder, a Parquet file (``Store.export``) or the sweep's
config file. Curves average, per (dataset, codec, quality, task), the images that **every**
compared codec decoded without error, so all points of a figure share one image set.
BD numbers come from :mod:`hmxai.bd` (the Bjøntegaard code the model cards use).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hmxai.errors import InvalidArgumentError, MissingFileError
from hmxai.types.sweep import BDRow, BDTable, BDValue, SweepCurve

HUMAN_METRICS = ("psnr", "ms_ssim")
MACHINE_METRICS = ("accuracy", "agreement")


def load_results(path: str | os.PathLike) -> "SweepResults":
    """The rows of a results folder, of an exported ``.parquet`` file, or of a config's store."""
    import pyarrow.parquet as pq

    from hmxai.sweep.store import Store

    path = Path(path)
    if path.suffix.lower() in (".toml", ".yaml", ".yml"):
        from hmxai.sweep.config import SweepConfig

        config = SweepConfig.from_file(path)
        return SweepResults(_of_units(Store(config.out_dir).frame(), config.units()), name=config.name,
                            anchor=config.anchor, source=str(config.out_dir), metrics=config.metrics)
    if path.is_dir():
        store = Store(path)
        manifest = store.manifest()
        anchor, metrics, units = _settings_of(path / "sweep.toml")
        return SweepResults(_of_units(store.frame(), units), name=manifest.get("name", path.name), anchor=anchor,
                            source=str(path), metrics=metrics)
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise MissingFileError(f"{str(path)!r} does not exist")
        try:
            frame = pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow's errors for a damaged or foreign file
            raise InvalidArgumentError(f"{path} is not a readable Parquet file: {exc}") from exc
        return SweepResults(frame, name=path.stem, source=str(path))
    raise InvalidArgumentError(f"{str(path)!r} is neither a sweep config, a results folder nor a .parquet file")


def _settings_of(config_file: Path):
    """(anchor, metrics, units) of the config stored with the rows (defaults, and every stored
    unit, for an unreadable copy)."""
    from hmxai.sweep.config import METRICS, parse_file

    try:
        raw = parse_file(config_file)
        units = {(str(c), float(q)) for c, qs in dict(raw.get("codecs", {})).items() for q in qs} or None
        return str(raw.get("anchor", "heif")), tuple(raw.get("metrics", METRICS)), units
    except Exception:  # an old or hand-edited copy: the defaults
        return "heif", METRICS, None


def _of_units(frame, units):
    """The rows of the config's (codec, quality) units: a codec or quality dropped from a sweep's
    config leaves its rows on disk but out of the results (None: every row)."""
    if units is None or frame.empty:
        return frame
    keep = [(c, float(q)) in units for c, q in zip(frame["codec"], frame["quality"])]
    return frame[keep].reset_index(drop=True)


class SweepResults:
    """A sweep's rows (a pandas DataFrame, one row per image x codec x quality x task) and what
    figures and tables are made of."""

    def __init__(self, frame, name: str = "sweep", anchor: str = "heif", source: str = "",
                 metrics: Sequence[str] = ("psnr", "ms_ssim", "accuracy", "agreement")):
        missing = {"dataset", "image", "codec", "quality", "task", "status"} - set(frame.columns)
        if missing:
            raise InvalidArgumentError(f"not a sweep table: columns {sorted(missing)} are missing")
        self.frame = frame
        self.name = name
        self.anchor = anchor
        self.source = source
        self.metrics = tuple(metrics)

    # ---------------------------------------------------------------- what is there
    @property
    def ok(self):
        return self.frame[self.frame["status"] == "ok"]

    def failures(self):
        """The rows of units that failed, with their error messages."""
        return self.frame[self.frame["status"] != "ok"]

    @property
    def datasets(self) -> List[str]:
        return list(dict.fromkeys(self.frame["dataset"]))

    def codecs(self, dataset: Optional[str] = None) -> List[str]:
        f = self.frame if dataset is None else self.frame[self.frame["dataset"] == dataset]
        return list(dict.fromkeys(f["codec"]))

    def tasks(self, dataset: str) -> List[str]:
        """The tasks with rows on ``dataset`` ('' is the human side only)."""
        return [t for t in dict.fromkeys(self.frame[self.frame["dataset"] == dataset]["task"]) if t]

    def has_labels(self, dataset: str) -> bool:
        return bool(self.ok[self.ok["dataset"] == dataset]["accuracy"].notna().any())

    # ---------------------------------------------------------------- curves
    def curves(self, dataset: str, task: Optional[str] = None,
               codecs: Optional[Sequence[str]] = None) -> Dict[str, SweepCurve]:
        """codec -> :class:`SweepCurve` on ``dataset``; ``task`` None: the first task (or none)."""
        import numpy as np

        if dataset not in self.datasets:
            raise InvalidArgumentError(f"no rows for dataset {dataset!r}; datasets: {self.datasets}")
        tasks = self.tasks(dataset)
        if task is None:
            task = tasks[0] if tasks else ""
        elif task not in tasks:
            raise InvalidArgumentError(f"no rows for task {task!r} on {dataset!r}; tasks: {tasks}")
        codecs = list(codecs) if codecs is not None else self.codecs(dataset)
        images = self.common_images(dataset, task, codecs)
        rows = self.ok[(self.ok["dataset"] == dataset) & (self.ok["task"] == task) & self.ok["codec"].isin(codecs)
                       & self.ok["image"].isin(images)]
        out = {}
        for codec in codecs:
            c = rows[rows["codec"] == codec]
            if c.empty:
                continue
            groups = []
            for q, g in c.groupby("quality", sort=True):
                groups.append((float(g["measured_bpp"].mean()), q, g))
            groups.sort(key=lambda t: t[0])

            def mean(col, g):
                v = g[col].dropna()
                return None if len(v) < len(g) or v.empty else float(np.mean(v.astype(float)))

            out[codec] = SweepCurve(
                dataset=dataset, codec=codec, task=task, images=len(images),
                qualities=tuple(float(q) for _, q, _ in groups),
                measured_bpp=tuple(b for b, _, _ in groups),
                estimated_bpp=tuple(mean("estimated_bpp", g) for _, _, g in groups),
                psnr=tuple(mean("psnr", g) for _, _, g in groups),
                ms_ssim=tuple(mean("ms_ssim", g) for _, _, g in groups),
                agreement=tuple(mean("agreement", g) if task else None for _, _, g in groups),
                accuracy=tuple(mean("accuracy", g) if task else None for _, _, g in groups),
            )
        return out

    def common_images(self, dataset: str, task: str, codecs: Optional[Sequence[str]] = None) -> List[str]:
        """Images of ``dataset`` whose every unit under ``codecs`` (default all) succeeded."""
        codecs = list(codecs) if codecs is not None else self.codecs(dataset)
        rows = self.frame[(self.frame["dataset"] == dataset) & (self.frame["task"] == task)
                          & self.frame["codec"].isin(codecs)]
        return sorted(set(rows["image"]) - set(rows[rows["status"] != "ok"]["image"]))

    def original_accuracy(self, dataset: str, task: str) -> Optional[float]:
        """The task's accuracy on the uncompressed images of ``dataset`` (the images the curves
        average; None without labels)."""
        rows = self.ok[(self.ok["dataset"] == dataset) & (self.ok["task"] == task)
                       & self.ok["image"].isin(self.common_images(dataset, task))]
        per_image = rows.drop_duplicates("image")["original_accuracy"].dropna()
        return float(per_image.astype(float).mean()) if len(per_image) else None

    # ---------------------------------------------------------------- BD
    @staticmethod
    def bd(anchor: SweepCurve, test: SweepCurve, metric: str = "psnr", method: str = "cubic"):
        """(BD-rate in %, BD-metric) of ``test`` against ``anchor`` on ``metric`` (accuracy and
        agreement in percentage points); each a :class:`BDValue` with the reason when undefined."""
        import numpy as np

        from hmxai.bd import bd_metric, bd_rate

        scale = 100.0 if metric in MACHINE_METRICS else 1.0
        pairs = []
        for curve in (anchor, test):
            vals = curve.values(metric)
            if any(v is None for v in vals):
                return (BDValue(None, f"no {metric} for {curve.codec}"),) * 2
            pairs.append((list(curve.measured_bpp), [scale * v for v in vals]))
        (ra, qa), (rt, qt) = pairs
        out = []
        for fn in (bd_rate, bd_metric):
            try:
                out.append(BDValue(fn(ra, qa, rt, qt, method=method)))
            except InvalidArgumentError as exc:
                out.append(BDValue(None, str(exc)))
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                out.append(BDValue(None, f"fit failed: {exc}"))
        return tuple(out)

    def bd_table(self, anchor: Optional[str] = None, *, human_dataset: Optional[str] = None,
                 machine_dataset: Optional[str] = None, task: Optional[str] = None,
                 machine_metric: Optional[str] = None, human_metric: Optional[str] = None,
                 method: str = "cubic") -> BDTable:
        """The research's table (rows: codecs; columns: machine BD, human BD) against ``anchor``.

        Defaults: the sweep's anchor; the human side on the first dataset without tasks (else the
        first dataset), on the first human metric of the sweep's ``metrics``; the machine side on
        the first dataset with labels or, without labels, with a task, on the first machine metric
        listed that it has (accuracy needs labels).
        """
        anchor = anchor or self.anchor
        if human_metric is None:
            human_metric = next((m for m in self.metrics if m in HUMAN_METRICS), "psnr")
        if human_metric not in HUMAN_METRICS:
            raise InvalidArgumentError(f"human_metric must be one of {HUMAN_METRICS}")
        human_dataset = human_dataset or next((d for d in self.datasets if not self.tasks(d)), self.datasets[0])
        if machine_dataset is None:
            with_tasks = [d for d in self.datasets if self.tasks(d)]
            if not with_tasks:
                raise InvalidArgumentError("no dataset has a task: there is no machine side")
            machine_dataset = next((d for d in with_tasks if self.has_labels(d)), with_tasks[0])
        task = task or self.tasks(machine_dataset)[0]
        if machine_metric is None:
            listed = [m for m in self.metrics if m in MACHINE_METRICS] or ["accuracy", "agreement"]
            usable = [m for m in listed if m != "accuracy" or self.has_labels(machine_dataset)]
            machine_metric = usable[0] if usable else "agreement"
        if machine_metric not in MACHINE_METRICS:
            raise InvalidArgumentError(f"machine_metric must be one of {MACHINE_METRICS}")
        human = self.curves(human_dataset)
        machine = self.curves(machine_dataset, task)
        for side, curves, ds in (("human", human, human_dataset), ("machine", machine, machine_dataset)):
            if anchor not in curves:
                raise InvalidArgumentError(f"the anchor {anchor!r} has no {side} rows on {ds!r}; codecs: {list(curves)}")
        rows = []
        for codec in dict.fromkeys(list(machine) + list(human)):
            m = self.bd(machine[anchor], machine[codec], machine_metric, method) if codec in machine else \
                (BDValue(None, "not on the machine dataset"),) * 2
            h = self.bd(human[anchor], human[codec], human_metric, method) if codec in human else \
                (BDValue(None, "not on the human dataset"),) * 2
            rows.append(BDRow(codec, m[0], m[1], h[0], h[1]))
        return BDTable(anchor, (machine_dataset, task, machine_metric), (human_dataset, human_metric),
                       (machine[anchor].images, human[anchor].images), method, tuple(rows))

