"""Benchmark of tiers 1+2 in process: ``python -m bench.analyzer``.

Same simulated payloads (100 sensors) and a model trained on a full 24-hour window for all
contenders: this analyzer (micro-batches of 64 as the worker sends them, and single entries as
the HTTP route sends them), a naive reference (window statistics recomputed from the raw 24 h
window and ``IsolationForest.score_samples`` per entry) and River's ``HalfSpaceTrees`` (scaled
inputs, score and learn per payload). Tier 2 here uses the in-process window store; the Redis
store adds one script call per batch. Prints a table, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.decision import decide
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.simulator import simulate_plant
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicTier
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.forest import fit_forest, fit_model

DAY = 8640


def _readings(values: np.ndarray, times: np.ndarray, offset: int) -> list[Reading]:
    return [
        Reading(f"{int(t * 1000)}-{offset + k}", datetime.fromtimestamp(float(t), UTC), row, {}, ())
        for k, (row, t) in enumerate(zip(values, times, strict=True))
    ]


async def _pipeline(tier: StatisticalTier, heuristic: HeuristicTier, index: SensorIndex, batch: list[Reading]) -> None:
    h = heuristic.evaluate(batch)
    scored = await tier.score(batch)
    await tier.learn(batch, [decide(r, x, index, s) for r, x, s in zip(batch, h, scored, strict=True)])


async def main(n_eval: int = 6400) -> dict[str, object]:
    catalog = load_catalog()
    index = SensorIndex.from_catalog(catalog)
    plant = simulate_plant(catalog, datetime(2025, 1, 1, tzinfo=UTC), DAY + 2 * n_eval, seed=3)
    times = plant.timestamps.astype("datetime64[ms]").astype(np.int64) / 1000.0
    values = plant.values
    heuristic = HeuristicTier(index)
    tier = await StatisticalTier.in_memory(index, StatisticalSettings(_env_file=None))  # type: ignore[call-arg]
    warm = _readings(values[:DAY], times[:DAY], 0)
    for start in range(0, DAY, 64):
        await _pipeline(tier, heuristic, index, warm[start : start + 64])
    started = time.perf_counter()
    model = await tier.train()
    train_s = time.perf_counter() - started
    assert model is not None
    # the training target: a full 24 h window (8,640 payloads) x every numeric sensor (100),
    # with the tier's defaults (the tier itself trains on its protected rows, 10 s sensors only)
    defaults = StatisticalSettings(_env_file=None)  # type: ignore[call-arg]
    full = np.asarray(values[:DAY], dtype=np.float64)
    started = time.perf_counter()
    full_model = fit_model(
        full,
        tuple(index.names),
        n_estimators=defaults.if_n_estimators,
        max_samples=defaults.if_max_samples,
        seed=defaults.if_seed,
    )
    full_train_s = time.perf_counter() - started

    # micro-batches of 64 (the worker)
    stream = _readings(values[DAY : DAY + n_eval], times[DAY : DAY + n_eval], DAY)
    started = time.perf_counter()
    for start in range(0, n_eval, 64):
        await _pipeline(tier, heuristic, index, stream[start : start + 64])
    batch_rate = n_eval / (time.perf_counter() - started)
    # tier 2 alone (score + learn), micro-batches
    stream2 = _readings(values[DAY + n_eval :], times[DAY + n_eval :], DAY + n_eval)
    h_all = heuristic.evaluate(stream2)
    started = time.perf_counter()
    for start in range(0, n_eval, 64):
        chunk = stream2[start : start + 64]
        scored = await tier.score(chunk)
        hs = h_all[start : start + 64]
        await tier.learn(chunk, [decide(r, x, index, s) for r, x, s in zip(chunk, hs, scored, strict=True)])
    tier2_rate = n_eval / (time.perf_counter() - started)
    # single entries (the HTTP route): latency of tiers 1+2 + decide + learn
    tier_single = await StatisticalTier.in_memory(index, StatisticalSettings(_env_file=None))  # type: ignore[call-arg]
    tier_single.mirror = tier.mirror
    tier_single._adopt(model, 0)
    tier_single.window = tier.window
    single = _readings(values[DAY + n_eval :], times[DAY + n_eval :] + 1e6, 10 * DAY)[:2000]
    latencies = []
    for reading in single:
        t0 = time.perf_counter()
        await _pipeline(tier_single, heuristic, index, [reading])
        latencies.append(time.perf_counter() - t0)
    lat = np.array(latencies) * 1000

    # naive reference: recompute from the raw window, score_samples per entry
    forest, medians = fit_forest(
        np.asarray(values[:DAY][:, [index.position[f] for f in tier.features]]),
        n_estimators=100,
        max_samples=256,
        seed=0,
    )
    slots = np.array([index.position[f] for f in tier.features])
    window = values[:DAY].copy()
    n_naive = 300
    started = time.perf_counter()
    for k in range(n_naive):
        x = values[DAY + k]
        mean = np.nanmean(window, axis=0)
        std = np.nanstd(window, axis=0, ddof=1)
        _z = (x - mean) / std
        forest.score_samples(np.where(np.isnan(x[slots]), medians, x[slots])[None, :])
        window = np.vstack([window[1:], x[None, :]])
    naive_rate = n_naive / (time.perf_counter() - started)

    # River HalfSpaceTrees on min-max scaled inputs
    from river import anomaly, compose, preprocessing

    peer = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(n_trees=25, height=15, seed=0))
    names = index.names
    rows = [{n: float(v) for n, v in zip(names, row, strict=True) if v == v} for row in values[DAY - 2000 : DAY]]
    for row in rows[:1000]:
        peer.learn_one(row)
    started = time.perf_counter()
    for row in rows[1000:]:
        peer.score_one(row)
        peer.learn_one(row)
    peer_rate = 1000 / (time.perf_counter() - started)

    figures = {
        "payloads_per_s": round(batch_rate, 1),
        "tier2_payloads_per_s": round(tier2_rate, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 4),
        "p99_ms": round(float(np.percentile(lat, 99)), 4),
        "naive_payloads_per_s": round(naive_rate, 1),
        "speedup": round(batch_rate / naive_rate, 1),
        "peer_payloads_per_s": round(peer_rate, 1),
        "training_s": round(train_s, 3),
        "training_rows": model.n_samples,
        "training_full_day_s": round(full_train_s, 3),
        "training_full_day_shape": [full_model.n_samples, len(full_model.features)],
    }
    print("| contender | payloads/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    print(f"| analyzer tiers 1+2, batches of 64 | {batch_rate:,.0f} | | |")
    print(f"| analyzer tier 2 only, batches of 64 | {tier2_rate:,.0f} | | |")
    print(
        f"| analyzer tiers 1+2, single entries | {1000 / lat.mean():,.0f} | {figures['p50_ms']} | {figures['p99_ms']} |"
    )
    print(f"| naive reference | {naive_rate:,.0f} | | |")
    print(f"| River HalfSpaceTrees | {peer_rate:,.0f} | | |")
    shape = f"{full_model.n_samples} rows x {len(full_model.features)} sensors"
    print(f"training (tier, protected rows) on {model.n_samples} rows x {len(model.features)} sensors: {train_s:.2f} s")
    print(f"training on a full day, {shape}: {full_train_s:.2f} s")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    asyncio.run(main())
