"""The decision: from the tiers' evidence to a final status, a severity, a confidence and the
anomalous conditions that open or update episodes.

Rule
----
Each anomalous condition has a severity and an evidence strength ``e`` in 0..1:

=================================  ===================================  ==========================
condition (key)                    severity                             evidence ``e``
=================================  ===================================  ==========================
limit breach                       Low-Low / High-High -> ``critical``,  1.0 (a measured fact)
``heuristic:S:high|low``           Low / High -> ``high``
confirmed z-score                  ``low``; ``medium`` at               0.5 at ``|z| = t``, rising
``statistical:S:zscore``           ``|z| >= 2 t``                       linearly to 0.9 at ``2 t``
stuck / flatline                   ``medium`` for a core sensor,        0.7
``statistical:S:stuck``            else ``low``
IsolationForest                    ``low``                              0.5 at the threshold,
``ml:plant:isolation_forest``                                           0.9 at calibrated score 1
=================================  ===================================  ==========================

(``t`` is the z threshold, default 3.) Multiple testing: a hundred sensors tested at ``|z| >= t``
on every reading would flag a large share of normal readings, so a z-score is a condition only once
tier 2 *confirmed* it: ``|z| >= STAT_Z_CONFIRM`` (3.5) for ``STAT_Z_PERSISTENCE`` (3) consecutive
updates of that sensor, or ``|z| >= STAT_Z_IMMEDIATE`` (5) at once (see
``analyzer/tiers/statistical/tier.py``). A lone ``|z| >= t`` blip shows in the sensor's tier 2
``status`` but does not make the reading anomalous. Likewise the IsolationForest is a condition
after ``STAT_IF_PERSISTENCE`` consecutive flagged readings. Agreement: when the confirmed forest
and at least two confirmed z-scores agree, the tier 2 conditions of that reading are raised one
step (``low`` -> ``medium`` -> ``high``); only a measured trip-limit breach is ``critical``.

* ``severity_level`` is the highest severity of the reading's conditions;
* ``overall_confidence`` of an anomaly is the noisy-OR ``1 - prod(1 - e)`` of its conditions, so
  independent tiers that agree raise it (IsolationForest 0.5 alone, with two z-scores at 0.5
  -> 0.875; any limit breach -> 1.0);
* a normal reading's confidence is ``1 - m / 2``, where ``m`` in 0..1 is how close tier 2 came to
  a flag: the larger of ``max |z| / t`` and the calibrated IsolationForest score's way from the
  median (0.5) to its threshold. Without tier 2 evidence it is 1.0.

Conditions are keyed ``{tier}:{sensor(s)}:{kind}``; High and High-High of one sensor are the same
condition (``heuristic:TI-101:high``) so an escalation updates one episode instead of opening two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicOutcome
from analyzer.tiers.statistical.outcome import (
    ANOMALY,
    INSUFFICIENT,
    NORMAL,
    STUCK,
    StatisticalOutcome,
)
from schemas.anomalies import Tier
from schemas.results import FinalStatus, Severity


def condition_key(tier: Tier, sensors: tuple[str, ...], kind: str) -> str:
    """``heuristic:TI-101:high``; sensor sets are joined with ``+`` in sorted order."""
    return f"{tier}:{'+'.join(sorted(sensors))}:{kind}"


@dataclass(frozen=True, slots=True)
class Condition:
    """One anomalous condition seen in one reading."""

    key: str
    tier: Tier
    sensors: tuple[str, ...]
    alarm_type: str
    severity: Severity
    value: float | None
    #: How far out: distance beyond the limit, |z|, or the calibrated score.
    deviation: float
    description: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """The decision for one reading."""

    final_status: FinalStatus
    severity: Severity | None
    confidence: float
    conditions: tuple[Condition, ...]
    anomalous_sensors: tuple[str, ...]
    reading: Reading
    heuristic_codes: np.ndarray
    index: SensorIndex
    #: Tier 2's evidence, when tier 2 ran.
    statistical: StatisticalOutcome | None = None

    def shows_normal(self, key: str) -> bool:
        """True when this reading evaluated ``key``'s condition and found it normal.

        A condition whose sensor is absent from the reading was not evaluated: it neither clears
        nor continues its episode.
        """
        tier, sensors, kind = key.split(":", 2)
        if any(c.key == key for c in self.conditions):
            return False
        if tier == "heuristic":
            slot = self.index.position.get(sensors)
            return slot is not None and not np.isnan(self.reading.values[slot])
        outcome = self.statistical
        if outcome is None:
            return False
        if tier == "ml":
            return outcome.ml_status == "Normal"
        if tier == "statistical":
            slot = self.index.position.get(sensors)
            if slot is None:
                return False
            status = int(outcome.status[slot])
            if kind == "zscore":
                return status == NORMAL
            if kind == "stuck":
                # a real, moving sample clears a flatline; a repeated hourly value does not
                return status in (NORMAL, ANOMALY, INSUFFICIENT)
        return False


def decide(
    reading: Reading,
    heuristic: HeuristicOutcome,
    index: SensorIndex,
    statistical: StatisticalOutcome | None = None,
) -> Assessment:
    """Final status, severity, confidence and conditions of one reading (rule in the module docstring).

    >>> from analyzer.tiers.heuristic import HeuristicTier
    >>> from schemas.catalog import SensorCatalog, SensorSpec
    >>> from datetime import UTC, datetime
    >>> cat = SensorCatalog(plant="p", sensors=[SensorSpec(name="T", unit="C", description="t", high=90)])
    >>> idx = SensorIndex.from_catalog(cat)
    >>> r = Reading("1-0", datetime.now(UTC), np.array([95.0]), {"T": 95.0}, ())
    >>> a = decide(r, HeuristicTier(idx).evaluate([r])[0], idx)
    >>> a.final_status.value, a.severity.value, a.confidence, [c.key for c in a.conditions]
    ('anomaly', 'high', 1.0, ['heuristic:T:high'])
    """
    conditions = _heuristic_conditions(reading, heuristic, index)
    evidence = [1.0] * len(conditions)
    if statistical is not None:
        tier2, tier2_evidence = _statistical_conditions(statistical, index)
        conditions += tier2
        evidence += tier2_evidence
    severity = max((c.severity for c in conditions), key=lambda s: s.rank, default=None)
    anomalous = tuple(sorted({s for c in conditions for s in c.sensors}))
    confidence = 1.0 - float(np.prod([1.0 - e for e in evidence])) if conditions else _normal_confidence(statistical)
    return Assessment(
        final_status=FinalStatus.ANOMALY if conditions else FinalStatus.NORMAL,
        severity=severity,
        confidence=round(min(max(confidence, 0.0), 1.0), 4),
        conditions=tuple(conditions),
        anomalous_sensors=anomalous,
        reading=reading,
        heuristic_codes=heuristic.codes,
        index=index,
        statistical=statistical,
    )


_RAISE = {Severity.LOW: Severity.MEDIUM, Severity.MEDIUM: Severity.HIGH, Severity.HIGH: Severity.HIGH}


def _statistical_conditions(outcome: StatisticalOutcome, index: SensorIndex) -> tuple[list[Condition], list[float]]:
    threshold = outcome.z_threshold
    found: list[tuple[Condition, float]] = []
    z_flags = 0
    for slot in np.flatnonzero(outcome.confirmed | (outcome.status == STUCK)):
        name = index.names[slot]
        value = float(outcome.values[slot])
        if outcome.status[slot] == STUCK:
            minutes = float(outcome.stuck_for_s[slot]) / 60
            found.append(
                (
                    Condition(
                        key=condition_key("statistical", (name,), "stuck"),
                        tier="statistical",
                        sensors=(name,),
                        alarm_type="stuck",
                        severity=Severity.MEDIUM if index.core[slot] else Severity.LOW,
                        value=value,
                        deviation=minutes,
                        description=f"{name} unchanged at {value:g} for {minutes:.0f} min (flatline)",
                    ),
                    0.7,
                )
            )
            continue
        z = abs(float(outcome.z[slot]))
        z_flags += 1
        centre = float(outcome.centre[slot])
        found.append(
            (
                Condition(
                    key=condition_key("statistical", (name,), "zscore"),
                    tier="statistical",
                    sensors=(name,),
                    alarm_type="zscore",
                    severity=Severity.MEDIUM if z >= 2 * threshold else Severity.LOW,
                    value=value,
                    deviation=z,
                    description=f"{name} = {value:g} is {z:.1f} sigma from its 24 h level {centre:.4g}",
                ),
                min(0.9, 0.5 + 0.4 * (z - threshold) / threshold),
            )
        )
    if outcome.ml_confirmed:
        top = tuple(name for name, _ in outcome.contributions[:3]) or ("plant",)
        score, limit = outcome.ml_score, outcome.ml_threshold
        drivers = ", ".join(f"{n} ({c:.3f})" for n, c in outcome.contributions[:3]) or "no single sensor"
        found.append(
            (
                Condition(
                    key="ml:plant:isolation_forest",
                    tier="ml",
                    sensors=top,
                    alarm_type="isolation_forest",
                    severity=Severity.LOW,
                    value=None,
                    deviation=score,
                    description=(
                        f"plant state more unusual than {score:.1%} of the last 24 h "
                        f"(threshold {limit:.1%}); driven by {drivers}"
                    ),
                ),
                0.5 + 0.4 * max(0.0, score - limit) / max(1e-9, 1.0 - limit),
            )
        )
        if z_flags >= 2:
            found = [(replace(c, severity=_RAISE[c.severity]), e) for c, e in found]
    return [c for c, _ in found], [e for _, e in found]


def _normal_confidence(outcome: StatisticalOutcome | None) -> float:
    if outcome is None:
        return 1.0
    closeness = outcome.max_abs_z / outcome.z_threshold
    if np.isfinite(outcome.ml_score):
        closeness = max(closeness, (outcome.ml_score - 0.5) / max(1e-9, outcome.ml_threshold - 0.5))
    return 1.0 - 0.5 * min(max(closeness, 0.0), 1.0)


def _heuristic_conditions(reading: Reading, heuristic: HeuristicOutcome, index: SensorIndex) -> list[Condition]:
    conditions = []
    for slot in np.flatnonzero(heuristic.codes):
        code = int(heuristic.codes[slot])
        name = index.names[slot]
        alarm = heuristic.describe(int(slot))
        conditions.append(
            Condition(
                key=condition_key("heuristic", (name,), "high" if code > 0 else "low"),
                tier="heuristic",
                sensors=(name,),
                alarm_type=alarm.alarm.value,
                severity=Severity.CRITICAL if abs(code) == 2 else Severity.HIGH,
                value=alarm.value,
                deviation=abs(alarm.value - alarm.limit),
                description=alarm.context,
            )
        )
    return conditions
