"""Running a sweep: every unit not yet in the store, on one of three engines, rows stored as they finish.

Engines (the same :func:`~hmxai.sweep.unit.compute_unit` runs on each):

* ``workers=1``: in this process;
* ``workers=N`` (default: one per core, at most 8): N local worker processes (``concurrent.futures`` with the ``spawn`` start
  method), each with ``threads`` torch threads (default: the cores shared out);
* ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``): a Dask cluster. The client
  reads each image file and sends its bytes, so workers need hmxai installed but not the data.

Only this process writes the store, one atomic file per finished unit; killing it at any moment
loses no finished unit, and running the sweep again computes only what is missing.
"""

from __future__ import annotations

from dataclasses import replace

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from hmxai.errors import InvalidArgumentError
from hmxai.sweep.config import SweepConfig, dump_toml, list_items
from hmxai.sweep.store import COMPACT_EVERY, Store
from hmxai.sweep.unit import Unit, compute_unit, error_rows


@dataclass(frozen=True)
class SweepSummary:
    """What a run of :func:`run_sweep` did. ``units``: all units of the sweep; ``skipped``: found in
    the store; ``computed``: done now; ``failed``: units whose rows carry an error; ``seconds``: wall
    time; ``units_per_second``: computed units over the wall time (a unit: one image coded, decoded,
    measured and classified by every task); ``images_per_second``: distinct images among them over
    the wall time."""

    out: str
    engine: str
    workers: int
    units: int
    skipped: int
    computed: int
    failed: int
    rows: int
    seconds: float
    units_per_second: float
    images_per_second: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def plan_units(config: SweepConfig, read_bytes: bool = False) -> List[Unit]:
    """Every unit of the sweep, in (dataset, image, codec, quality) order."""
    digest = config.digest()
    units = []
    for dataset, image, source, label in list_items(config):
        tasks = config.tasks_of(dataset)
        data = None
        if read_bytes and not source.startswith("sample:"):
            try:
                data = Path(source).read_bytes()
            except OSError:
                data = None  # the worker's read fails the same way and records it
        for codec, qualities in config.codecs:
            for q in qualities:
                units.append(Unit(dataset.name, image, source, label, codec, q, tasks, config.explanations,
                                  config.seed, dataset.max_side, digest, data))
    return units


def _watch_parent() -> None:
    """A local worker ends itself when the ``hmxai sweep`` process that spawned it is gone
    (killed with SIGKILL, say), instead of computing units nobody will store."""
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="hmxai-parent-watch", daemon=True).start()


def _init_local_worker(threads: int) -> None:
    _watch_parent()
    _init_worker(threads)


def _init_worker(threads: int) -> None:
    """Torch threads of a worker process; and glibc's malloc thresholds back to large values where
    the environment fixed them (Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536``, which also pins
    the mmap threshold at 128 KiB: every tensor larger than that is then mapped and unmapped anew,
    and a Lite0 forward pass took 90 ms instead of 24 ms in a worker, measured)."""
    import torch

    torch.set_num_threads(max(1, threads))
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
            libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD (glibc's largest)
        except (OSError, AttributeError):  # not glibc: nothing to undo
            pass


def default_workers() -> int:
    """Local worker processes when none are asked for: one per core (at most 8), one thread each."""
    return max(1, min(os.cpu_count() or 1, 8))


def _threads(config: SweepConfig, workers: int) -> int:
    return config.threads or max(1, (os.cpu_count() or 1) // workers)


def _serial(units: Sequence[Unit], threads: int) -> Iterator:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for unit in units:
            yield unit, compute_unit(unit)
    finally:
        torch.set_num_threads(before)


def _processes(units: Sequence[Unit], workers: int, threads: int) -> Iterator:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_local_worker, initargs=(threads,))
    pending, queue = {}, list(reversed(units))
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # a short window: memory stays bounded
                unit = queue.pop()
                pending[pool.submit(compute_unit, unit)] = unit
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=not pending, cancel_futures=True)
        for process in processes:  # stopped early: leave no worker computing
            if process.is_alive():
                process.terminate()


def _dask_client(scheduler):
    """(client, whether we made it) for an address or an existing ``distributed.Client``."""
    try:
        from distributed import Client
    except ImportError as exc:
        from hmxai.errors import MissingDependencyError

        raise MissingDependencyError("a Dask scheduler needs dask.distributed: pip install 'dask[distributed]'") from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str):
        raise InvalidArgumentError(f"scheduler must be an address such as 'tcp://host:8786' or a Client, got {scheduler!r}")
    return Client(scheduler), True


def _dask(units: Sequence[Unit], client, threads: int) -> Iterator:
    from distributed import as_completed

    client.run(_init_worker, threads)
    window = 2 * max(1, sum(client.nthreads().values()))
    queue = list(reversed(units))
    futures = {}
    batch = as_completed()

    def submit():
        unit = queue.pop()
        f = client.submit(compute_unit, unit, pure=False)
        futures[f.key] = unit
        batch.add(f)

    while queue and len(futures) < window:
        submit()
    for future in batch:
        unit = futures.pop(future.key)
        rows = future.result()
        future.release()
        yield unit, rows
        if queue:
            submit()


def _check_weights(store: Store, config: SweepConfig) -> None:
    """Refuse to add rows made with other weights than the stored rows of the same codec and quality
    (a retrained zoo): their curves would mix two models."""
    from hmxai.sweep.unit import _codec

    stored = store.weights_ids()
    stale = []
    for codec, qualities in config.codecs:
        for q in qualities:
            ids = stored.get((codec, float(q)))
            if ids:
                current = getattr(_codec(codec, q), "weights_id", None)
                if current is not None and ids != {current}:
                    stale.append(f"{codec} q{q:g} (stored {', '.join(sorted(ids))}, now {current})")
    if stale:
        raise InvalidArgumentError(
            f"{store.path} holds rows made with other weights: {'; '.join(stale[:4])}"
            f"{' ...' if len(stale) > 4 else ''}. Compute those codecs again (hmxai sweep --recompute CODEC), "
            "or use another 'out' folder for the new weights.")


def run_sweep(config: SweepConfig, *, progress: bool = True, workers: Optional[int] = None, scheduler=None,
              retry_errors: bool = False, recompute: Sequence[str] = (),
              on_unit: Optional[Callable[[Unit, List[Dict]], None]] = None) -> SweepSummary:
    """Compute every unit of ``config`` that its store lacks; returns a :class:`SweepSummary`.

    Args:
        workers: override ``config.workers`` (local processes).
        scheduler: a Dask scheduler address or ``distributed.Client``; overrides ``config.scheduler``.
        retry_errors: compute again the units whose stored rows carry an error.
        recompute: codecs whose stored rows are dropped first and computed again (a retrained codec).
        on_unit: called with each finished unit and its rows, after they are stored.
    """
    from tqdm.auto import tqdm

    scheduler = scheduler if scheduler is not None else config.scheduler
    workers = int(workers if workers is not None else config.workers) or default_workers()
    if workers < 1:
        raise InvalidArgumentError(f"workers must be at least 1, got {workers}")
    engine = "dask" if scheduler is not None else "processes" if workers > 1 else "serial"
    unknown = set(recompute) - {c for c, _ in config.codecs}
    if unknown:
        raise InvalidArgumentError(f"cannot recompute {sorted(unknown)}: not codecs of this sweep")
    text = dump_toml(replace(config, data_root=None))  # the stored copy names no machine's folders
    store = Store(config.out_dir).open_for(text, config.digest(), config.name, config.legacy_digest())
    if recompute:
        store.consolidate(drop_codecs=recompute)
    _check_weights(store, config)
    store.record_config(text)  # after every refusal: the stored config is the one whose rows these are
    units = plan_units(config, read_bytes=engine == "dask")
    done = store.done_keys() if not retry_errors else store.done_keys() - store.error_keys()
    todo = [u for u in units if u.key not in done]
    threads = _threads(config, 1 if engine == "serial" else workers)
    if engine == "serial":
        stream = _serial(todo, threads)
    elif engine == "processes":
        stream = _processes(todo, workers, threads)
    else:
        client, owned = _dask_client(scheduler)
        workers = len(client.scheduler_info().get("workers", {}))
        stream = _dask(todo, client, config.threads or 1)
    t0 = time.perf_counter()
    computed = failed = rows = 0
    images = set()
    bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=f"sweep {config.name}", unit="unit",
               disable=not progress)
    try:
        for unit, unit_rows in stream:
            if not unit_rows:  # a unit always has a row; an empty list is a bug upstream
                unit_rows = error_rows(unit, "no rows were computed")
            store.write_unit(unit.key, unit_rows)
            computed += 1
            rows += len(unit_rows)
            failed += any(r.get("status") != "ok" for r in unit_rows)
            images.add((unit.dataset, unit.image))
            bar.update()
            if on_unit is not None:
                on_unit(unit, unit_rows)
            if computed % COMPACT_EVERY == 0:
                store.compact()
    finally:
        bar.close()
        stream.close()
        if engine == "dask" and owned:
            client.close()
    store.compact()
    seconds = time.perf_counter() - t0
    return SweepSummary(str(store.path), engine, workers, len(units), len(units) - len(todo),
                        computed, failed, rows, round(seconds, 3), round(computed / seconds, 4) if seconds > 0 else 0.0,
                        round(len(images) / seconds, 4) if seconds > 0 else 0.0)
