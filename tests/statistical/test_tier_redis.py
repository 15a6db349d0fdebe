"""The statistical tier against the real Redis server: scoring, learning, replays, sharing the model."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.outcome import ANOMALY, INSUFFICIENT, NORMAL, NOT_UPDATED, STUCK
from tests.statistical import factories as f

pytestmark = pytest.mark.redis

SETTINGS = StatisticalSettings(
    _env_file=None,  # type: ignore[call-arg]
    min_history=30,
    min_history_hourly=3,
    if_min_training_rows=50,
    if_threshold=0.95,
    if_n_estimators=50,
    stuck_updates=30,
    spread_floor=0.001,  # the factories' limits (0..1000) are far wider than the 5-unit noise
)
UNPROTECTED = SETTINGS.model_copy(update={"protect_baseline": False})


async def _feed(tier: StatisticalTier, values: np.ndarray, times: np.ndarray, batch: int = 64, seq0: int = 0) -> list:
    idx = tier.index
    outcomes = []
    for start in range(0, len(values), batch):
        chunk = f.readings(values[start : start + batch], times[start : start + batch], seq0=seq0 + start)
        scored = await tier.score(chunk)
        await tier.learn(chunk, f.assess(chunk, idx, scored))
        outcomes += scored
    return outcomes


async def test_cold_start_then_zscore_and_state_in_redis(redis_client: Redis, stream_key: str) -> None:
    idx = f.index(n_hourly=0)
    tier = await StatisticalTier.create(redis_client, RedisKeys(stream_key), idx, SETTINGS)
    try:
        values = f.normal_rows(200, len(idx))
        times = f.START + 10.0 * np.arange(200)
        outcomes = await _feed(tier, values, times)
        assert (outcomes[0].status == INSUFFICIENT).all()
        assert (outcomes[-1].status == NORMAL).all()
        probe = values[-1].copy()
        probe[2] += 50 * 5  # 50 sigma
        [outcome] = await tier.score(f.readings(probe[None, :], [times[-1] + 10], seq0=1000))
        assert outcome.status[2] == ANOMALY and outcome.z[2] > 40
        assert outcome.statistical.results["TI-2"].status == "Anomaly"
        # a second instance (another replica, or a restart) sees the same window from Redis
        other = await StatisticalTier.create(redis_client, RedisKeys(stream_key), idx, SETTINGS)
        [again] = await other.score(f.readings(probe[None, :], [times[-1] + 10], seq0=1000))
        np.testing.assert_allclose(again.z, outcome.z, rtol=1e-9)
        # protected baseline: the values whose z-score was confirmed were not learned; lone
        # |z| >= 3 blips were (they are the window's own tails)
        flagged = np.array([o.confirmed for o in outcomes])
        assert all((o.status[o.confirmed] == ANOMALY).all() for o in outcomes)
        expected = np.nanmean(np.where(flagged, np.nan, values), axis=0)
        np.testing.assert_allclose(other.mirror.totals(int(times[-1] // 300))[1], expected, rtol=1e-12)
        await other.close()
    finally:
        await tier.close()


async def test_replayed_entries_are_not_counted_twice(redis_client: Redis, stream_key: str) -> None:
    idx = f.index(n_hourly=0)
    tier = await StatisticalTier.create(redis_client, RedisKeys(stream_key), idx, UNPROTECTED)
    try:
        values = f.normal_rows(100, len(idx))
        times = f.START + 10.0 * np.arange(100)
        await _feed(tier, values, times)
        learned = tier.mirror.learned
        before = tier.mirror.totals(int(times[-1] // 300)).copy()
        # a crashed replica's batch is replayed, overlapping what was learned, plus new entries
        replay = f.readings(values[60:100], times[60:100], seq0=60)
        extra_values = f.normal_rows(10, len(idx), seed=9)
        extra = f.readings(extra_values, f.START + 1000 + 10.0 * np.arange(10), seq0=100)
        fresh = await StatisticalTier.create(redis_client, RedisKeys(stream_key), idx, UNPROTECTED)
        fresh.mirror.cursor = None  # as if its mirror knew nothing: Redis must refuse the overlap
        batch = replay + extra
        await fresh.learn(batch, f.assess(batch, idx))
        await fresh.refresh()
        assert fresh.mirror.learned == learned + 10
        after = fresh.mirror.totals(int((f.START + 1090) // 300))
        everything = np.vstack([values, extra_values])
        assert after[0][0] == 110 and before[0][0] == 100
        np.testing.assert_allclose(after[1], everything.mean(axis=0), rtol=1e-12)
        await fresh.close()
    finally:
        await tier.close()


async def test_hourly_repeats_are_not_samples_and_flatline_is_stuck(redis_client: Redis, stream_key: str) -> None:
    idx = f.index(n_process=2, n_hourly=1)
    tier = await StatisticalTier.create(redis_client, RedisKeys(stream_key), idx, SETTINGS)
    try:
        n = 2000  # 10 s apart: ~5.5 h
        times = f.START + 10.0 * np.arange(n)
        values = f.normal_rows(n, 3)
        hour = ((times - f.START) // 3600).astype(int)
        values[:, 2] = 50 + np.random.default_rng(1).normal(size=hour.max() + 1)[hour]  # repeated between updates
        values[1500:, 1] = values[1500, 1]  # TI-1 freezes for the last ~83 minutes
        outcomes = await _feed(tier, values, times)
        lab = np.array([o.status[2] for o in outcomes])
        assert (lab[np.r_[0, np.flatnonzero(np.diff(hour)) + 1]] != NOT_UPDATED).all()
        assert (lab == NOT_UPDATED).sum() == n - (hour.max() + 1)
        window = tier.mirror.totals(int(times[-1] // 300))
        assert window[0][2] == np.isin(lab, [NORMAL, INSUFFICIENT]).sum() >= hour.max()  # one per update, if normal
        frozen = np.array([o.status[1] for o in outcomes[1500:]])
        assert (frozen[: 30 - 1] != STUCK).all()  # 30 updates x 10 s before it is called stuck
        assert (frozen[35:] == STUCK).all()
        # the stuck value is kept out of the window
        assert window[0][1] < 1500 + 31
        assert "unchanged" in outcomes[-1].statistical.results["TI-1"].context
    finally:
        await tier.close()


async def test_model_is_trained_once_and_shared(redis_client: Redis, stream_key: str, caplog) -> None:
    idx = f.index(n_hourly=1)
    keys = RedisKeys(stream_key)
    first = await StatisticalTier.create(redis_client, keys, idx, SETTINGS)
    try:
        values = f.normal_rows(400, len(idx))
        times = f.START + 10.0 * np.arange(400)
        await _feed(first, values, times)
        assert first.training_due()
        stop = asyncio.Event()
        loop = asyncio.create_task(first.run_training(stop))
        for _ in range(200):
            if first.model is not None:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await loop
        model = first.model
        assert model is not None and model.n_samples == first.mirror.learned > 380  # protected rows only
        assert model.features == tuple(n for n in idx.names if not n.startswith("LAB"))
        # a second replica loads the model instead of training
        second = await StatisticalTier.create(redis_client, keys, idx, SETTINGS)
        assert second.model is not None and second.model.version == model.version
        assert not second.training_due()
        probe = values[-5:].copy()
        probe[-1, 3:6] += 100  # a plant-wide excursion on three sensors
        a, b = (
            await first.score(f.readings(probe, times[-5:] + 5000)),
            await second.score(f.readings(probe, times[-5:] + 5000)),
        )
        assert [o.ml_raw for o in a] == [o.ml_raw for o in b]
        assert a[-1].ml_status == "Anomaly" and {n for n, _ in a[-1].contributions[:3]} == {"TI-3", "TI-4", "TI-5"}
        assert a[-1].ml.results.model_version == model.version
        # a replica with another catalogue refuses it, with a clear log line
        other_idx = f.index(n_process=3, n_hourly=0)
        with caplog.at_level(logging.ERROR):
            third = await StatisticalTier.create(redis_client, keys, other_idx, SETTINGS)
        assert third.model is None and "refusing IsolationForest model" in caplog.text
        [refused] = await third.score(f.readings(values[:1, :3], times[:1]))
        assert refused.ml.results.status == "refused_model"
        await second.close()
        await third.close()
    finally:
        await first.close()
