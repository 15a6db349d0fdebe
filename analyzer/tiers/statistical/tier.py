"""Tier 2: per-sensor z-scores over the 24-hour window and a cross-sensor IsolationForest.

The tier keeps no state of its own: it scores and learns on a :class:`Tier2State` handed in by the
fold (``analyzer/analysis/fold.py``), one *bucket group* at a time (the readings of one time bucket
of a batch, in stream order). Scoring reads the window's buckets before the group's bucket only, so
a verdict never depends on how the stream was cut into batches or shared among workers.

Rules, per sensor and reading:

* absent from the payload -> no result;
* an hourly sensor repeating its last value, less than half an hour after it was last present
  -> ``not_updated`` (not a new sample: neither scored nor learned);
* unchanged for ``stuck_updates`` update intervals (hourly: ``stuck_hourly_updates``) while its
  window shows it normally moves -> ``stuck``;
* fewer than ``min_history`` (hourly: ``min_history_hourly``) samples in the window ->
  ``insufficient_history``;
* otherwise ``z = (value - centre) / spread`` and ``Anomaly`` when ``|z| >= z_threshold``.

Whether an ``Anomaly`` becomes an alarm is the alarm step's decision (``analyzer/alarms``): the
z-score alarm activates at ``|z| >= z_confirm`` held for its on-delay (3 samples by default) or at
once beyond ``z_immediate``, and clears below ``z_confirm`` minus its deadband. The same holds for
the forest (``status`` ``Anomaly`` at ``score >= if_threshold``; the alarm's on-delay confirms it).

The spread has a floor of ``spread_floor`` (default 5 %) of the sensor's Low..High span
(Low-Low..High-High without Low/High; 0.1 % of the centre without limits).

Protecting the baseline: a sensor with a live alarm (limit, z-score, flatline, rate of change,
range) is not learned while the alarm stands, and scores against the baseline it had when the
alarm activated (frozen), so a lasting fault neither becomes the new normal nor starves the
sensor's window; a stuck value is never learned; only readings without any live alarm become
training rows for the forest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.tiers.statistical.forest import ForestModel, fit_model
from analyzer.tiers.statistical.outcome import ABSENT, ANOMALY, INSUFFICIENT, NORMAL, NOT_UPDATED, STUCK
from analyzer.tiers.statistical.settings import StatisticalSettings
from analyzer.tiers.statistical.state import Baseline, Tier2State
from analyzer.tiers.statistical.window import COUNT, MEAN, accumulate, robust_centre_spread, std_of

_HOURLY_S = 3600.0
#: A sensor missing for this many of its update intervals is stale.
STALE_INTERVALS = 6


@dataclass(frozen=True)
class Tier2Scores:
    """What tier 2 found in one bucket group: arrays aligned (rows, sensors), ML per row."""

    values: np.ndarray
    centre: np.ndarray
    spread: np.ndarray
    z: np.ndarray
    status: np.ndarray  # int8 codes of outcome.py
    stuck_for_s: np.ndarray
    sampled: np.ndarray  # bool: a real new sample
    changed: np.ndarray  # bool: the value moved since the previous sample
    rate_per_min: np.ndarray  # change per minute since the previous sample (NaN: none)
    stale_for_s: np.ndarray  # absent readings: time since the sensor was last sampled (NaN otherwise)
    ml_status: list[str]
    ml_raw: np.ndarray
    ml_score: np.ndarray
    contributions: list[tuple[tuple[str, float], ...]]
    model_version: str | None
    after: np.ndarray  # (3, n) last value, changed at, seen at after the group
    elapsed_ms: float


class StatisticalTier:
    """Scores and learns bucket groups on a :class:`Tier2State`.

    >>> from analyzer.catalog import load_catalog
    >>> tier = StatisticalTier(SensorIndex.from_catalog(load_catalog()))
    >>> tier.settings.z_threshold, tier.n_buckets
    (3.0, 288)
    """

    def __init__(
        self, index: SensorIndex, settings: StatisticalSettings | None = None, *, window_s: int = 24 * 3600
    ) -> None:
        settings = settings or StatisticalSettings()
        if window_s % settings.bucket_s:
            raise ValueError(f"the window ({window_s} s) must be a multiple of STAT_BUCKET_S ({settings.bucket_s} s)")
        self.index = index
        self.settings = settings
        self.window_s = window_s
        self.n_buckets = window_s // settings.bucket_s
        hourly = index.hourly
        self._hourly = hourly
        self._interval = np.where(hourly, _HOURLY_S, 10.0)
        self._stuck_after = np.where(
            hourly, self._interval * settings.stuck_hourly_updates, self._interval * settings.stuck_updates
        )
        self._stale_after = self._interval * STALE_INTERVALS
        self._min_history = np.where(hourly, settings.min_history_hourly, settings.min_history)
        span = np.where(np.isnan(index.high - index.low), index.high_high - index.low_low, index.high - index.low)
        self._floor = settings.spread_floor * span  # NaN without limits: relative floor at scoring
        #: Forest features: every non-hourly sensor (laboratory values carry no news in between).
        self.features = tuple(name for name, h in zip(index.names, hourly, strict=True) if not h)
        self._feature_slots = np.array([index.position[f] for f in self.features], dtype=np.intp)

    def new_state(self) -> Tier2State:
        return Tier2State(len(self.index), self.n_buckets, next_training=self.settings.if_min_training_rows)

    def bucket_of(self, entry_ms: np.ndarray) -> np.ndarray:
        return np.floor_divide(entry_ms // 1000, self.settings.bucket_s).astype(np.int64)

    # ------------------------------------------------------------------ scoring

    def baseline(self, state: Tier2State, bucket: int) -> Baseline:
        """The window's baseline for readings in ``bucket`` (cached: those buckets never change)."""
        key = (bucket, self.settings.robust)
        cached = state.baselines.get(key)
        if cached is not None:
            return cached
        totals = state.window_totals(bucket)
        count, mean, std = totals[COUNT], totals[MEAN], std_of(totals)
        centre, spread = mean, std
        if self.settings.robust:
            median, mad = robust_centre_spread(state.window_rows(bucket))
            centre = np.where(np.isnan(median), mean, median)
            spread = np.where(np.isnan(mad) | (mad <= 0), std, mad)
        baseline = Baseline(count, centre, spread, std)
        state.baselines[key] = baseline
        return baseline

    def score(self, state: Tier2State, values: np.ndarray, times: np.ndarray, bucket: int) -> Tier2Scores:
        """Score the readings of one bucket group (stream order). Does not change ``state``."""
        started = time.perf_counter()
        n_rows, n = values.shape
        sampled, changed, since, after, previous, previous_seen = self._track(state, values, times)
        base = self.baseline(state, bucket)
        frozen = ~np.isnan(state.sensors["frozen_centre"])
        centre = np.where(frozen, state.sensors["frozen_centre"], base.centre)
        spread = np.where(frozen, state.sensors["frozen_spread"], base.spread)
        count = np.where(frozen, state.sensors["frozen_count"], base.count)
        floor = np.where(np.isnan(self._floor), 1e-3 * np.abs(centre) + 1e-12, self._floor)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = (values - centre) / np.fmax(spread, floor)
        present = ~np.isnan(values)
        unchanged_s = times[:, None] - since
        moves = base.std > 0
        stuck = present & ~changed & (unchanged_s >= self._stuck_after) & moves
        enough = count >= self._min_history
        status = np.full((n_rows, n), ABSENT, dtype=np.int8)
        status[present] = NORMAL
        with np.errstate(invalid="ignore"):
            status[present & (np.abs(z) >= self.settings.z_threshold)] = ANOMALY
        status[present & ~enough] = INSUFFICIENT
        status[present & ~sampled] = NOT_UPDATED
        status[stuck] = STUCK
        scored = (status == NORMAL) | (status == ANOMALY)
        z = np.where(scored, z, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = times[:, None] - previous_seen
            rate = np.where(sampled & (gap > 0), (values - previous) / gap * 60.0, np.nan)
            last_seen = np.maximum.accumulate(np.where(present, times[:, None], -np.inf), axis=0)
            last_seen = np.fmax(
                last_seen, np.where(np.isnan(state.sensors["seen_at"]), -np.inf, state.sensors["seen_at"])
            )
            stale = np.where(~present & np.isfinite(last_seen), times[:, None] - last_seen, np.nan)
        ml_status, ml_raw, ml_score, contributions = self._score_forest(state, values)
        return Tier2Scores(
            values=values,
            centre=np.broadcast_to(centre, (n_rows, n)),
            spread=np.broadcast_to(np.fmax(spread, floor), (n_rows, n)),
            z=z,
            status=status,
            stuck_for_s=unchanged_s,
            sampled=sampled,
            changed=changed,
            rate_per_min=rate,
            stale_for_s=stale,
            ml_status=ml_status,
            ml_raw=ml_raw,
            ml_score=ml_score,
            contributions=contributions,
            model_version=state.model.version if state.model else None,
            after=after,
            elapsed_ms=(time.perf_counter() - started) * 1000 / max(n_rows, 1),
        )

    def stale_after(self) -> np.ndarray:
        return self._stale_after

    def _track(
        self, state: Tier2State, values: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per reading and sensor: is it a real sample, did it change, since when unchanged, the
        previous sample's value and time; and the per-sensor last state after the group.

        Vectorised forward fill over the group, seeded with the state's last values.
        """
        s = state.sensors
        last = np.stack([s["last_value"], s["changed_at"], s["seen_at"]])
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
        columns = np.arange(n)
        after[0] = ext_values[fill[-1], columns]
        after[1] = np.where(fill[-1] > 0, since[-1], last[1])
        after[2] = ext_seen[fill[-1], columns]
        return sampled, changed, since, after, previous, previous_seen

    def _score_forest(
        self, state: Tier2State, values: np.ndarray
    ) -> tuple[list[str], np.ndarray, np.ndarray, list[tuple[tuple[str, float], ...]]]:
        n_rows = len(values)
        model = state.model
        if model is None:
            missing = "refused_model" if state.refused_version else "no_model"
            nan = np.full(n_rows, np.nan)
            return [missing] * n_rows, nan, nan, [()] * n_rows
        x = model.impute(values[:, self._feature_slots])
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
        return ["Anomaly" if f else "Normal" for f in flagged], raw, calibrated, explained

    # ------------------------------------------------------------------ learning

    def learn(
        self,
        state: Tier2State,
        scores: Tier2Scores,
        bucket: int,
        *,
        protected: np.ndarray,
        keep_rows: np.ndarray,
    ) -> None:
        """Fold a scored group into ``state`` (which the caller owns: see :meth:`Tier2State.copy`).

        ``protected`` (rows, n): sensors kept out of the window at each reading; ``keep_rows``
        (rows,): readings that may become training rows. Readings are added one at a time
        (Welford), so the window's numbers are the same however the stream was cut into groups.
        """
        values = scores.values
        unchanged_long = ~scores.changed & (scores.stuck_for_s >= self._stuck_after)
        learnable = scores.sampled & ~unchanged_long & ~protected
        learned = np.where(learnable, values, np.nan)
        current = state.buckets.get(bucket)
        state.buckets[bucket] = accumulate(current, learned)
        kept = learned[keep_rows]
        kept = kept[~np.isnan(kept).all(axis=1)] if len(kept) else kept
        if len(kept):
            existing = state.rows.get(bucket)
            chunk = kept.astype(np.float32)
            state.rows[bucket] = chunk if existing is None else np.concatenate([existing, chunk])
            state.learned += len(kept)
        sensors = state.sensors
        sensors["last_value"], sensors["changed_at"], sensors["seen_at"] = scores.after
        state.expire()

    def rebase(self, state: Tier2State, bucket: int, in_alarm: np.ndarray) -> None:
        """As bucket ``bucket`` starts: sensors with a standing alarm keep scoring against the baseline
        they had when it began (frozen here, on the first bucket boundary it spans); the others are
        released. Done at bucket boundaries only, so it does not depend on how batches fell."""
        sensors = state.sensors
        base = self.baseline(state, bucket)
        newly = in_alarm & np.isnan(sensors["frozen_centre"])
        for name, fresh in (
            ("frozen_centre", base.centre),
            ("frozen_spread", base.spread),
            ("frozen_count", base.count),
        ):
            sensors[name] = np.where(newly, fresh, np.where(in_alarm, sensors[name], np.nan))

    # ------------------------------------------------------------------ the model

    def training_due(self, state: Tier2State, stream_time: float) -> bool:
        """Retrain at fixed counts of learned rows, or after ``if_retrain_interval_s`` of stream time.

        The fold asks as each new time bucket starts, so when a model changes is part of the fold.
        """
        s = self.settings
        if not self.features or state.learned < s.if_min_training_rows:
            return False  # no sensor can be a forest feature (all hourly), or too few rows yet
        if state.model is None or state.learned >= state.next_training:
            return True
        return stream_time - state.trained_at >= s.if_retrain_interval_s

    def training_rows(self, state: Tier2State) -> np.ndarray:
        """The protected rows in the window, feature columns only, sampled deterministically to the bound."""
        newest = state.newest
        if newest is None:
            return np.empty((0, len(self.features)))
        rows = state.window_rows(newest + 1)[:, self._feature_slots].astype(np.float64)
        bound = self.settings.if_training_rows
        if len(rows) > bound:
            rng = np.random.default_rng(self.settings.if_seed + state.learned)
            rows = rows[np.sort(rng.choice(len(rows), bound, replace=False))]
        return rows

    def train(self, state: Tier2State, version: str) -> ForestModel | None:
        """Fit the forest on the window's rows (CPU-bound: callers run it in a thread). The same
        rows and seed give the same model on every replica."""
        rows = self.training_rows(state)
        if len(rows) < self.settings.if_min_training_rows:
            return None
        s = self.settings
        return fit_model(
            rows,
            self.features,
            n_estimators=s.if_n_estimators,
            max_samples=s.if_max_samples,
            seed=s.if_seed,
            version=version,
        )

    def adopt(self, state: Tier2State, model: ForestModel, stream_time: float) -> None:
        state.model = model
        state.trained_at = stream_time
        state.next_training = state.learned + self.settings.if_retrain_after_rows

    def usable(self, model: ForestModel) -> bool:
        """A shared model trained on features this catalogue does not have cannot be used here."""
        return all(f in self.index.position for f in model.features) and model.features == self.features
