"""Any number of workers gives the same answers as one: the same simulated plant through 1, 2 and 4
workers (each its own services, as separate replicas are), and twice through one, gives identical
verdicts, tier 2 scores and alarm records. Real Redis, SQLite, tier 2 on with a forest that trains."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from analyzer.catalog import load_catalog
from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from analyzer.tiers.statistical import StatisticalSettings
from tests.integration.helpers import all_alarms, all_results, group_is_done, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

N = 1500  # 4 h 10 min of 10 s readings
TIER2 = StatisticalSettings(
    _env_file=None,  # type: ignore[call-arg]
    bucket_s=300,
    min_history=60,
    protect_min_span=0.0,  # baseline protection (frozen baselines) within the 4 h run too
    if_min_training_span=0.0,  # models within the 4 h run: forest at 450 rows, forest and PCA at 900
    if_min_training_rows=450,
    if_retrain_after_rows=450,
    if_n_estimators=40,
)


async def _run(redis_url: str, tmp_path: Path, workers: int, documents: list[dict[str, Any]]) -> dict[str, Any]:
    stream = f"test:det:{uuid.uuid4().hex[:10]}"
    replicas: list[Services] = []
    try:
        for _ in range(workers):
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                redis_connection_string=SecretStr(redis_url),
                stream_key=stream,
                sqlite_path=tmp_path / f"{stream.replace(':', '_')}.db",
                worker_block_ms=20,
            )
            replicas.append(await open_services(settings, statistical_settings=TIER2))
        redis = replicas[0].redis
        # Entry ids follow the readings' times (as a plant feeding in real time gives them).
        async with redis.pipeline(transaction=False) as pipe:
            for document in documents:
                ms = int(datetime.fromisoformat(document["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
                pipe.xadd(stream, {"payload": orjson.dumps(document)}, id=f"{ms}-0")
            await pipe.execute()
        await ensure_group(redis, stream, CONSUMER_GROUP)
        stop = asyncio.Event()
        config = ConsumerConfig(batch_size=16, block_ms=20, claim_idle_ms=60_000)
        runs = [
            asyncio.create_task(analysis_worker(s.redis, s.keys, s.pipeline, config, f"w{k}").run(stop))
            for k, s in enumerate(replicas)
        ]
        await wait_until(lambda: group_is_done(redis, stream), timeout=240, what="the workers to finish")
        stop.set()
        stats = await asyncio.gather(*runs)
        assert sum(s.handled for s in stats) == N
        if workers > 1:
            assert all(s.handled > 0 for s in stats), stats  # every worker took part
        store = replicas[0].store
        results = {r.id: r for r in await all_results(store)}
        alarms = await all_alarms(store)
        return {
            "verdicts": {
                i: (
                    r.final_status.value,
                    r.severity_level.value if r.severity_level else None,
                    tuple(r.anomalous_sensors),
                    tuple(sorted(r.alarm_ids)),
                    r.overall_confidence,
                )
                for i, r in results.items()
            },
            "tier2": {
                i: (
                    tuple(sorted(r.statistical.z_scores.items())) if r.statistical else (),
                    (r.ml.results.status, round(r.ml.results.score, 9), r.ml.results.model_version) if r.ml else None,
                    (r.ml.pca.status, r.ml.pca.q, r.ml.pca.t2, r.ml.pca.model_version) if r.ml and r.ml.pca else None,
                )
                for i, r in results.items()
            },
            "alarms": sorted(
                (a.id, a.count, a.activations, a.first_entry_id, a.last_entry_id, a.process.value, a.peak_deviation)
                for a in alarms
            ),
        }
    finally:
        if replicas:
            names = [k async for k in replicas[0].redis.scan_iter(match=f"*{stream}*")]
            if names:
                await replicas[0].redis.delete(*names)
        for services in replicas:
            await services.close()


@pytest.mark.timeout(900)
async def test_one_two_and_four_workers_give_identical_answers(redis_url: str, tmp_path: Path) -> None:
    catalog = load_catalog()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * N + 120)
    plant = simulate_plant(catalog, start, N, seed=11, anomaly_rate=0.2)
    documents = list(iter_payloads(plant))
    one = await _run(redis_url, tmp_path, 1, documents)
    again = await _run(redis_url, tmp_path, 1, documents)
    two = await _run(redis_url, tmp_path, 2, documents)
    four = await _run(redis_url, tmp_path, 4, documents)

    assert len(one["verdicts"]) == N
    anomalous = sum(v[0] == "anomaly" for v in one["verdicts"].values())
    assert 0 < anomalous < N and len(one["alarms"]) >= 3  # the run says something worth comparing
    assert any(t[1] is not None and t[1][0] in ("Normal", "Anomaly") for t in one["tier2"].values())  # forest trained
    assert any(t[2] is not None for t in one["tier2"].values())  # and the PCA monitor
    for name, other in (("a second run", again), ("two workers", two), ("four workers", four)):
        differing = [i for i in one["verdicts"] if one["verdicts"][i] != other["verdicts"].get(i)]
        assert not differing, f"{name}: {len(differing)} verdicts differ, e.g. {differing[:3]}"
        assert one["tier2"] == other["tier2"], f"{name}: tier 2 scores differ"
        assert one["alarms"] == other["alarms"], f"{name}: alarm records differ"
