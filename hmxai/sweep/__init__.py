"""Sweeps: codecs x qualities x tasks x datasets from a config file, resumable, on one or many machines.

>>> from hmxai.sweep import SweepConfig, run_sweep, load_results
>>> config = SweepConfig.from_file("configs/sweep-paper.toml")
>>> run_sweep(config)                      # kill it any time; run it again to finish
>>> results = load_results(config.out_dir)  # SweepResults: the rows, curves, BD tables

See ``docs/sweeps.md``.
"""

from hmxai.sweep.config import DatasetSpec, SweepConfig, TaskSpec
from hmxai.sweep.run import SweepSummary, plan_units, run_sweep
from hmxai.sweep.store import Store

__all__ = ["DatasetSpec", "Store", "SweepConfig", "SweepSummary", "TaskSpec", "plan_units", "run_sweep"]
