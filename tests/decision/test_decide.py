"""The decision rule with tier 2 evidence: severity, confidence, conditions and shows_normal."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.decision import decide
from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicTier
from analyzer.tiers.statistical.outcome import ANOMALY, INSUFFICIENT, NORMAL, NOT_UPDATED, STUCK, StatisticalOutcome
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.results import FinalStatus, Severity

CATALOG = SensorCatalog(
    plant="p",
    sensors=[
        SensorSpec(name="TI-1", unit="C", description="t", core=True, low_low=0, low=10, high=90, high_high=100),
        SensorSpec(name="TI-2", unit="C", description="t", low=10, high=90),
        SensorSpec(name="TI-3", unit="C", description="t"),
        SensorSpec(name="LAB-1", unit="%", description="lab", update_interval_s=3600),
    ],
)
INDEX = SensorIndex.from_catalog(CATALOG)


def _reading(values: list[float]) -> Reading:
    return Reading("1700000000000-0", datetime.now(UTC), np.array(values, dtype=float), {}, ())


def _outcome(
    values: list[float],
    status: list[int],
    z: list[float],
    *,
    ml: str = "Normal",
    score: float = 0.4,
    confirmed: list[bool] | None = None,
    ml_confirmed: bool | None = None,
) -> StatisticalOutcome:
    """Tier 2 evidence; by default every ``Anomaly`` z-score and forest flag is confirmed."""
    arr = np.array(values, dtype=float)
    codes = np.array(status, dtype=np.int8)
    return StatisticalOutcome(
        names=INDEX.names,
        timestamp=datetime.now(UTC),
        values=arr,
        centre=np.full(4, 50.0),
        spread=np.full(4, 2.0),
        z=np.array(z, dtype=float),
        status=codes,
        streak=np.where(codes == ANOMALY, 3, 0),
        confirmed=(codes == ANOMALY) if confirmed is None else np.array(confirmed),
        stuck_for_s=np.full(4, 1800.0),
        z_threshold=3.0,
        z_persistence=3,
        robust=False,
        ml_status=ml,
        ml_streak=3 if ml == "Anomaly" else 0,
        ml_confirmed=(ml == "Anomaly") if ml_confirmed is None else ml_confirmed,
        ml_raw=0.6,
        ml_score=score,
        ml_threshold=0.995,
        contributions=(("TI-2", 0.05), ("TI-3", 0.02)) if ml == "Anomaly" else (),
        model_version="v1",
        processing_ms=0.01,
    )


def _decide(values: list[float], outcome: StatisticalOutcome | None):  # type: ignore[no-untyped-def]
    reading = _reading(values)
    return decide(reading, HeuristicTier(INDEX).evaluate([reading])[0], INDEX, outcome)


def test_without_tier2_the_tier1_rule_holds() -> None:
    assessment = _decide([50, 50, 50, 50], None)
    assert assessment.final_status is FinalStatus.NORMAL and assessment.confidence == 1.0
    breach = _decide([101, 50, 50, 50], None)
    assert breach.severity is Severity.CRITICAL and breach.confidence == 1.0


def test_single_zscore_is_low_with_moderate_confidence() -> None:
    outcome = _outcome([50, 60, 50, 50], [NORMAL, ANOMALY, NORMAL, NORMAL], [0, 3.0, 0, 0])
    assessment = _decide([50, 60, 50, 50], outcome)
    assert [c.key for c in assessment.conditions] == ["statistical:TI-2:zscore"]
    assert assessment.severity is Severity.LOW and assessment.confidence == 0.5
    big = _outcome([50, 70, 50, 50], [NORMAL, ANOMALY, NORMAL, NORMAL], [0, 7.0, 0, 0])
    assert _decide([50, 70, 50, 50], big).severity is Severity.MEDIUM


def test_forest_and_two_zscores_agree_raise_severity_and_confidence() -> None:
    values = [50, 60, 60, 50]
    alone = _decide(values, _outcome(values, [NORMAL] * 4, [0, 1, 1, 0], ml="Anomaly", score=0.995))
    assert alone.severity is Severity.LOW and alone.confidence == 0.5
    ml = next(c for c in alone.conditions if c.tier == "ml")
    assert ml.key == "ml:plant:isolation_forest" and ml.sensors == ("TI-2", "TI-3")
    agreeing = _decide(
        values, _outcome(values, [NORMAL, ANOMALY, ANOMALY, NORMAL], [0, 3, 3, 0], ml="Anomaly", score=0.995)
    )
    assert agreeing.severity is Severity.MEDIUM
    assert agreeing.confidence == 0.875  # 1 - 0.5^3
    assert agreeing.confidence > alone.confidence


def test_limit_breach_stays_critical_and_certain_with_tier2() -> None:
    values = [101, 60, 50, 50]
    outcome = _outcome(values, [ANOMALY, ANOMALY, NORMAL, NORMAL], [20, 3, 0, 0], ml="Anomaly", score=1.0)
    assessment = _decide(values, outcome)
    assert assessment.severity is Severity.CRITICAL and assessment.confidence == 1.0
    assert {c.key for c in assessment.conditions} == {
        "heuristic:TI-1:high",
        "statistical:TI-1:zscore",
        "statistical:TI-2:zscore",
        "ml:plant:isolation_forest",
    }


def test_stuck_core_sensor_is_medium() -> None:
    values = [50, 50, 50, 50]
    outcome = _outcome(values, [STUCK, STUCK, NORMAL, NORMAL], [np.nan, np.nan, 0, 0])
    assessment = _decide(values, outcome)
    severities = {c.key: c.severity for c in assessment.conditions}
    assert severities == {"statistical:TI-1:stuck": Severity.MEDIUM, "statistical:TI-2:stuck": Severity.LOW}


def test_normal_confidence_drops_near_the_thresholds() -> None:
    values = [50, 50, 50, 50]
    calm = _decide(values, _outcome(values, [NORMAL] * 4, [0, 0.3, 0, 0], score=0.5))
    close = _decide(values, _outcome(values, [NORMAL] * 4, [0, 2.7, 0, 0], score=0.5))
    assert calm.final_status is FinalStatus.NORMAL and calm.confidence == 0.95
    assert close.confidence == 0.55


def test_shows_normal_for_tier2_keys() -> None:
    values = [50, 50, 50, 50]
    outcome = _outcome(values, [NORMAL, INSUFFICIENT, ANOMALY, NOT_UPDATED], [0, np.nan, 4, np.nan])
    assessment = _decide(values, outcome)
    assert assessment.shows_normal("statistical:TI-1:zscore")
    assert not assessment.shows_normal("statistical:TI-2:zscore")  # not scored yet: neither clears nor continues
    assert not assessment.shows_normal("statistical:TI-3:zscore")  # anomalous now
    assert not assessment.shows_normal("statistical:LAB-1:zscore")  # repeated hourly value
    assert assessment.shows_normal("statistical:TI-1:stuck")
    assert not assessment.shows_normal("statistical:LAB-1:stuck")
    assert assessment.shows_normal("ml:plant:isolation_forest")
    no_model = _decide(values, _outcome(values, [NORMAL] * 4, [0] * 4, ml="no_model", score=np.nan))
    assert not no_model.shows_normal("ml:plant:isolation_forest")
    assert no_model.confidence == 1.0


def test_unconfirmed_blips_do_not_make_the_reading_anomalous() -> None:
    values = [50, 60, 60, 50]
    blip = _outcome(
        values,
        [NORMAL, ANOMALY, ANOMALY, NORMAL],
        [0, 3.2, -3.4, 0],
        ml="Anomaly",
        score=0.999,
        confirmed=[False] * 4,
        ml_confirmed=False,
    )
    assessment = _decide(values, blip)
    assert assessment.final_status is FinalStatus.NORMAL and assessment.conditions == ()
    assert assessment.confidence == 0.5  # as close to a flag as it gets
    assert blip.statistical.results["TI-2"].status == "Anomaly"  # the per-sensor status still says so
    assert "not confirmed" in blip.statistical.results["TI-2"].context
    one = _outcome(values, [NORMAL, ANOMALY, ANOMALY, NORMAL], [0, 4.0, 3.2, 0], confirmed=[False, True, False, False])
    assert [c.key for c in _decide(values, one).conditions] == ["statistical:TI-2:zscore"]
