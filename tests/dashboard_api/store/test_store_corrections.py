"""Value corrections in the store, against SQLite and Cosmos DB: audit trail, idempotency,
versions, concurrency, simulated crashes between the two writes, and repair after a replay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from store_factories import at, entry_id, make_result

from analyzer.store import _faults, corrections
from analyzer.store._faults import SimulatedCrash
from analyzer.store.protocol import (
    CorrectionRequest,
    InvalidCorrectionError,
    ModificationQuery,
    NotFoundError,
    Store,
    VersionMismatchError,
)
from schemas.results import AnalysisResult


def request(
    n: int, value: float, *, sensor: str = "TI-101", result: int = 0, expected: str | None = None
) -> CorrectionRequest:
    return CorrectionRequest(
        id=f"corr-{n}",
        result_id=entry_id(result),
        sensor=sensor,
        new_value=value,
        reason="calibration offset",
        modified_by="alice",
        modified_at=at(600 + n),
        expected_version=expected,
    )


def crash_at(point: str) -> _faults.FaultHook:
    def hook(reached: str) -> None:
        if reached == point:
            raise SimulatedCrash(point)

    return hook


async def audit(store: Store, result: int = 0) -> list[str]:
    page = await store.query_modifications(ModificationQuery(result_id=entry_id(result)))
    return sorted(record.id for record in page.items)


async def shown(store: Store, result: int = 0) -> AnalysisResult:
    found = await store.get_result(entry_id(result))
    assert found is not None
    return found


async def test_a_correction_keeps_the_original_and_writes_the_audit_record(store: Store) -> None:
    original = make_result(0, value=351.5)
    await store.put_results([original])

    outcome = await store.correct_value(request(1, 349.0))

    assert outcome.applied
    record = outcome.record
    assert (record.result_id, record.sensor, record.old_value, record.new_value) == (
        original.id,
        "TI-101",
        351.5,
        349.0,
    )
    assert (record.modified_by, record.reason, record.reading_time) == (
        "alice",
        "calibration offset",
        original.timestamp,
    )
    stored = await shown(store)
    assert stored.raw_data == original.raw_data, "the reading as landed is preserved"
    assert stored.corrections["TI-101"].value == 349.0
    assert stored.corrections["TI-101"].modification_id == record.id
    assert outcome.version == corrections.version(stored) != corrections.version(original)
    assert await store.get_modification(record.id) == record
    assert await store.get_modification("nope") is None


async def test_corrections_chain_and_the_audit_trail_shows_each_step(store: Store) -> None:
    await store.put_results([make_result(0, value=351.5)])
    first = await store.correct_value(request(1, 349.0))
    second = await store.correct_value(request(2, 348.0))
    assert second.record.old_value == first.record.new_value == 349.0
    stored = await shown(store)
    assert stored.raw_data["TI-101"] == 351.5 and stored.corrections["TI-101"].value == 348.0
    assert await audit(store) == ["corr-1", "corr-2"]


async def test_a_repeated_request_is_harmless(store: Store) -> None:
    await store.put_results([make_result(0)])
    first = await store.correct_value(request(1, 349.0))
    again = await store.correct_value(request(1, 349.0))
    assert not again.applied and again.record == first.record and again.version == first.version
    assert await audit(store) == ["corr-1"]
    with pytest.raises(InvalidCorrectionError, match="already used"):
        await store.correct_value(request(1, 340.0))


async def test_refusals(store: Store) -> None:
    await store.put_results([make_result(0)])
    with pytest.raises(NotFoundError):
        await store.correct_value(request(1, 1.0, result=5))
    with pytest.raises(InvalidCorrectionError, match="no reading of sensor 'FI-999'"):
        await store.correct_value(request(1, 1.0, sensor="FI-999"))
    with pytest.raises(VersionMismatchError) as refused:
        await store.correct_value(request(1, 1.0, expected="stale"))
    assert refused.value.current_version == corrections.version(await shown(store))
    assert await audit(store) == []
    ok = await store.correct_value(request(1, 1.0, expected=refused.value.current_version))
    assert ok.applied


async def test_concurrent_corrections_without_a_version_serialise(store: Store) -> None:
    await store.put_results([make_result(0, value=351.5)])
    outcomes = await asyncio.gather(*(store.correct_value(request(n, 340.0 + n)) for n in range(4)))
    assert all(o.applied for o in outcomes)
    # Each record's old value is the value some other record set (or the original): one chain.
    olds = sorted((o.record.old_value for o in outcomes), key=lambda v: (v != 351.5, v))
    news = {o.record.new_value for o in outcomes}
    assert olds[0] == 351.5 and set(olds[1:]) <= news
    final = (await shown(store)).corrections["TI-101"]
    assert final.value in news and final.value not in set(olds)


async def test_concurrent_corrections_of_one_version_one_wins(store: Store) -> None:
    await store.put_results([make_result(0)])
    version = corrections.version(await shown(store))
    outcomes = await asyncio.gather(
        *(store.correct_value(request(n, 340.0 + n, expected=version)) for n in range(3)), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, VersionMismatchError) for o in outcomes if o not in winners)
    assert await audit(store) == [winners[0].record.id]


@pytest.mark.parametrize("point", [_faults.CORRECTION_MARKED, _faults.CORRECTION_AUDITED])
@pytest.mark.parametrize("completion", ["retry", "next correction", "repair"])
async def test_crash_between_the_two_writes(store: Store, backend: str, point: str, completion: str) -> None:
    await store.put_results([make_result(0, value=351.5)])
    store.fault_hook = crash_at(point)  # type: ignore[attr-defined]
    with pytest.raises(SimulatedCrash):
        await store.correct_value(request(1, 349.0))
    store.fault_hook = None  # type: ignore[attr-defined]

    # Never a corrected value without its audit record.
    after_crash = await shown(store)
    assert {c.modification_id for c in after_crash.corrections.values()} <= set(await audit(store))
    assert after_crash.raw_data["TI-101"] == 351.5

    if completion == "retry":  # the operator saw an error and sends the same request again
        await store.correct_value(request(1, 349.0))
    elif completion == "next correction":  # another correction of the same analysis
        await store.correct_value(request(2, 4.0, sensor="PI-201"))
    else:
        await store.repair_corrections(at(0))

    # SQLite rolls both writes back (the request failed, nothing to complete); Cosmos DB's commit
    # point is the mark, after which the correction is completed by whoever comes next.
    applied = completion == "retry" or backend == "cosmos"
    final = await shown(store)
    record = await store.get_modification("corr-1")
    assert final.raw_data["TI-101"] == 351.5
    assert ("TI-101" in final.corrections) is applied is (record is not None)
    if applied:
        assert record is not None and record.old_value == 351.5
        assert final.corrections["TI-101"].value == 349.0 and final.corrections["TI-101"].modification_id == "corr-1"
    assert await store.repair_corrections(at(0)) == 0, "nothing left to repair"


async def test_repair_shows_corrections_again_after_a_replay(store: Store) -> None:
    original = make_result(0, value=351.5)
    await store.put_results([original, make_result(1)])
    await store.correct_value(request(1, 349.0))
    await store.put_results([original])  # a replayed entry overwrites its analysis
    assert (await shown(store)).corrections == {}

    assert await store.repair_corrections(at(0) - timedelta(days=1)) == 1
    assert (await shown(store)).corrections["TI-101"].value == 349.0
    assert await store.repair_corrections(at(0) - timedelta(days=1)) == 0
    # records older than `since` are not looked at (they cannot be replayed any more)
    await store.put_results([original])
    assert await store.repair_corrections(at(10_000)) == 0
