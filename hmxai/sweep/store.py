"""A sweep's results on disk: Parquet files in one folder, safe to kill at any moment.

Layout of a store folder::

    sweep.toml        the latest config that computed rows here (its digest in manifest.json)
    manifest.json     name, digest, created; written atomically
    parts/            one Parquet file per finished unit (its rows), named by the unit's key hash
    segments/         compacted parts: seg-NNNNNN.parquet

Every file is written to a temporary name in its folder, flushed, then renamed into place
(``os.replace``, atomic on POSIX and Windows), so a killed process leaves either the whole
file or none of it; temporary leftovers are ignored and removed on the next open. Compaction
writes a segment first and deletes the parts it holds afterwards; a crash in between leaves
rows twice, and reading keeps one copy per row key. Reading the store is therefore always
safe, whatever moment the writer died at.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

from hmxai.errors import InvalidArgumentError, MissingFileError

#: (dataset, image, codec, quality) names a unit; with the task, a row
UNIT_COLUMNS = ("dataset", "image", "codec", "quality")
ROW_KEY = UNIT_COLUMNS + ("task",)
COMPACT_EVERY = 256


def schema():
    """The Parquet schema of a sweep row (every file of a store has exactly this schema)."""
    import pyarrow as pa

    f64, i64, s, b = pa.float64(), pa.int64(), pa.string(), pa.bool_()
    return pa.schema([
        ("dataset", s), ("image", s), ("codec", s), ("quality", f64), ("task", s), ("label", i64),
        ("status", s), ("error", s),
        ("measured_bpp", f64), ("estimated_bpp", f64), ("psnr", f64), ("ms_ssim", f64),
        ("payload_bytes", i64), ("file_bytes", i64), ("height", i64), ("width", i64),
        ("top1", i64), ("top1_label", s), ("top1_probability", f64), ("top5", pa.list_(i64)),
        ("original_top1", i64), ("original_top1_probability", f64), ("agreement", b), ("accuracy", b), ("original_accuracy", b),
        ("spikes", f64), ("snn_energy_joules", f64), ("ann_energy_joules", f64),
        ("drift_spearman", f64), ("drift_top_iou", f64),
        ("budget_both", f64), ("budget_machine", f64), ("budget_human", f64), ("budget_neither", f64),
        ("budget_method", s),
        ("encode_seconds", f64), ("decode_seconds", f64), ("unit_seconds", f64),
        ("codec_weights", s), ("codec_weights_id", s), ("task_weights", s), ("task_weights_id", s),
        ("image_sha256", s), ("seed", i64), ("sweep_digest", s), ("versions", s), ("created", s), ("host", s),
    ])


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _part_name(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest() + ".parquet"


class Store:
    """A results folder (see the module docstring). ``Store(path)`` opens or creates it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.parts = self.path / "parts"
        self.segments = self.path / "segments"

    # ---------------------------------------------------------------- set-up
    def open_for(self, config_text: str, digest: str, name: str, legacy_digest: Optional[str] = None) -> "Store":
        """Create the folder for a sweep, or check that an existing one holds the same sweep (a
        manifest with ``legacy_digest``, the older formula's, is updated to ``digest``)."""
        from datetime import datetime, timezone

        manifest = self.path / "manifest.json"
        if manifest.is_file():
            recorded = self.manifest()
            if recorded.get("digest") != digest:
                if legacy_digest is None or recorded.get("digest") != legacy_digest:
                    raise InvalidArgumentError(
                        f"{self.path} holds the results of another sweep (digest {recorded.get('digest')}, this config "
                        f"{digest}): its rows would mix; choose another 'out' folder or remove that one")
                body = dict(recorded, digest=digest, legacy_digest=legacy_digest)
                _atomic_write(manifest, lambda f: f.write(json.dumps(body, indent=1).encode()))
        for folder in (self.path, self.parts, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        self._clean_temporaries()
        if not manifest.is_file():
            self.record_config(config_text)
            body = {"name": name, "digest": digest, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "format": 1}
            _atomic_write(manifest, lambda f: f.write(json.dumps(body, indent=1).encode()))
        return self

    def record_config(self, config_text: str) -> None:
        """Store the config that computes rows here now (``sweep.toml``: the results' codecs, anchor, metrics)."""
        _atomic_write(self.path / "sweep.toml", lambda f: f.write(config_text.encode()))

    def manifest(self) -> Dict:
        path = self.path / "manifest.json"
        if not path.is_file():
            raise MissingFileError(f"{self.path} is not a sweep results folder (no manifest.json)")
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidArgumentError(f"{path} is unreadable: {exc}") from exc

    def _clean_temporaries(self) -> None:
        for folder in (self.path, self.parts, self.segments):
            for tmp in folder.glob(".tmp-*"):
                tmp.unlink(missing_ok=True)

    # ---------------------------------------------------------------- writing
    def write_unit(self, key: str, rows: List[Dict]) -> Path:
        """Store one finished unit's rows (atomically)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=schema())
        path = self.parts / _part_name(key)
        _atomic_write(path, lambda f: pq.write_table(table, f))
        return path

    def compact(self, min_parts: int = 1) -> Optional[Path]:
        """Merge the parts into one new segment (when there are at least ``min_parts``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted(self.parts.glob("*.parquet"))
        if len(parts) < max(1, min_parts):
            return None
        tables = [t for t in (self._read_file(p) for p in parts) if t is not None]
        if not tables:
            return None
        n = 1 + max((int(p.stem.split("-")[1]) for p in self.segments.glob("seg-*.parquet")), default=0)
        path = self.segments / f"seg-{n:06d}.parquet"
        table = pa.concat_tables(tables)
        _atomic_write(path, lambda f: pq.write_table(table, f))
        for p in parts:  # only after the segment is in place
            p.unlink(missing_ok=True)
        return path

    def consolidate(self, drop_codecs=()) -> Path:
        """Every stored row in one new segment (one copy per row key), the rows of ``drop_codecs``
        left out (to compute them again: ``hmxai sweep --recompute CODEC``). The new segment is in
        place before any old file is deleted; a crash in between leaves duplicates (harmless) or,
        for dropped codecs, their old rows, which the next call drops again."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = self.table()
        for codec in drop_codecs:
            table = table.filter(pc.not_equal(table.column("codec"), codec))
        old = self._files()
        n = 1 + max((int(p.stem.split("-")[1]) for p in self.segments.glob("seg-*.parquet")), default=0)
        path = self.segments / f"seg-{n:06d}.parquet"
        _atomic_write(path, lambda f: pq.write_table(table, f))
        for p in old:
            if p != path:
                p.unlink(missing_ok=True)
        return path

    # ---------------------------------------------------------------- reading
    def _files(self) -> List[Path]:
        return sorted(self.segments.glob("seg-*.parquet")) + sorted(self.parts.glob("*.parquet"))

    @staticmethod
    def _read_file(path: Path, columns: Optional[Iterable[str]] = None):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=list(columns) if columns else None, schema=schema())
        except FileNotFoundError:  # compacted away while we listed
            return None

    def done_keys(self) -> Set[str]:
        """Keys of every stored unit."""
        from hmxai.sweep.unit import unit_key

        keys: Set[str] = set()
        for path in self._files():
            t = self._read_file(path, UNIT_COLUMNS)
            if t is not None:
                cols = [t.column(c).to_pylist() for c in UNIT_COLUMNS]
                keys.update(unit_key(*row) for row in zip(*cols))
        return keys

    def error_keys(self) -> Set[str]:
        """Keys of the stored units that have no successful copy (their rows carry an error)."""
        from hmxai.sweep.unit import unit_key

        t = self.table()
        cols = [t.column(c).to_pylist() for c in UNIT_COLUMNS + ("status",)]
        return {unit_key(*row[:4]) for row in zip(*cols) if row[4] != "ok"}

    def weights_ids(self) -> Dict[tuple, Set[str]]:
        """(codec, quality) -> the codec weights ids its stored rows were computed with."""
        out: Dict[tuple, Set[str]] = {}
        for path in self._files():
            t = self._read_file(path, ("codec", "quality", "codec_weights_id"))
            if t is None:
                continue
            for codec, q, wid in zip(*(t.column(c).to_pylist() for c in ("codec", "quality", "codec_weights_id"))):
                if wid is not None:
                    out.setdefault((codec, float(q)), set()).add(wid)
        return out

    def table(self):
        """Every stored row, one copy per row key (a successful copy over a failed one: a retried
        unit), sorted by (dataset, image, codec, quality, task)."""
        import pyarrow as pa

        tables = [t for t in (self._read_file(p) for p in self._files()) if t is not None]
        if not tables:
            return schema().empty_table()
        table = pa.concat_tables(tables)
        chosen: Dict[tuple, int] = {}
        cols = [table.column(c).to_pylist() for c in ROW_KEY]
        status = table.column("status").to_pylist()
        for i, key in enumerate(zip(*cols)):
            j = chosen.get(key)
            if j is None or (status[j] != "ok" and status[i] == "ok"):
                chosen[key] = i
        table = table.take(sorted(chosen.values()))
        return table.sort_by([(c, "ascending") for c in ROW_KEY])

    def frame(self):
        """:meth:`table` as a pandas DataFrame."""
        return self.table().to_pandas()

    def export(self, path: str | os.PathLike) -> Path:
        """The whole store as one Parquet file (atomically written)."""
        import pyarrow.parquet as pq

        path = Path(path)
        table = self.table()
        _atomic_write(path, lambda f: pq.write_table(table, f))
        return path
