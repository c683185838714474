"""Typed results that cross module boundaries (frozen dataclasses, never string-keyed dicts).

:mod:`~hmxai.types.pipeline` holds the codec and pipeline results, :mod:`~hmxai.types.rung` the
one rung every feature consumes, :mod:`~hmxai.types.explain`
those of the channel explanations, :mod:`~hmxai.types.ladder` the rate ladder and the pixel
explanations on it, :mod:`~hmxai.types.spiking` the counts of spiking task models; all are
importable from here.
"""

from hmxai.types.explain import (
    BUDGET_CLASSES,
    BitBudget,
    BudgetCurve,
    BudgetCurves,
    BudgetShares,
    ChannelScores,
    DeletionInsertion,
    Effects,
    MachineHumanSplit,
    MethodAgreement,
    MethodAgreementRow,
    OrderingBD,
    SpatialMaps,
)
from hmxai.types.ladder import Drift, PixelExplanation, PixelFaithfulness, RateLadder
from hmxai.types.pipeline import EncodedImage, LatentResult, PipelineResult, Prediction
from hmxai.types.rung import Metrics, Rung
from hmxai.types.spiking import BitsVsSpikes, EnergyReport, LayerCount

__all__ = [
    "BUDGET_CLASSES", "BitBudget", "BitsVsSpikes", "EnergyReport", "LayerCount", "BudgetCurve", "BudgetCurves", "BudgetShares", "ChannelScores", "DeletionInsertion",
    "Drift", "Effects", "MachineHumanSplit", "MethodAgreement", "MethodAgreementRow", "OrderingBD",
    "EncodedImage", "LatentResult", "Metrics", "PipelineResult", "PixelExplanation", "PixelFaithfulness", "Prediction",
    "RateLadder", "Rung", "SpatialMaps",
]
