"""Tier 2: the 24-hour window statistics (z-scores, stuck sensors) and a cross-sensor IsolationForest.

Modules: ``settings`` (``STAT_*`` variables), ``window`` (bucketed incremental statistics),
``state`` (what the tier knows after folding the stream so far), ``forest`` (compiled
IsolationForest, calibration, contributions), ``outcome`` (status codes), ``tier`` (scoring and
learning on a state).
"""

from analyzer.tiers.statistical.settings import StatisticalSettings
from analyzer.tiers.statistical.state import Tier2State
from analyzer.tiers.statistical.tier import StatisticalTier, Tier2Scores

__all__ = ["StatisticalSettings", "StatisticalTier", "Tier2Scores", "Tier2State"]
