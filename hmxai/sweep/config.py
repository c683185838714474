"""A sweep's configuration: codecs x qualities x tasks x datasets, read from TOML or YAML.

One file describes the whole grid. Example (TOML)::

    name = "paper"
    anchor = "heif"                 # BD numbers are computed against it
    seed = 0
    out = "results/paper"           # the store (a folder); relative to the config file

    [codecs]                        # name = qualities (fractions for a variable-rate codec)
    hmxai-msh = [1, 2, 3, 4, 5]
    hmxai-vbr = [1, 1.5, 2, 3.25, 6]
    heif = [20, 40, 60, 80]

    [[tasks]]                       # a name, or a table with the task's own parameters
    name = "efficientnet-lite0"

    [[datasets]]
    name = "kodak"                  # Kodak: the human side only (no task)
    path = "kodak"                  # relative to the data root ($HMXAI_DATA) unless absolute
    tasks = []

    [[datasets]]
    name = "imagenet-heldout"
    path = "imagenet-samples"
    split = "heldout"               # the fixed split: sorted positions 0, 5, 10, ...
    labels = "imagenet"             # class indices from imagenet_class_index.json
    limit = 150

    explanations = ["drift", "bit_budget"]   # optional, per row (learned codecs for bit_budget)
    metrics = ["psnr", "accuracy"]           # curves drawn; the BD table's human and machine axes

A dataset is a folder (``path``), the embedded samples (``samples = ["chelsea", ...]``), or a
list of files (``files = [...]``). Every combination is one unit of work; each unit writes one
row per task (or one row when the dataset has no task).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from hmxai.errors import InvalidArgumentError, MissingFileError

#: the quality axes of curves and BD tables (every row carries all of them: one decode computes them)
METRICS = ("psnr", "ms_ssim", "accuracy", "agreement")
#: optional per-row explanation metrics
EXPLANATIONS = ("drift", "bit_budget")
SPLITS = ("all", "heldout", "train")


@dataclass(frozen=True)
class TaskSpec:
    """A task model by registry name, with the keyword arguments of its factory (``steps=16``)."""

    name: str
    params: Tuple[Tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The task's column value: its name, with its parameters when it has any."""
        if not self.params:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.params) + "]"

    def kwargs(self) -> Dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's images come from, which of them, and their labels.

    Exactly one of ``path`` (a folder), ``files`` or ``samples`` (the embedded images).
    ``split``: ``heldout``/``train`` apply the fixed ImageNet split (every fifth in sorted order
    is held out); ``labels``: ``imagenet`` reads class indices from the folder's
    ``imagenet_class_index.json`` (files named by wordnet id); ``limit``: the first n images;
    ``tasks``: None means every task of the sweep, ``()`` the human side only.
    """

    name: str
    path: Optional[str] = None
    files: Tuple[str, ...] = ()
    samples: Tuple[str, ...] = ()
    split: str = "all"
    labels: Optional[str] = None
    limit: Optional[int] = None
    max_side: Optional[int] = None
    tasks: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class SweepConfig:
    """Everything that determines a sweep's rows (with the seed, bit for bit on one machine).

    Attributes:
        name: the sweep's name (figures and tables carry it).
        codecs: (codec name, qualities) pairs, in the file's order.
        tasks: the task models; each dataset uses all of them unless it lists its own.
        datasets: the image sources.
        anchor: the BD anchor codec (HEVC intra, ``heif``, as in the literature).
        metrics: the quality axes the figures draw (rates are always measured bpp); the BD table's
            human axis is the first of ``psnr``/``ms_ssim`` listed, its machine axis the first of
            ``accuracy``/``agreement`` (accuracy needs labels).
        explanations: optional per-row explanation metrics (``drift``: Grad-CAM of the decoded
            image against the original's; ``bit_budget``: machine/human/both/neither fractions of
            a learned codec's estimated bits).
        seed: seeds everything random (torch, numpy).
        out: the results folder (relative to the config file's folder).
        data_root: root of relative dataset paths (default ``$HMXAI_DATA``).
        workers: local worker processes (1: in this process; 0, the default: one per core, at most 8).
        scheduler: a ``dask.distributed`` scheduler address (``tcp://host:8786``); overrides workers.
        threads: torch threads per worker (0: the cores divided among the workers).
    """

    name: str
    codecs: Tuple[Tuple[str, Tuple[float, ...]], ...]
    tasks: Tuple[TaskSpec, ...] = (TaskSpec("efficientnet-lite0"),)
    datasets: Tuple[DatasetSpec, ...] = ()
    anchor: str = "heif"
    metrics: Tuple[str, ...] = METRICS
    explanations: Tuple[str, ...] = ()
    seed: int = 0
    out: str = "sweep-results"
    data_root: Optional[str] = None
    workers: int = 0
    scheduler: Optional[str] = None
    threads: int = 0
    base_dir: str = field(default=".", compare=False)

    def __post_init__(self):
        if not self.codecs:
            raise InvalidArgumentError("a sweep needs at least one codec")
        if not self.datasets:
            raise InvalidArgumentError("a sweep needs at least one dataset")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"dataset names must be unique, got {names}")
        bad = [m for m in self.metrics if m not in METRICS]
        if bad or not self.metrics:
            raise InvalidArgumentError(f"unknown or no metrics {bad}; known: {list(METRICS)}")
        bad = [e for e in self.explanations if e not in EXPLANATIONS]
        if bad:
            raise InvalidArgumentError(f"unknown explanation metrics {bad}; known: {list(EXPLANATIONS)}")
        if self.workers < 0:
            raise InvalidArgumentError(f"workers must be 0 (one per core) or more, got {self.workers}")
        task_keys = {t.key for t in self.tasks}
        for d in self.datasets:
            for t in d.tasks or ():
                if t not in task_keys:
                    raise InvalidArgumentError(f"dataset {d.name!r} names task {t!r}, which the sweep does not have "
                                               f"(tasks: {sorted(task_keys)})")

    # ---------------------------------------------------------------- derived
    @property
    def out_dir(self) -> Path:
        out = Path(self.out)
        return out if out.is_absolute() else Path(self.base_dir) / out

    def root(self) -> Optional[Path]:
        value = self.data_root if self.data_root is not None else os.environ.get("HMXAI_DATA")
        if value is None:
            return None
        root = Path(value)
        return root if root.is_absolute() or self.data_root is None else Path(self.base_dir) / root

    def tasks_of(self, dataset: DatasetSpec) -> Tuple[TaskSpec, ...]:
        if dataset.tasks is None:
            return self.tasks
        return tuple(t for t in self.tasks if t.key in dataset.tasks)

    def digest(self) -> str:
        """Short hash of what determines each row: not where they go, how many workers compute
        them, how they are drawn (name, anchor, metrics), or which codecs and qualities there are
        (a row is one (dataset, image, codec, quality): adding a codec to a sweep adds its rows
        and keeps the others; a retrained codec's rows are caught by their weights hash)."""
        d = self.to_dict()
        for k in ("out", "workers", "scheduler", "threads", "data_root", "name", "anchor", "metrics", "codecs"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def legacy_digest(self) -> str:
        """The digest as hmxai computed it before December 7, 2026 (with the codec list): a results
        folder that records it is this sweep's, and its manifest is brought up to date."""
        d = self.to_dict()
        for k in ("out", "workers", "scheduler", "threads", "data_root", "name", "anchor", "metrics"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def units(self) -> set:
        """The (codec, quality) pairs of this config (quality as a float)."""
        return {(c, float(q)) for c, qs in self.codecs for q in qs}

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("base_dir")
        d["codecs"] = {name: list(qs) for name, qs in self.codecs}
        d["tasks"] = [{"name": t.name, **dict(t.params)} for t in self.tasks]
        return json.loads(json.dumps(d))

    # ---------------------------------------------------------------- reading
    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides) -> "SweepConfig":
        """Read a ``.toml``, ``.yaml`` or ``.yml`` file; ``overrides`` replace top-level keys."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"sweep config {str(path)!r} does not exist")
        raw = parse_file(path)
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(raw, base_dir=str(path.resolve().parent))

    @classmethod
    def from_dict(cls, raw: dict, base_dir: str = ".") -> "SweepConfig":
        if not isinstance(raw, dict):
            raise InvalidArgumentError("a sweep config must be a table of keys")
        known = {f.name for f in fields(cls)} - {"base_dir"}
        unknown = set(raw) - known
        if unknown:
            raise InvalidArgumentError(f"unknown sweep config keys: {sorted(unknown)} (known: {sorted(known)})")
        if "name" not in raw or "codecs" not in raw:
            raise InvalidArgumentError("a sweep config needs 'name' and 'codecs'")
        raw = dict(raw)
        raw["codecs"] = _codecs(raw["codecs"])
        if "tasks" in raw:
            raw["tasks"] = tuple(_task(t) for t in _list(raw["tasks"], "tasks"))
        raw["datasets"] = tuple(_dataset(d) for d in _list(raw.get("datasets", []), "datasets"))
        for key in ("explanations", "metrics"):
            if key in raw:
                raw[key] = tuple(str(e) for e in _list(raw[key], key))
        for key in ("seed", "workers", "threads"):
            if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool)):
                raise InvalidArgumentError(f"{key} must be an integer, got {raw[key]!r}")
        return cls(**raw, base_dir=base_dir)


def parse_file(path: Path) -> dict:
    """The raw table of a ``.toml`` / ``.yaml`` file (a clear error for anything else)."""
    text = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            return tomllib.loads(text.decode())
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
    except Exception as exc:  # every parser error, with the parser's position
        raise InvalidArgumentError(f"cannot read sweep config {str(path)!r}: {exc}") from exc
    raise InvalidArgumentError(f"sweep config {str(path)!r}: use a .toml, .yaml or .yml file")


def _list(value, what: str) -> list:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(f"{what} must be a list, got {value!r}")
    return list(value)


def _quality(codec: str, q) -> float:
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q):
        raise InvalidArgumentError(f"codec {codec!r}: qualities must be finite numbers, got {q!r}")
    return int(q) if float(q).is_integer() else float(q)


def _codecs(value) -> Tuple[Tuple[str, Tuple[float, ...]], ...]:
    if isinstance(value, dict):
        items = list(value.items())
    else:  # [{name = "jpeg", qualities = [...]}, ...]
        items = []
        for entry in _list(value, "codecs"):
            if not isinstance(entry, dict) or set(entry) != {"name", "qualities"}:
                raise InvalidArgumentError(f"a codec entry needs exactly 'name' and 'qualities', got {entry!r}")
            items.append((entry["name"], entry["qualities"]))
    out = []
    for name, qs in items:
        qs = tuple(_quality(name, q) for q in _list(qs, f"codec {name!r} qualities"))
        if not qs:
            raise InvalidArgumentError(f"codec {name!r} has no qualities")
        if len(set(qs)) != len(qs):
            raise InvalidArgumentError(f"codec {name!r} lists a quality twice: {list(qs)}")
        out.append((str(name), qs))
    if len({n for n, _ in out}) != len(out):
        raise InvalidArgumentError("a codec is listed twice")
    return tuple(out)


def _task(value) -> TaskSpec:
    if isinstance(value, str):
        return TaskSpec(value)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        params = tuple(sorted((str(k), v) for k, v in value.items() if k != "name"))
        for k, v in params:
            if not isinstance(v, (int, float, str, bool)):
                raise InvalidArgumentError(f"task {value['name']!r}: parameter {k} must be a number, string or bool")
        return TaskSpec(value["name"], params)
    raise InvalidArgumentError(f"a task is a name or a table with a 'name', got {value!r}")


def _dataset(value) -> DatasetSpec:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise InvalidArgumentError(f"a dataset is a table with a 'name', got {value!r}")
    known = {f.name for f in fields(DatasetSpec)}
    unknown = set(value) - known
    if unknown:
        raise InvalidArgumentError(f"dataset {value['name']!r}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    d = dict(value)
    for key in ("files", "samples"):
        if key in d:
            d[key] = tuple(str(v) for v in _list(d[key], f"dataset {value['name']!r} {key}"))
    if "tasks" in d and d["tasks"] is not None:
        d["tasks"] = tuple(_task(t).key for t in _list(d["tasks"], f"dataset {value['name']!r} tasks"))
    sources = [k for k in ("path", "files", "samples") if d.get(k)]
    if len(sources) != 1:
        raise InvalidArgumentError(f"dataset {value['name']!r} needs exactly one of path, files or samples")
    if d.get("split", "all") not in SPLITS:
        raise InvalidArgumentError(f"dataset {value['name']!r}: split must be one of {SPLITS}")
    if d.get("labels") not in (None, "imagenet"):
        raise InvalidArgumentError(f"dataset {value['name']!r}: labels must be 'imagenet' or absent")
    for key in ("limit", "max_side"):
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InvalidArgumentError(f"dataset {value['name']!r}: {key} must be a positive integer")
    return DatasetSpec(**d)


def dump_toml(config: SweepConfig) -> str:
    """The config as TOML text (what ``hmxai sweep --print-config`` and the store record)."""
    d = config.to_dict()
    lines = []

    def val(v):
        return json.dumps(v)  # JSON scalars and flat lists are valid TOML

    for k in ("name", "anchor", "seed", "out", "workers", "threads"):
        lines.append(f"{k} = {val(d[k])}")
    for k in ("scheduler", "data_root"):
        if d[k] is not None:
            lines.append(f"{k} = {val(d[k])}")
    lines.append(f"metrics = {val(d['metrics'])}")
    lines.append(f"explanations = {val(d['explanations'])}")
    lines += ["", "[codecs]"] + [f"{name} = {val(qs)}" for name, qs in d["codecs"].items()]
    for t in d["tasks"]:
        lines += ["", "[[tasks]]"] + [f"{k} = {val(v)}" for k, v in t.items()]
    for ds in d["datasets"]:
        lines += ["", "[[datasets]]"] + [f"{k} = {val(v)}" for k, v in ds.items()
                                         if v is not None and v != [] or k == "tasks" and v == []]
    return "\n".join(lines) + "\n"


def list_items(config: SweepConfig) -> List[Tuple[DatasetSpec, str, str, Optional[int]]]:
    """Every image of every dataset: (dataset, image id, source, label).

    ``source`` is a file path or ``sample:<name>``; the image id is the file name (or sample
    name), unique within its dataset.
    """
    out = []
    for d in config.datasets:
        out += [(d, image_id, source, label) for image_id, source, label in _dataset_items(config, d)]
    return out


def _resolve(config: SweepConfig, path: str) -> Path:
    p = Path(path)
    if p.is_absolute():
        return p
    root = config.root()
    if root is None:
        raise InvalidArgumentError(f"relative dataset path {path!r} needs a data root: set data_root or HMXAI_DATA")
    return root / p


_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".heic", ".heif", ".avif")


def _dataset_items(config: SweepConfig, d: DatasetSpec) -> List[Tuple[str, str, Optional[int]]]:
    if d.samples:
        from hmxai.samples import SAMPLES

        unknown = [s for s in d.samples if s not in SAMPLES]
        if unknown:
            raise InvalidArgumentError(f"dataset {d.name!r}: unknown samples {unknown}; known: {list(SAMPLES)}")
        items = [(s, f"sample:{s}", None) for s in d.samples]
    else:
        if d.files:
            paths = [_resolve(config, f) for f in d.files]  # missing files become failure rows
        else:
            folder = _resolve(config, d.path)
            if not folder.is_dir():
                raise MissingFileError(f"dataset {d.name!r}: folder {str(folder)!r} does not exist")
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)
        if d.split != "all":
            from hmxai.datasets import fixed_split

            paths = fixed_split(paths)[1 if d.split == "heldout" else 0]
        labels = _imagenet_labels(paths, d) if d.labels == "imagenet" else {}
        items = [(p.name, str(p), labels.get(p.name)) for p in paths]
    if len({i for i, _, _ in items}) != len(items):
        raise InvalidArgumentError(f"dataset {d.name!r}: two images share a file name")
    return items[: d.limit] if d.limit else items


def _imagenet_labels(paths: List[Path], d: DatasetSpec) -> Dict[str, int]:
    folders = {p.parent for p in paths}
    wnid = {}
    for folder in folders:
        index_file = folder / "imagenet_class_index.json"
        if not index_file.is_file():
            raise MissingFileError(f"dataset {d.name!r}: labels = 'imagenet' needs {str(index_file)!r}")
        wnid.update({w: int(k) for k, (w, _) in json.loads(index_file.read_text()).items()})
    return {p.name: wnid[p.stem] for p in paths if p.stem in wnid}
