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

from analyzer.analysis.fold import Folder
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.simulator import simulate_plant
from analyzer.reading import Reading
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.forest import fit_forest, fit_model

DAY = 8640


def _readings(values: np.ndarray, times: np.ndarray, offset: int) -> list[Reading]:
    return [
        Reading(f"{int(t * 1000)}-{offset + k}", datetime.fromtimestamp(float(t), UTC), row, {}, ())
        for k, (row, t) in enumerate(zip(values, times, strict=True))
    ]


async def main(n_eval: int = 6400) -> dict[str, object]:
    catalog = load_catalog()
    index = SensorIndex.from_catalog(catalog)
    plant = simulate_plant(catalog, datetime(2025, 1, 1, tzinfo=UTC), DAY + 2 * n_eval, seed=3)
    times = plant.timestamps.astype("datetime64[ms]").astype(np.int64) / 1000.0
    values = plant.values
    defaults = StatisticalSettings(_env_file=None)  # type: ignore[call-arg]
    folder = Folder(index, StatisticalTier(index, defaults))
    state = folder.new_state()
    warm = _readings(values[:DAY], times[:DAY], 0)
    started = time.perf_counter()
    for start in range(0, DAY, 64):
        state = (await folder.fold_readings(state, warm[start : start + 64])).state
    backfill_s = time.perf_counter() - started
    assert state.tier2 is not None and state.tier2.model is not None
    model = state.tier2.model
    # the training target: a full 24 h window (8,640 payloads) x every numeric sensor (100)
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

    # micro-batches of 64 (the worker): tiers, alarm step, result documents, and their JSON
    stream = _readings(values[DAY : DAY + n_eval], times[DAY : DAY + n_eval], DAY)
    started = time.perf_counter()
    fold_only = 0.0
    size = 0
    for start in range(0, n_eval, 64):
        t0 = time.perf_counter()
        outcome = await folder.fold_readings(state, stream[start : start + 64])
        fold_only += time.perf_counter() - t0
        state = outcome.state
        size += sum(len(r.model_dump_json()) for r in outcome.results)
    batch_rate = n_eval / (time.perf_counter() - started)
    fold_rate = n_eval / fold_only
    # single entries (the HTTP route): latency of one entry through the fold, its document and JSON
    single = _readings(values[DAY + n_eval :], times[DAY + n_eval :], DAY + n_eval)[:2000]
    latencies = []
    for reading in single:
        t0 = time.perf_counter()
        outcome = await folder.fold_readings(state, [reading])
        state = outcome.state
        outcome.results[0].model_dump_json()
        latencies.append(time.perf_counter() - t0)
    lat = np.array(latencies) * 1000

    # naive reference: recompute from the raw window, score_samples per entry
    features = StatisticalTier(index, defaults).features
    forest, medians = fit_forest(
        np.asarray(values[:DAY][:, [index.position[f] for f in features]]),
        n_estimators=100,
        max_samples=256,
        seed=0,
    )
    slots = np.array([index.position[f] for f in features])
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

    # River HalfSpaceTrees at River's own defaults, on min-max scaled inputs
    from river import anomaly, compose, preprocessing

    peer = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(seed=0))
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
        "fold_payloads_per_s": round(fold_rate, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 4),
        "p99_ms": round(float(np.percentile(lat, 99)), 4),
        "naive_payloads_per_s": round(naive_rate, 1),
        "speedup": round(batch_rate / naive_rate, 1),
        "peer_payloads_per_s": round(peer_rate, 1),
        "result_bytes_mean": round(size / n_eval),
        "backfill_day_s": round(backfill_s, 2),
        "training_rows": model.n_samples,
        "training_s": round(model.training_s, 3),
        "training_full_day_s": round(full_train_s, 3),
        "training_full_day_shape": [full_model.n_samples, len(full_model.features)],
    }
    print("| contender | payloads/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    print(f"| analyzer fold + result JSON, batches of 64 | {batch_rate:,.0f} | | |")
    print(f"| analyzer fold alone (tiers, alarms, documents), batches of 64 | {fold_rate:,.0f} | | |")
    print(f"| analyzer, single entries | {1000 / lat.mean():,.0f} | {figures['p50_ms']} | {figures['p99_ms']} |")
    print(f"| naive reference | {naive_rate:,.0f} | | |")
    print(f"| River HalfSpaceTrees (River's defaults) | {peer_rate:,.0f} | | |")
    shape = f"{full_model.n_samples} rows x {len(full_model.features)} sensors"
    print(f"a simulated day folded from scratch (incl. {model.n_samples}-row training): {backfill_s:.2f} s")
    print(f"training on a full day, {shape}: {full_train_s:.2f} s; stored result {size / n_eval:,.0f} bytes")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    asyncio.run(main())
