"""Helpers the explanation modules share: the explained class of a ladder, rank correlation, eval mode."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.modes import eval_mode
from hmxai.types.ladder import RateLadder

__all__ = ["eval_mode", "resolve_target", "spearman"]


def resolve_target(ladder: RateLadder, task, target: Optional[int]) -> Tuple[object, int]:
    """The ladder's task model and the class to explain (default: top-1 on the original)."""
    from hmxai.pipeline import resolve_task

    task = resolve_task(task if task is not None else ladder.task)
    if task.name != ladder.task:
        raise InvalidArgumentError(f"the ladder was predicted by {ladder.task!r}, not by {task.name!r}")
    with eval_mode(task), torch.no_grad():
        top1 = int(task(ladder.images[:1]).argmax(-1))
    if top1 != ladder.predictions[0].indices[0]:
        raise InvalidArgumentError(f"this {task.name!r} model does not give the ladder's prediction on the original: "
                         "explain with the task model that made the ladder")
    target = ladder.predictions[0].indices[0] if target is None else int(target)
    if not 0 <= target < task.num_classes:
        raise InvalidArgumentError(f"target {target} is not a class of the task (0..{task.num_classes - 1})")
    return task, target


def spearman(a: Sequence[float] | Tensor, b: Sequence[float] | Tensor) -> float:
    """Spearman rank correlation (average ranks for ties); nan if either side is constant."""
    from scipy.stats import spearmanr

    a = torch.as_tensor(a, dtype=torch.float64).flatten().numpy()
    b = torch.as_tensor(b, dtype=torch.float64).flatten().numpy()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
