"""Tier 2: per-sensor z-scores over the 24-hour window and a cross-sensor IsolationForest.

Scoring (:meth:`StatisticalTier.score`) works on the in-memory mirror of the shared window and
the loaded model only: no Redis read per entry, no training. Learning (:meth:`learn`) folds a
batch into Redis with one script call and updates the mirror from the reply; the mirror is also
refreshed from Redis every ``refresh_s`` by :meth:`run_training`, so replicas converge.

Rules, per sensor and reading:

* absent from the payload -> no result;
* an hourly sensor repeating its last value, less than half an hour after it was last present
  -> ``not_updated`` (not a new sample: neither scored nor learned). Payloads may carry lab values
  on every reading (only a change is an update) or only when they update (every value is one);
* unchanged for ``stuck_updates`` update intervals (hourly: ``stuck_hourly_updates``) while its
  window shows it normally moves -> ``stuck``;
* fewer than ``min_history`` (hourly: ``min_history_hourly``) samples in the window ->
  ``insufficient_history``;
* otherwise ``z = (value - centre) / spread`` and ``Anomaly`` when ``|z| >= z_threshold``.

Multiple testing: a hundred sensors each tested at ``|z| >= 3`` on every reading would put some
sensor past 3 on a large share of perfectly normal readings. So a per-sensor ``Anomaly`` is
``confirmed`` (and only then a condition of the final decision) when it held for
``z_persistence`` consecutive real updates of that sensor (absent readings and repeated hourly
values neither extend nor break the run) at ``|z| >= z_confirm`` (3.5: about what a Bonferroni
correction for a hundred sensors asks of a single Gaussian test, with the run guarding against the
heavy, autocorrelated tails of real signals), or at once when ``|z| >= z_immediate`` (a spike). The
run length is counted by this replica (``WindowMirror.streak``, advanced by :meth:`learn`); with
several replicas sharing a stream, each counts the readings it analyses. The IsolationForest is
treated the same way: its per-reading ``status`` is ``Anomaly`` at ``score >= if_threshold``, and
the decision acts on it (``ml_confirmed``) after ``if_persistence`` consecutive such readings.

The spread has a floor of ``spread_floor`` (default 5 %) of the sensor's Low..High span (its
Low-Low..High-High span when it has no Low/High; 0.1 % of the centre when it has no limits), so a
sensor that barely moved in the window does not alarm on a move that is small against its
operating band, and a young window (which has not seen the daily swing yet) is not over-confident.
A batch is scored against the window as it stood before the batch (a micro-batch is minutes of a
24-hour window).

Protecting the baseline (``protect_baseline``, default on): a sensor that a condition of the final
decision names (a limit breach, a confirmed z-score, a flatline) is not learned from that reading,
a stuck value is never learned, and only readings whose final status is normal become
IsolationForest training rows. Unconfirmed ``|z| >= 3`` blips are learned: they are the window's
own tails, and excluding them would shrink the spread and flag ever more (a runaway). A long upset
then cannot become the new normal and hide itself; the price is that a genuine, lasting change of
operating point keeps alarming until an operator resolves it or protection is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import redis.asyncio as aioredis

from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys
from analyzer.reading import Reading
from analyzer.tiers.statistical.forest import ForestModel, fit_model
from analyzer.tiers.statistical.models import MemoryModelStore, ModelStore, RedisModelStore
from analyzer.tiers.statistical.outcome import (
    ABSENT,
    ANOMALY,
    INSUFFICIENT,
    NORMAL,
    NOT_UPDATED,
    STUCK,
    StatisticalOutcome,
)
from analyzer.tiers.statistical.settings import StatisticalSettings
from analyzer.tiers.statistical.store import (
    Applied,
    BucketUpdate,
    MemoryWindowStore,
    RedisWindowStore,
    WindowStore,
    WindowUpdate,
    window_key,
)
from analyzer.tiers.statistical.window import (
    COUNT,
    MEAN,
    WindowMirror,
    aggregate,
    robust_centre_spread,
    std_of,
    stream_id_key,
)
from schemas.results import MLStatus

if TYPE_CHECKING:
    from analyzer.analysis.decision import Assessment

log = logging.getLogger(__name__)

_HOURLY_S = 3600.0


class StatisticalTier:
    """Scores readings against the shared 24-hour window and the shared IsolationForest.

    Build it with :meth:`create` (Redis) or :meth:`in_memory` (one process: evaluation,
    benchmark, tests).

    >>> import asyncio
    >>> from analyzer.catalog import load_catalog
    >>> index = SensorIndex.from_catalog(load_catalog())
    >>> tier = asyncio.run(StatisticalTier.in_memory(index))
    >>> tier.settings.z_threshold
    3.0
    """

    def __init__(
        self,
        index: SensorIndex,
        settings: StatisticalSettings,
        window: WindowStore,
        models: ModelStore,
        *,
        own_redis: aioredis.Redis | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.window = window
        self.models = models
        self._own_redis = own_redis
        n = len(index)
        self.mirror = WindowMirror(n, settings.n_buckets)
        hourly = index.hourly
        self._hourly = hourly
        self._hourly_slots = np.flatnonzero(hourly)
        interval = np.where(hourly, _HOURLY_S, 10.0)
        self._interval = interval
        self._stuck_after = np.where(
            hourly, interval * settings.stuck_hourly_updates, interval * settings.stuck_updates
        )
        self._min_history = np.where(hourly, settings.min_history_hourly, settings.min_history)
        span = np.where(np.isnan(index.high - index.low), index.high_high - index.low_low, index.high - index.low)
        self._floor = settings.spread_floor * span  # NaN without limits: relative floor at scoring
        #: Forest features: every 10-second sensor (hourly laboratory values carry no news in between).
        self.features = tuple(name for name, h in zip(index.names, hourly, strict=True) if not h)
        self._model: ForestModel | None = None
        self._model_slots: np.ndarray | None = None
        self._model_learned_at = 0
        self._refused_version: str | None = None
        self._robust_cache: tuple[float, np.ndarray, np.ndarray] | None = None
        self._last_refresh = time.monotonic()
        self._owner = f"{socket.gethostname()}-{os.getpid()}-{id(self)}"

    # ------------------------------------------------------------------ construction

    @classmethod
    async def create(
        cls,
        redis: aioredis.Redis,
        keys: RedisKeys,
        index: SensorIndex,
        settings: StatisticalSettings | None = None,
    ) -> StatisticalTier:
        """Connect to the shared window and model in Redis and load both.

        The tier keeps its own connection pool with ``decode_responses=False`` (the window and
        the model are binary), built from ``redis``'s connection settings; :meth:`close` closes it.
        """
        settings = settings or StatisticalSettings()
        pool = redis.connection_pool
        binary_pool = aioredis.ConnectionPool(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "decode_responses": False},
        )
        binary = aioredis.Redis(connection_pool=binary_pool)
        window = RedisWindowStore(binary, window_key(keys, index.names), len(index), ttl_s=2 * settings.window_s)
        tier = cls(index, settings, window, RedisModelStore(binary, keys), own_redis=binary)
        await tier.refresh()
        await tier.adopt_shared_model()
        return tier

    @classmethod
    async def in_memory(cls, index: SensorIndex, settings: StatisticalSettings | None = None) -> StatisticalTier:
        """A tier whose window and model live in this process only."""
        return cls(index, settings or StatisticalSettings(), MemoryWindowStore(len(index)), MemoryModelStore())

    async def close(self) -> None:
        if self._own_redis is not None:
            await self._own_redis.aclose()
            self._own_redis = None

    @property
    def model(self) -> ForestModel | None:
        return self._model

    # ------------------------------------------------------------------ scoring

    def _track(self, values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per reading and sensor: is it a real sample, did it change, since when unchanged;
        and the per-sensor last state after the batch.

        Vectorised forward fill over the batch, seeded with the mirror's last state.
        """
        last = self.mirror.last
        n_rows, n = values.shape
        present = ~np.isnan(values)
        ext_values = np.vstack([last[0][None, :], values])
        ext_present = np.vstack([~np.isnan(last[0])[None, :], present])
        fill = np.maximum.accumulate(np.where(ext_present, np.arange(n_rows + 1)[:, None], 0), axis=0)
        previous = np.take_along_axis(ext_values, fill[:-1], axis=0)  # last present value before each row
        changed = present & ~(values == previous)
        ext_times = np.broadcast_to(times[:, None], (n_rows, n))
        change_time = np.where(changed, ext_times, np.nan)
        ext_change = np.vstack([last[1][None, :], change_time])
        ext_mark = np.vstack([np.ones((1, n), dtype=bool), changed])
        change_fill = np.maximum.accumulate(np.where(ext_mark, np.arange(n_rows + 1)[:, None], 0), axis=0)
        since = np.take_along_axis(ext_change, change_fill[1:], axis=0)
        since = np.where(np.isnan(since), ext_times, since)  # never seen before: unchanged since now
        # Hourly sensors: a repeated value is a new sample only after a gap of half an interval
        # (payloads that carry lab values only when they update); otherwise only changes count.
        ext_seen = np.vstack([last[2][None, :], ext_times])
        previous_seen = np.take_along_axis(ext_seen, fill[:-1], axis=0)
        with np.errstate(invalid="ignore"):
            gap = np.isnan(previous_seen) | (ext_times - previous_seen >= 0.5 * self._interval)
        sampled = present & (~self._hourly | changed | gap)
        after = last.copy()
        rows_seen = np.arange(n)
        after[0] = ext_values[fill[-1], rows_seen]
        after[1] = np.where(fill[-1] > 0, since[-1], last[1])
        after[2] = ext_seen[fill[-1], rows_seen]
        return sampled, changed, since, after

    def _centre_spread(self, bucket: int, epoch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        totals = self.mirror.totals(bucket)
        count, mean, std = totals[COUNT], totals[MEAN], std_of(totals)
        if not self.settings.robust:
            return count, mean, std, std
        cache = self._robust_cache
        if cache is None or abs(epoch - cache[0]) >= self.settings.robust_refresh_s:
            centre, spread = robust_centre_spread(self.mirror.window_rows(bucket))
            cache = self._robust_cache = (epoch, centre, spread)
        centre = np.where(np.isnan(cache[1]), mean, cache[1])
        spread = np.where(np.isnan(cache[2]) | (cache[2] <= 0), std, cache[2])
        return count, centre, spread, std

    async def score(self, readings: Sequence[Reading]) -> list[StatisticalOutcome]:
        """Score one micro-batch (time order). No Redis access, no training."""
        if not readings:
            return []
        started = time.perf_counter()
        values = np.stack([r.values for r in readings])
        times = np.array([r.epoch_s for r in readings])
        sampled, changed, since, _ = self._track(values, times)
        buckets = np.floor_divide(times, self.settings.bucket_s).astype(np.int64)
        n_rows, n = values.shape
        centre = np.empty((n_rows, n))
        spread = np.empty((n_rows, n))
        count = np.empty((n_rows, n))
        std = np.empty((n_rows, n))
        for bucket in np.unique(buckets):
            rows = buckets == bucket
            c, ce, sp, sd = self._centre_spread(int(bucket), float(times[rows][0]))
            count[rows], centre[rows], spread[rows], std[rows] = c, ce, sp, sd
        floor = np.where(np.isnan(self._floor), 1e-3 * np.abs(centre) + 1e-12, self._floor)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (values - centre) / np.fmax(spread, floor)
        present = ~np.isnan(values)
        unchanged_s = times[:, None] - since
        moves = std > 0
        stuck = present & ~changed & (unchanged_s >= self._stuck_after) & moves
        enough = count >= self._min_history
        status = np.full((n_rows, n), ABSENT, dtype=np.int8)
        status[present] = NORMAL
        status[present & (np.abs(z) >= self.settings.z_threshold)] = ANOMALY
        status[present & ~enough] = INSUFFICIENT
        status[present & ~sampled] = NOT_UPDATED
        status[stuck] = STUCK
        scored = (status == NORMAL) | (status == ANOMALY)
        z = np.where(scored, z, np.nan)
        s = self.settings
        with np.errstate(invalid="ignore"):
            beyond = (status == ANOMALY) & (np.abs(z) >= s.z_confirm)
            streak = self._streaks(beyond, sampled & (status != ABSENT), self.mirror.streak)
            confirmed = beyond & ((streak >= s.z_persistence) | (np.abs(z) >= s.z_immediate))
        ml = self._score_forest(values)
        flagged = np.array([m == "Anomaly" for m in ml[0]])
        ml_streak = self._streaks(flagged, np.ones(n_rows, dtype=bool), np.array(self.mirror.ml_streak))
        now = datetime.now(UTC)
        elapsed_ms = (time.perf_counter() - started) * 1000 / n_rows
        return [
            StatisticalOutcome(
                names=self.index.names,
                timestamp=now,
                values=values[k],
                centre=centre[k],
                spread=spread[k],
                z=z[k],
                status=status[k],
                streak=streak[k],
                confirmed=confirmed[k],
                stuck_for_s=unchanged_s[k],
                z_threshold=self.settings.z_threshold,
                z_persistence=self.settings.z_persistence,
                robust=self.settings.robust,
                ml_status=ml[0][k],
                ml_streak=int(ml_streak[k]),
                ml_confirmed=bool(ml_streak[k] >= s.if_persistence),
                ml_raw=float(ml[1][k]),
                ml_score=float(ml[2][k]),
                ml_threshold=self.settings.if_threshold,
                contributions=ml[3][k],
                model_version=ml[4],
                processing_ms=elapsed_ms,
            )
            for k in range(n_rows)
        ]

    @staticmethod
    def _streaks(exceed: np.ndarray, sampled: np.ndarray, before: np.ndarray) -> np.ndarray:
        """Per row (and column), the length of the run of ``exceed`` rows ending there.

        A sampled row that does not exceed ends a run; a row that is not sampled (an absent
        reading, a repeated hourly value) neither extends nor ends it. ``before`` is the run
        length at the last row learned before this batch.

        >>> e = np.array([[True], [False], [True], [True]])
        >>> StatisticalTier._streaks(e, np.array([[True], [False], [True], [True]]), np.array([2])).ravel()
        array([3, 3, 4, 5])
        """
        reset = sampled & ~exceed
        counted = np.cumsum(exceed, axis=0)
        rows = np.arange(len(exceed)).reshape((-1,) + (1,) * (exceed.ndim - 1))
        last_reset = np.maximum.accumulate(np.where(reset, rows, -1), axis=0)
        at_reset = np.take_along_axis(counted, np.maximum(last_reset, 0), axis=0)
        return np.where(last_reset >= 0, counted - at_reset, before + counted)

    def _score_forest(
        self, values: np.ndarray
    ) -> tuple[list[MLStatus], np.ndarray, np.ndarray, list[tuple[tuple[str, float], ...]], str | None]:
        n_rows = len(values)
        model, slots = self._model, self._model_slots
        if model is None or slots is None:
            missing: MLStatus = "refused_model" if self._refused_version else "no_model"
            nan = np.full(n_rows, np.nan)
            return [missing] * n_rows, nan, nan, [()] * n_rows, self._refused_version
        x = model.impute(values[:, slots])
        raw = model.forest.raw_scores(x)
        calibrated = model.calibrate(raw)
        flagged = calibrated >= self.settings.if_threshold
        explained: list[tuple[tuple[str, float], ...]] = [()] * n_rows
        if flagged.any():
            rows = np.flatnonzero(flagged)
            contributions = model.contributions(x[rows], raw[rows])
            top = self.settings.if_top_contributors
            for row, drops in zip(rows, contributions, strict=True):
                order = np.argsort(-drops)[:top]
                explained[row] = tuple((model.features[j], round(float(drops[j]), 6)) for j in order if drops[j] > 0)
        status: list[MLStatus] = ["Anomaly" if f else "Normal" for f in flagged]
        return status, raw, calibrated, explained, model.version

    # ------------------------------------------------------------------ learning

    async def learn(self, readings: Sequence[Reading], assessments: Sequence[Assessment]) -> None:
        """Fold a batch into the shared window (one script call; idempotent per entry id)."""
        keys = [stream_id_key(r.entry_id, int(r.epoch_s * 1000)) for r in readings]
        pairs = list(zip(readings, assessments, keys, strict=True))
        cursor = self.mirror.cursor
        for _attempt in range(3):
            fresh = [p for p in pairs if cursor is None or p[2] > cursor]
            if not fresh:
                return
            update = self._update(fresh)
            reply = await self.window.apply(update)
            if isinstance(reply, Applied):
                self._apply_to_mirror(reply, update)
                last = next((a.statistical for _, a, _ in reversed(fresh) if a.statistical is not None), None)
                if last is not None and len(last.streak) == len(self.mirror.streak):
                    self.mirror.streak = last.streak.astype(np.int64)
                    self.mirror.ml_streak = last.ml_streak
                return
            log.info("statistical window already holds entries up to %s-%s; skipping those", *reply.cursor)
            cursor = self.mirror.cursor = reply.cursor
        log.warning("statistical window kept moving under this batch; %d readings not learned", len(readings))

    def _update(self, batch: list[tuple[Reading, Assessment, tuple[int, int]]]) -> WindowUpdate:
        readings = [r for r, _, _ in batch]
        values = np.stack([r.values for r in readings])
        times = np.array([r.epoch_s for r in readings])
        sampled, changed, since, after = self._track(values, times)
        unchanged_s = times[:, None] - since
        learnable = sampled & ~(~changed & (unchanged_s >= self._stuck_after))
        keep_row = np.ones(len(batch), dtype=bool)
        if self.settings.protect_baseline:
            position = self.index.position
            for k, (_, assessment, _) in enumerate(batch):
                if assessment.final_status != "normal":
                    keep_row[k] = False
                for condition in assessment.conditions:
                    if condition.tier in ("heuristic", "statistical"):
                        for name in condition.sensors:
                            slot = position.get(name)
                            if slot is not None:
                                learnable[k, slot] = False
        learned = np.where(learnable, values, np.nan)
        buckets = np.floor_divide(times, self.settings.bucket_s).astype(np.int64)
        parts = []
        for bucket in np.unique(buckets):
            rows = buckets == bucket
            kept = learned[rows & keep_row]
            kept = kept[~np.isnan(kept).all(axis=1)] if len(kept) else kept
            parts.append(BucketUpdate(int(bucket), aggregate(learned[rows]), kept.astype(np.float32)))
        return WindowUpdate(
            first_id=batch[0][2],
            last_id=batch[-1][2],
            oldest_bucket=int(buckets.max()) - self.settings.n_buckets + 1,
            last=after,
            buckets=tuple(parts),
        )

    def _apply_to_mirror(self, reply: Applied, update: WindowUpdate) -> None:
        mirror = self.mirror
        for bucket, stats in reply.buckets.items():
            mirror.set_bucket(bucket, stats)
        if self.settings.robust:
            for part in update.buckets:
                if len(part.rows):
                    existing = mirror.rows.get(part.bucket)
                    mirror.rows[part.bucket] = part.rows if existing is None else np.concatenate([existing, part.rows])
        mirror.last = reply.last
        mirror.cursor = reply.cursor
        mirror.learned = reply.learned
        mirror.expire(max(reply.buckets))

    async def refresh(self) -> None:
        """Re-read the shared window into the mirror (other replicas' writes)."""
        snapshot = await self.window.snapshot()
        mirror = self.mirror
        mirror.replace(snapshot.buckets)
        if snapshot.last is not None:
            mirror.last = snapshot.last
        mirror.cursor = snapshot.cursor
        mirror.learned = snapshot.learned
        if snapshot.newest is not None:
            mirror.expire(snapshot.newest)
            if self.settings.robust:
                mirror.rows = await self.window.rows(snapshot.newest - self.settings.n_buckets + 1, snapshot.newest)
                self._robust_cache = None
        self._last_refresh = time.monotonic()

    # ------------------------------------------------------------------ the model

    def _adopt(self, model: ForestModel, learned_at: int) -> bool:
        missing = [f for f in model.features if f not in self.index.position]
        if missing:
            if self._refused_version != model.version:
                log.error(
                    "refusing IsolationForest model %s: trained on %d features, %d of which this catalogue "
                    "does not have (%s); tier 2 runs without it until a model is trained on these sensors",
                    model.version,
                    len(model.features),
                    len(missing),
                    ", ".join(missing[:10]),
                )
            self._refused_version = model.version
            self._model, self._model_slots = None, None
            return False
        self._model = model
        self._model_slots = np.array([self.index.position[f] for f in model.features], dtype=np.intp)
        self._model_learned_at = learned_at
        self._refused_version = None
        return True

    async def adopt_shared_model(self) -> bool:
        """Load the model other replicas published, if it is newer than ours."""
        version = await self.models.version()
        current = self._model.version if self._model else self._refused_version
        if version is None or version == current:
            return False
        stored = await self.models.load()
        if stored is None:
            return False
        adopted = self._adopt(stored.model, stored.learned_at)
        if adopted:
            log.info("loaded IsolationForest model %s (%d rows)", stored.model.version, stored.model.n_samples)
        return adopted

    def training_due(self, now: float | None = None) -> bool:
        learned = self.mirror.learned
        if learned < self.settings.if_min_training_rows:
            return False
        if self._model is None:
            return True
        now = time.time() if now is None else now
        if now - self._model.trained_at >= self.settings.if_retrain_interval_s:
            return True
        return learned - self._model_learned_at >= self.settings.if_retrain_after_rows

    async def training_rows(self) -> np.ndarray:
        """The protected rows in the current window, feature columns only, sampled to the bound."""
        newest = max(self.mirror.buckets, default=None)
        if newest is None:
            return np.empty((0, len(self.features)))
        chunks = await self.window.rows(newest - self.settings.n_buckets + 1, newest)
        if not chunks:
            return np.empty((0, len(self.features)))
        rows = np.concatenate([chunks[b] for b in sorted(chunks)])
        slots = np.array([self.index.position[f] for f in self.features], dtype=np.intp)
        rows = rows[:, slots].astype(np.float64)
        bound = self.settings.if_training_rows
        if len(rows) > bound:
            rng = np.random.default_rng(self.settings.if_seed + self.mirror.learned)
            rows = rows[np.sort(rng.choice(len(rows), bound, replace=False))]
        return rows

    async def train(self) -> ForestModel | None:
        """Train on the window now (in a worker thread), publish the model and adopt it."""
        if not await self.models.try_lock(self._owner, ttl_s=300):
            return None
        try:
            learned_at = self.mirror.learned
            rows = await self.training_rows()
            if len(rows) < self.settings.if_min_training_rows:
                return None
            s = self.settings
            model = await asyncio.to_thread(
                fit_model,
                rows,
                self.features,
                n_estimators=s.if_n_estimators,
                max_samples=s.if_max_samples,
                seed=s.if_seed,
            )
            await self.models.save(model, learned_at)
            self._adopt(model, learned_at)
            log.info(
                "trained IsolationForest %s on %d rows x %d sensors in %.2f s",
                model.version,
                model.n_samples,
                len(model.features),
                model.training_s,
            )
            return model
        finally:
            await self.models.unlock(self._owner)

    async def run_training(self, stop: asyncio.Event) -> None:
        """Background loop: refresh the mirror, adopt newer shared models, retrain when due."""
        s = self.settings
        tick = min(s.if_poll_s, s.refresh_s)
        while not stop.is_set():
            try:
                if time.monotonic() - self._last_refresh >= s.refresh_s:
                    await self.refresh()
                await self.adopt_shared_model()
                if self.training_due():
                    await self.train()
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("statistical tier background work failed; retrying in %.0f s", tick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
