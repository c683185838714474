"""Typed results that cross module boundaries (frozen dataclasses, never string-keyed dicts).

:mod:`~hmxai.types.pipeline` holds the codec and pipeline results, :mod:`~hmxai.types.explain`
those of the explanations; both are importable from here.
"""

from hmxai.types.explain import (
    BUDGET_CLASSES,
    BitBudget,
    BudgetCurve,
    BudgetCurves,
    ChannelScores,
    DeletionInsertion,
    SpatialMaps,
)
from hmxai.types.pipeline import EncodedImage, LatentResult, PipelineResult, Prediction

__all__ = [
    "BUDGET_CLASSES", "BitBudget", "BudgetCurve", "BudgetCurves", "ChannelScores", "DeletionInsertion",
    "EncodedImage", "LatentResult", "PipelineResult", "Prediction", "SpatialMaps",
]
