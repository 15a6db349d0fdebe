"""Tier 2: the 24-hour window statistics (z-scores, stuck sensors) and a cross-sensor IsolationForest.

Modules: ``settings`` (``STAT_*`` variables), ``window`` (bucketed incremental statistics),
``store`` (the shared window in Redis), ``forest`` (compiled IsolationForest, calibration,
contributions), ``models`` (sharing the model), ``outcome`` (the evidence), ``tier`` (the tier).
"""

from analyzer.tiers.statistical.outcome import StatisticalOutcome
from analyzer.tiers.statistical.settings import StatisticalSettings
from analyzer.tiers.statistical.tier import StatisticalTier

__all__ = ["StatisticalOutcome", "StatisticalSettings", "StatisticalTier"]
