"""Typed results of sweeps: averaged curves and Bjøntegaard tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


@dataclass(frozen=True)
class SweepCurve:
    """One codec's curve on one dataset (and task): per quality, means over ``images`` images.

    Every point averages the same images (those every compared codec decoded without error).
    Points are sorted by ``measured_bpp``. Machine columns are None on a dataset without that
    task; ``accuracy`` is None without labels. Accuracy and agreement are fractions in [0, 1].
    """

    dataset: str
    codec: str
    task: str
    images: int
    qualities: Tuple[float, ...]
    measured_bpp: Tuple[float, ...]
    estimated_bpp: Tuple[Optional[float], ...]
    psnr: Tuple[float, ...]
    ms_ssim: Tuple[float, ...]
    agreement: Tuple[Optional[float], ...]
    accuracy: Tuple[Optional[float], ...]

    def values(self, metric: str) -> Tuple[Optional[float], ...]:
        return getattr(self, metric)

    def to_dict(self) -> dict:
        return {k: (tuple(_num(x) for x in v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class BDValue:
    """A BD number, or why there is none (``reason``: curves that do not overlap, too few points)."""

    value: Optional[float]
    reason: Optional[str] = None

    def format(self, spec: str = "+.2f", unit: str = "") -> str:
        return "n/a" if self.value is None else f"{self.value:{spec}}{unit}"

    def to_dict(self) -> dict:
        return {"value": _num(self.value), "reason": self.reason}


@dataclass(frozen=True)
class BDRow:
    """One codec against the anchor: the machine side and the human side.

    ``machine_rate``: BD-rate (%) at equal machine metric (the research's "BD-mAP" is of this kind);
    ``machine_metric``: BD of the machine metric at equal rate, in points (percentage points of
    accuracy or agreement); ``human_rate``: BD-rate (%) at equal PSNR; ``human_metric``: BD-PSNR (dB).
    Negative rates: fewer bits than the anchor.
    """

    codec: str
    machine_rate: BDValue
    machine_metric: BDValue
    human_rate: BDValue
    human_metric: BDValue

    def to_dict(self) -> dict:
        return {"codec": self.codec, **{k: v.to_dict() for k, v in self.__dict__.items() if k != "codec"}}


@dataclass(frozen=True)
class BDTable:
    """The research's table: rows are codecs, columns the machine BD and the human BD, against ``anchor``.

    ``machine``: (dataset, task, metric) of the machine columns; ``human``: (dataset, metric) of the
    human columns; ``images``: images averaged on each side; ``method``: ``cubic`` or ``pchip``.
    """

    anchor: str
    machine: Tuple[str, str, str]
    human: Tuple[str, str]
    images: Tuple[int, int]
    method: str
    rows: Tuple[BDRow, ...]

    def row(self, codec: str) -> BDRow:
        return next(r for r in self.rows if r.codec == codec)

    def to_markdown(self) -> str:
        (md, mt, mm), (hd, hm) = self.machine, self.human
        lines = [
            f"BD against **{self.anchor}** (anchor), {self.method} fit. Machine: {mm} of `{mt}` on {md} "
            f"({self.images[0]} images); human: {hm.upper()} on {hd} ({self.images[1]} images). "
            "Negative BD-rate: fewer bits than the anchor for the same quality.",
            "",
            f"| codec | BD-rate, machine ({mm}) | BD-{mm} (points) | BD-rate, human ({hm.upper()}) | BD-{hm.upper()} (dB) |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            if r.codec == self.anchor:
                lines.append(f"| {r.codec} (anchor) | – | – | – | – |")
                continue
            lines.append(f"| {r.codec} | {r.machine_rate.format('+.2f', ' %')} | {r.machine_metric.format('+.2f')} | "
                         f"{r.human_rate.format('+.2f', ' %')} | {r.human_metric.format('+.2f')} |")
        notes = sorted({f"{r.codec}: {v.reason}" for r in self.rows if r.codec != self.anchor for v in
                        (r.machine_rate, r.machine_metric, r.human_rate, r.human_metric) if v.reason})
        if notes:
            lines += ["", "n/a: " + "; ".join(notes)]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        head = "codec,machine_bd_rate_percent,machine_bd_points,human_bd_rate_percent,human_bd_db"
        rows = [head]
        for r in self.rows:
            vals = [r.machine_rate, r.machine_metric, r.human_rate, r.human_metric]
            rows.append(",".join([r.codec] + ["" if v.value is None else f"{v.value:.4f}" for v in vals]))
        return "\n".join(rows) + "\n"

    def to_latex(self) -> str:
        (_, _, mm), (_, hm) = self.machine, self.human
        lines = [r"\begin{tabular}{lrrrr}", r"\toprule",
                 f"Codec & BD-rate ({mm}) & BD-{mm} & BD-rate ({hm.upper()}) & BD-{hm.upper()} \\\\", r"\midrule"]
        for r in self.rows:
            if r.codec == self.anchor:
                lines.append(f"{r.codec} (anchor) & -- & -- & -- & -- \\\\")
                continue
            cells = [r.machine_rate.format("+.2f", r"\%"), r.machine_metric.format("+.2f"),
                     r.human_rate.format("+.2f", r"\%"), r.human_metric.format("+.2f")]
            lines.append(f"{r.codec} & " + " & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"anchor": self.anchor, "machine": list(self.machine), "human": list(self.human),
                "images": list(self.images), "method": self.method, "rows": [r.to_dict() for r in self.rows]}
