"""History statistics and retention in the store, against SQLite and Cosmos DB."""

from __future__ import annotations

from datetime import timedelta

from store_factories import BASE, at, entry_id, make_modification, make_result

from analyzer.store.protocol import CorrectionRequest, ModificationQuery, ResultQuery, Store


async def test_results_per_hour(store: Store) -> None:
    # 08:00-08:59: 6 analyses, 2 anomalous; 09:xx: none; 10:xx: 3 analyses, 1 anomalous.
    results = [make_result(n, when=at(600 * n), anomalous=["TI-101"] if n in (1, 4) else None) for n in range(6)]
    results += [make_result(10 + n, when=at(7200 + 60 * n), anomalous=["TI-101"] if n == 0 else None) for n in range(3)]
    await store.put_results(results)

    counts = await store.count_results_per_hour(BASE - timedelta(hours=1), BASE + timedelta(hours=3))
    assert [(c.hour, c.analyses, c.anomalies) for c in counts] == [
        (BASE, 6, 2),
        (BASE + timedelta(hours=2), 3, 1),
    ]
    # half-open range: [08:10, 10:01)
    counts = await store.count_results_per_hour(at(600), at(7260))
    assert [(c.analyses, c.anomalies) for c in counts] == [(5, 2), (1, 1)]
    assert await store.count_results_per_hour(at(-7200), at(-3600)) == []


async def test_sensor_history_prefers_corrected_values(store: Store) -> None:
    await store.put_results([make_result(n, value=350.0 + n) for n in range(6)])
    await store.correct_value(CorrectionRequest("c-1", entry_id(2), "TI-101", 300.0, "sensor fault", "alice", at(1000)))

    history = await store.sensor_history("TI-101", at(10), at(50), max_rows=100)
    assert history.times_us == [int(at(10 * n).timestamp() * 1_000_000) for n in range(1, 5)]
    assert history.values == [351.0, 300.0, 353.0, 354.0]
    assert not history.truncated

    truncated = await store.sensor_history("TI-101", at(0), at(60), max_rows=3)
    assert truncated.values == [350.0, 351.0, 300.0] and truncated.truncated
    assert (await store.sensor_history("FI-999", at(0), at(60), max_rows=10)).values == []


async def test_expire_results_keeps_the_audit_trail(store: Store) -> None:
    await store.put_results([make_result(n, anomalous=["TI-101"]) for n in range(10)])
    await store.put_modification(make_modification(1, result=2))

    assert await store.expire_results(at(45), max_rows=3) == 3
    assert await store.expire_results(at(45), max_rows=3) == 2
    assert await store.expire_results(at(45), max_rows=3) == 0

    left = (await store.query_results(ResultQuery())).items
    assert sorted(r.id for r in left) == [entry_id(n) for n in range(5, 10)]
    by_sensor = (await store.query_results(ResultQuery(sensor="TI-101"))).items
    assert sorted(r.id for r in by_sensor) == [entry_id(n) for n in range(5, 10)]
    assert len((await store.query_modifications(ModificationQuery())).items) == 1
