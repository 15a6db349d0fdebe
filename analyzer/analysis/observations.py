"""From the tiers' evidence to alarm observations: one :class:`KindObservations` per alarm kind.

The tiers measure; this module says, per reading and alarm, whether the condition holds
(``ALARM``), sits in the deadband (``HOLD``), is clear (``CLEAR``) or was not evaluated
(``NONE``), vectorised over the batch. The alarm step (``analyzer/alarms``) decides what that
means for each alarm's life.

================  ========================================================  ===========================
kind              ALARM                                                     HOLD (deadband ``d``)
================  ========================================================  ===========================
high, high_high   value >= limit                                            value >= limit - d
low, low_low      value <= limit                                            value <= limit + d
out_of_range      value outside the instrument's range_min..range_max       -
zscore            |z| >= STAT_Z_CONFIRM (severe at STAT_Z_IMMEDIATE)        |z| >= confirm - d (sigma)
flatline          tier 2 says ``stuck``                                     -
rate_of_change    |change per minute| > the sensor's max_rate_per_min       -
stale             absent for more than 6 learned intervals                   -
forest            raw score above its calibrated threshold                  -
pca               T^2, Q or a sensor's residual above its calibrated limit  -
================  ========================================================  ===========================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analyzer.alarms.book import KindObservations
from analyzer.alarms.policy import PolicyTable
from analyzer.alarms.step import Level
from analyzer.catalog.index import SensorIndex
from analyzer.tiers.heuristic import HeuristicTier
from analyzer.tiers.statistical import StatisticalTier, Tier2Scores
from analyzer.tiers.statistical.monitor import PcaScores
from analyzer.tiers.statistical.outcome import ANOMALY, INSUFFICIENT, NORMAL, STUCK
from schemas.alarms import AlarmKind

_NONE, _CLEAR, _HOLD, _ALARM = (np.int8(level) for level in (Level.NONE, Level.CLEAR, Level.HOLD, Level.ALARM))


def _levels(alarm: np.ndarray, hold: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    level = np.where(evaluated, _CLEAR, _NONE).astype(np.int8)
    level[evaluated & hold] = _HOLD
    level[evaluated & alarm] = _ALARM
    return level


class Observer:
    """Builds every kind's observations for a bucket group of readings."""

    def __init__(self, index: SensorIndex, policy: PolicyTable, heuristic: HeuristicTier) -> None:
        self.index = index
        self.policy = policy
        self.heuristic = heuristic
        self._range_min = np.array([np.nan if s.range_min is None else s.range_min for s in index.catalog.sensors])
        self._range_max = np.array([np.nan if s.range_max is None else s.range_max for s in index.catalog.sensors])
        self._max_rate = np.array(
            [np.nan if s.max_rate_per_min is None else s.max_rate_per_min for s in index.catalog.sensors]
        )
        self._units = tuple(s.unit for s in index.catalog.sensors)

    def limits(self, values: np.ndarray) -> list[KindObservations]:
        """Tier 1: one alarm per configured limit, with its deadband; and the instrument's range."""
        index, present = self.index, ~np.isnan(values)
        found = []
        for kind, limit, direction in (
            (AlarmKind.HIGH, index.high, 1),
            (AlarmKind.HIGH_HIGH, index.high_high, 1),
            (AlarmKind.LOW, index.low, -1),
            (AlarmKind.LOW_LOW, index.low_low, -1),
        ):
            policy = self.policy.kind(kind)
            evaluated = present & ~np.isnan(limit) & policy.enabled
            with np.errstate(invalid="ignore"):
                beyond = direction * (values - limit)
                level = _levels(beyond >= 0, beyond >= -policy.deadband, evaluated)
            found.append(
                KindObservations(
                    kind,
                    level,
                    values,
                    np.abs(values - limit),
                    describe=self._limit_text(kind, values),
                )
            )
        evaluated = present & ~(np.isnan(self._range_min) & np.isnan(self._range_max))
        with np.errstate(invalid="ignore"):
            outside = (values < self._range_min) | (values > self._range_max)
            distance = np.fmax(self._range_min - values, values - self._range_max)
        found.append(
            KindObservations(
                AlarmKind.OUT_OF_RANGE,
                _levels(outside, outside, evaluated & self.policy.kind(AlarmKind.OUT_OF_RANGE).enabled),
                values,
                distance,
                describe=lambda row, slot: (
                    f"{self.index.names[slot]} = {values[row, slot]:g} {self._units[slot]} is outside the instrument's "
                    f"range {self._range_min[slot]:g}..{self._range_max[slot]:g} (a measurement fault)"
                ),
            )
        )
        return found

    def _limit_text(self, kind: AlarmKind, values: np.ndarray) -> Callable[[int, int], str]:
        code = {AlarmKind.HIGH: 1, AlarmKind.HIGH_HIGH: 2, AlarmKind.LOW: -1, AlarmKind.LOW_LOW: -2}[kind]
        return lambda row, slot: self.heuristic.describe(slot, float(values[row, slot]), code).context

    def statistical(self, scores: Tier2Scores, tier: StatisticalTier) -> list[KindObservations]:
        """Tier 2 and the data-quality checks that need a sensor's history."""
        s, names = tier.settings, self.index.names
        z, status = scores.z, scores.status
        scored = (status == NORMAL) | (status == ANOMALY)
        zpolicy = self.policy.kind(AlarmKind.ZSCORE)
        magnitude = np.abs(np.nan_to_num(z))
        zscore = KindObservations(
            AlarmKind.ZSCORE,
            _levels(magnitude >= s.z_confirm, magnitude >= s.z_confirm - zpolicy.deadband, scored & zpolicy.enabled),
            scores.values,
            magnitude,
            severe=magnitude >= s.z_immediate,
            describe=lambda row, slot: (
                f"{names[slot]} = {scores.values[row, slot]:g} is {magnitude[row, slot]:.1f} sigma from its "
                f"24 h level {scores.centre[row, slot]:.4g}"
            ),
            evidence=lambda row, slot: ((names[slot], round(float(z[row, slot]), 3)),),
        )
        moving = scores.changed & np.isin(status, (NORMAL, ANOMALY, INSUFFICIENT))
        stuck_min = scores.stuck_for_s / 60.0
        flatline = KindObservations(
            AlarmKind.FLATLINE,
            _levels(status == STUCK, status == STUCK, ((status == STUCK) | moving) & self._enabled(AlarmKind.FLATLINE)),
            scores.values,
            stuck_min,
            describe=lambda row, slot: (
                f"{names[slot]} unchanged at {scores.values[row, slot]:g} for {stuck_min[row, slot]:.0f} min (flatline)"
            ),
        )
        rate = scores.rate_per_min
        with np.errstate(invalid="ignore"):
            fast = np.abs(rate) > self._max_rate
        roc = KindObservations(
            AlarmKind.RATE_OF_CHANGE,
            _levels(fast, fast, ~np.isnan(rate) & ~np.isnan(self._max_rate) & self._enabled(AlarmKind.RATE_OF_CHANGE)),
            scores.values,
            np.abs(np.nan_to_num(rate)),
            describe=lambda row, slot: (
                f"{names[slot]} changed at {rate[row, slot]:+.4g} {self._units[slot]}/min, faster than the credible "
                f"{self._max_rate[slot]:g} {self._units[slot]}/min"
            ),
        )
        stale_for = scores.stale_for_s
        with np.errstate(invalid="ignore"):
            stale_now = stale_for > scores.stale_after_s
        stale = KindObservations(
            AlarmKind.STALE,
            _levels(stale_now, stale_now, (stale_now | scores.sampled) & self._enabled(AlarmKind.STALE)),
            scores.values,
            np.nan_to_num(stale_for) / 60.0,
            describe=lambda row, slot: (
                f"{names[slot]} has not reported for {stale_for[row, slot] / 60:.1f} min (stale: check the "
                "transmitter and its communication)"
            ),
        )
        found = [zscore, flatline, roc, stale, self._forest(scores, tier)]
        if scores.pca is not None:
            found.append(self._pca(scores, scores.pca))
        return found

    def _pca(self, scores: Tier2Scores, pca: PcaScores) -> KindObservations:
        """The PCA monitor: T^2, Q or a sensor's residual beyond its calibrated limit."""
        model = pca.model
        evaluated = ~np.isnan(pca.q) & self.policy.of(AlarmKind.PCA, None).enabled
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.fmax(
                np.fmax(pca.t2 / model.t2_limit, pca.q / model.q_limit), pca.residual / model.residual_limit
            )

        def describe(row: int, _: int) -> str:
            drivers = ", ".join(f"{n} ({c:.3g})" for n, c in pca.contributions[row][:3]) or "no single sensor"
            return (
                f"the sensors' usual relations broke: T^2 {pca.t2[row]:.3g} (limit {model.t2_limit:.3g}), "
                f"Q {pca.q[row]:.3g} (limit {model.q_limit:.3g}), largest residual {pca.residual[row]:.2f} sigma "
                f"(limit {model.residual_limit:.2f}); off-model sensors, with their share of Q: {drivers}"
            )

        return KindObservations(
            AlarmKind.PCA,
            _levels(pca.flagged, pca.flagged, evaluated),
            np.full(len(pca.q), np.nan),
            np.nan_to_num(ratio),
            describe=describe,
            evidence=lambda row, _: pca.contributions[row],
            sensors=lambda row: tuple(name for name, _ in pca.contributions[row][:3]),
        )

    def _forest(self, scores: Tier2Scores, tier: StatisticalTier) -> KindObservations:
        score, threshold = scores.ml_score, scores.ml_threshold
        evaluated = ~np.isnan(score) & self.policy.of(AlarmKind.FOREST, None).enabled
        with np.errstate(invalid="ignore"):
            flagged = np.array([status == "Anomaly" for status in scores.ml_status], dtype=bool)

        def describe(row: int, _: int) -> str:
            drivers = ", ".join(f"{n} ({c:.3f})" for n, c in scores.contributions[row][:3]) or "no single sensor"
            return (
                f"plant state more unusual than {score[row]:.1%} of the last 24 h (threshold {threshold:.1%}); "
                f"driven by {drivers}"
            )

        return KindObservations(
            AlarmKind.FOREST,
            _levels(flagged, flagged, evaluated),
            np.full(len(score), np.nan),
            np.nan_to_num(score),
            describe=describe,
            evidence=lambda row, _: scores.contributions[row],
            sensors=lambda row: tuple(name for name, _ in scores.contributions[row][:3]),
        )

    def _enabled(self, kind: AlarmKind) -> np.ndarray:
        return self.policy.kind(kind).enabled
