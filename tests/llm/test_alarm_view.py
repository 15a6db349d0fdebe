"""From an alarm record to what tier 3 is told: evidence as z-scores or contributions by kind, every
tier (including the data-quality one), and the offline context of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from analyzer.runtime.explainer import alarm_view
from analyzer.settings import Settings
from analyzer.tiers.llm.explain import ContextService
from schemas.alarms import TIER_OF_KIND, AlarmKind, AlarmRecord
from schemas.results import Severity
from tests.llm.factories import CATALOG

OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def record(kind: AlarmKind, sensors: list[str], evidence: dict[str, float]) -> AlarmRecord:
    group = "plant" if kind in (AlarmKind.FOREST, AlarmKind.PCA) else sensors[0]
    return AlarmRecord(
        id=f"{kind.value}:{group}@1763888400000-0",
        alarm_key=f"{kind.value}:{group}",
        kind=kind,
        tier=TIER_OF_KIND[kind],
        sensors=sensors,
        group=group,
        severity_level=Severity.MEDIUM,
        opened_at=OPENED,
        last_seen=OPENED + timedelta(minutes=12),
        first_entry_id="1763888400000-0",
        last_entry_id="1763889120000-0",
        count=73,
        last_value=361.0,
        peak_value=362.5,
        peak_deviation=4.1,
        description=f"{sensors[0]} {kind.value}",
        evidence=evidence,
        etag="1",
    )


def test_a_zscore_record_gives_z_scores_and_its_facts() -> None:
    view = alarm_view(record(AlarmKind.ZSCORE, ["TI-101"], {"TI-101": 5.2}), "opened")
    assert view.z_scores == {"TI-101": 5.2} and view.contributions == {}
    assert (view.kind, view.tier, view.priority, view.event) == ("zscore", "statistical", "medium", "opened")
    assert view.sensors == ("TI-101",) and view.count == 73 and view.peak_deviation == 4.1
    assert view.opened_at == OPENED and view.last_seen == OPENED + timedelta(minutes=12)


def test_a_forest_record_gives_contributions() -> None:
    evidence = {"TI-101": 0.41, "FI-101": 0.22, "PI-102": 0.1}
    view = alarm_view(record(AlarmKind.FOREST, list(evidence), evidence), "escalated")
    assert view.contributions == evidence and view.z_scores == {}
    assert (view.tier, view.event) == ("ml", "escalated")


@pytest.mark.redis
@pytest.mark.parametrize("kind", list(AlarmKind), ids=lambda k: k.value)
async def test_every_kind_of_record_gets_an_offline_context(
    kind: AlarmKind, settings: Settings, redis_client: Redis
) -> None:
    sensors = ["TI-101", "FI-101"] if kind in (AlarmKind.FOREST, AlarmKind.PCA) else ["TI-101"]
    evidence = {"TI-101": 0.5, "FI-101": 0.2} if kind in (AlarmKind.FOREST, AlarmKind.PCA) else {"TI-101": 4.0}
    service = ContextService.from_settings(settings, redis_client, catalog=CATALOG)
    try:
        context = await service.explain_from_stream(alarm_view(record(kind, sensors, evidence), "opened"))
    finally:
        await service.aclose()
    assert context.provider == "offline" and context.status == "ok" and context.offline
    assert "TI-101" in context.summary
    assert context.for_priority == "medium" and context.for_event == "opened"
