"""The decision: from the tiers' evidence to a final status, a severity, a confidence and the
anomalous conditions that open or update episodes.

Rule (tier 1):

* any Low-Low / High-High -> ``critical``; any Low / High -> ``high``;
* a limit breach is a measured fact, so its confidence is 1.0; a reading with no evidence of an
  anomaly is ``normal`` with confidence 1.0 for what tier 1 can see.

Conditions are keyed ``{tier}:{sensor(s)}:{kind}``; High and High-High of one sensor are the same
condition (``heuristic:TI-101:high``) so an escalation updates one episode instead of opening two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.reading import Reading
from analyzer.sensors import SensorIndex
from analyzer.tiers.heuristic import ALARM_OF_CODE, HeuristicOutcome
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

    def shows_normal(self, key: str) -> bool:
        """True when this reading evaluated ``key``'s condition and found it normal.

        A condition whose sensor is absent from the reading was not evaluated: it neither clears
        nor continues its episode.
        """
        tier, sensors, _kind = key.split(":", 2)
        if any(c.key == key for c in self.conditions):
            return False
        if tier == "heuristic":
            slot = self.index.position.get(sensors)
            return slot is not None and not np.isnan(self.reading.values[slot])
        return False


def decide(reading: Reading, heuristic: HeuristicOutcome, index: SensorIndex) -> Assessment:
    conditions = _heuristic_conditions(reading, heuristic, index)
    severity = max((c.severity for c in conditions), key=lambda s: s.rank, default=None)
    anomalous = tuple(sorted({s for c in conditions for s in c.sensors}))
    return Assessment(
        final_status=FinalStatus.ANOMALY if conditions else FinalStatus.NORMAL,
        severity=severity,
        confidence=1.0,
        conditions=tuple(conditions),
        anomalous_sensors=anomalous,
        reading=reading,
        heuristic_codes=heuristic.codes,
        index=index,
    )


def _heuristic_conditions(reading: Reading, heuristic: HeuristicOutcome, index: SensorIndex) -> list[Condition]:
    conditions = []
    for slot in np.flatnonzero(heuristic.codes):
        code = int(heuristic.codes[slot])
        name = index.names[slot]
        result = heuristic.block.results[name]
        limit = result.limit if result.limit is not None else result.value
        conditions.append(
            Condition(
                key=condition_key("heuristic", (name,), "high" if code > 0 else "low"),
                tier="heuristic",
                sensors=(name,),
                alarm_type=ALARM_OF_CODE[code].value,
                severity=Severity.CRITICAL if abs(code) == 2 else Severity.HIGH,
                value=result.value,
                deviation=abs(result.value - limit),
                description=result.context,
            )
        )
    return conditions
