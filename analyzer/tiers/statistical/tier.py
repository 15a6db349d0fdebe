"""Tier 2: per-sensor z-scores over the 24-hour window and a cross-sensor IsolationForest.

The tier keeps no state of its own: it scores and learns on a :class:`Tier2State` handed in by the
fold (``analyzer/analysis/fold.py``), one *bucket group* at a time (the readings of one time bucket
of a batch, in stream order). Scoring reads the window's buckets before the group's bucket only, so
a verdict never depends on how the stream was cut into batches or shared among workers.

Each sensor's behaviour is learned from its own samples and kept per window bucket in the shared
state (``state.py``): its update interval (median over the window's buckets of the mean gap between
samples), its resolution (smallest step between consecutive samples) and the longest run it held one
value outside any alarm (seconds and samples). Nothing assumes the 10-second plant.

Rules, per sensor and reading:

* absent from the payload -> no result;
* a sensor the catalogue calls hourly repeating its last value, less than half an hour after it
  was last present -> ``not_updated`` (not a new sample: neither scored nor learned);
* unchanged for longer than ``stuck_factor`` (2) times the longest unchanged run in its baseline,
  and for at least ``stuck_min_samples`` (5) of its own samples and sample intervals, while its
  window shows it normally moves -> ``stuck`` (a sensor that naturally holds values is not stuck);
* fewer than ``min_history`` (10) of its own samples in the baseline -> ``insufficient_history``;
* otherwise ``z = (value - centre) / (spread x f)`` and ``Anomaly`` when ``|z| >= z_threshold``,
  where ``f`` is the young-window factor (``behaviour.young_window_factor``: the Student-t
  prediction interval of a new sample when centre and spread come from ``n`` samples, 1.6 at 10
  samples, 1.15 at 30, 1.04 at 100): a young window widens the threshold instead of staying silent.

Whether an ``Anomaly`` becomes an alarm is the alarm step's decision (``analyzer/alarms``): the
z-score alarm activates at ``|z| >= z_confirm`` held for its on-delay (3 samples by default) or at
once beyond ``z_immediate``, and clears below ``z_confirm`` minus its deadband. The same holds for
the forest and the PCA monitor (``pca.py``): their thresholds are calibrated on the training rows
to ``if_false_alarm_target`` / ``pca_false_alarm_target`` (``calibration.py``), not constants.

The spread has a floor of ``spread_floor`` (default 5 %) of the sensor's Low..High span
(Low-Low..High-High without Low/High); without limits, the sensor's own resolution.

Protecting the baseline: a sensor with a live alarm (limit, z-score, flatline, rate of change,
range) is not learned while the alarm stands, and scores against the baseline it had when the
alarm activated (frozen at the next bucket boundary, count included), so a lasting fault neither
becomes the new normal nor starves the sensor's window, however long it lasts. An operator who
accepts a new operating point (``accept_operating_point``, audited) restarts the sensor's baseline:
it is released, learns again even while its alarm stands, and is scored again after
``min_history`` samples. A stuck value is never learned; only readings without any live alarm
become training rows for the multivariate models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.tiers.statistical.behaviour import young_window_factor
from analyzer.tiers.statistical.forest import ForestModel, fit_model
from analyzer.tiers.statistical.monitor import PcaModel, PcaScores, fit_pca_model, score_pca
from analyzer.tiers.statistical.outcome import ABSENT, ANOMALY, INSUFFICIENT, NORMAL, NOT_UPDATED, STUCK
from analyzer.tiers.statistical.settings import StatisticalSettings
from analyzer.tiers.statistical.state import (
    BUCKET_ROWS,
    GAP_N,
    GAP_SUM_MS,
    RUN_N,
    RUN_S,
    STEP,
    Baseline,
    Tier2State,
)
from analyzer.tiers.statistical.window import (
    COUNT,
    M2,
    MEAN,
    accumulate,
    combine,
    robust_centre_spread,
    std_of,
)

_HOURLY_S = 3600.0
#: A sensor missing for this many of its update intervals is stale.
STALE_INTERVALS = 6
#: Sample counts with a tabulated young-window factor (at 20,000 samples it is within 1e-4 of 1).
_YOUNG_TABLE = 20_000
#: The behaviour rows of a bucket array (``state.py``).
BEHAVIOUR_ROWS = slice(RUN_S, BUCKET_ROWS)
#: Steps below this share of the values' magnitude are float noise (float32 round trips), not resolution.
_REL_STEP = 1e-6


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
    stale_after_s: np.ndarray  # (n,) the sensor is stale after this long without a sample
    run_samples: np.ndarray  # samples in the unchanged run each reading belongs to (0: not a sample)
    ml_status: list[str]
    ml_raw: np.ndarray
    ml_score: np.ndarray
    ml_threshold: float  # the forest's calibrated threshold (inf: not certified yet)
    contributions: list[tuple[tuple[str, float], ...]]
    model_version: str | None
    pca: PcaScores | None  # None: no PCA monitor yet
    after: np.ndarray  # (3, n) last value, changed at, seen at after the group
    times: np.ndarray
    elapsed_ms: float


def new_bucket(n_sensors: int) -> np.ndarray:
    """An empty bucket: nothing learned, no run, no step (``+inf``), no gap."""
    bucket = np.zeros((BUCKET_ROWS, n_sensors))
    bucket[3] = np.nan
    bucket[STEP] = np.inf
    return bucket


def _behaviour(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Longest baseline run (s, samples), resolution and update interval over a window's buckets
    ``(m, BUCKET_ROWS, n)``: maxima, minimum, and the median of the buckets' mean gaps (robust to
    an outage, which lands in one bucket)."""
    n = raw.shape[2]
    if not len(raw):
        nan = np.full(n, np.nan)
        return np.zeros(n), np.zeros(n), nan, nan.copy()
    step = raw[:, STEP].min(axis=0)
    gaps = raw[:, GAP_N]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(gaps > 0, raw[:, GAP_SUM_MS] / np.where(gaps > 0, gaps, 1) / 1000.0, np.nan)
    interval = _column_median(mean_gap)
    return raw[:, RUN_S].max(axis=0), raw[:, RUN_N].max(axis=0), np.where(np.isfinite(step), step, np.nan), interval


def _stats_of(raw: np.ndarray) -> np.ndarray:
    """Count, mean and M2 of each bucket of a stack ``(m, BUCKET_ROWS, n)`` (``window.bucket_stats``)."""
    count = raw[:, COUNT]
    mean = np.where(count > 0, np.nan_to_num(raw[:, 3]) + raw[:, 1], 0.0)
    return np.stack([count, mean, raw[:, M2]], axis=1)


def _column_median(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=0)`` without its slow path for small arrays (NaN for an all-NaN column)."""
    ordered = np.sort(x, axis=0)  # NaN sort last
    count = (~np.isnan(x)).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[None, :], axis=0)[0]
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0)[None, :], axis=0)[0]
    return np.where(count > 0, (low + high) / 2, np.nan)


class StatisticalTier:
    """Scores and learns bucket groups on a :class:`Tier2State`.

    >>> from analyzer.catalog import load_catalog
    >>> tier = StatisticalTier(SensorIndex.from_catalog(load_catalog()))
    >>> tier.settings.z_threshold, tier.n_buckets, tier.settings.min_history
    (3.0, 288, 10)
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
        #: The catalogue's interval: only for telling a repeated hourly value from a new sample, and
        #: for staleness until the sensor's own interval is known.
        self._interval = np.where(hourly, _HOURLY_S, 10.0)
        span = np.where(np.isnan(index.high - index.low), index.high_high - index.low_low, index.high - index.low)
        self._floor = settings.spread_floor * span  # NaN without limits: the sensor's resolution at scoring
        #: Young-window factor by sample count (``behaviour.young_window_factor``), 1 beyond the table.
        counts = np.arange(_YOUNG_TABLE, dtype=float)
        self._young = np.r_[
            young_window_factor(np.maximum(counts, settings.min_history), settings.z_confirm, min_samples=2), 1.0
        ]
        self._young[: settings.min_history] = self._young[min(settings.min_history, _YOUNG_TABLE)]  # not scored
        #: Forest features: every non-hourly sensor (laboratory values carry no news in between).
        self.features = tuple(name for name, h in zip(index.names, hourly, strict=True) if not h)
        self._feature_slots = np.array([index.position[f] for f in self.features], dtype=np.intp)

    def new_state(self) -> Tier2State:
        return Tier2State(len(self.index), self.n_buckets, next_training=self.settings.if_min_training_rows)

    def bucket_of(self, entry_ms: np.ndarray) -> np.ndarray:
        return np.floor_divide(entry_ms // 1000, self.settings.bucket_s).astype(np.int64)

    # ------------------------------------------------------------------ scoring

    def baseline(self, state: Tier2State, bucket: int) -> Baseline:
        """The window's baseline for readings in ``bucket`` (cached: those buckets never change).

        A sensor whose operator accepted a new operating point counts only the buckets from then on.
        """
        since = state.sensors["baseline_from"]
        restarted = ~np.isnan(since) & (since > bucket - self.n_buckets)
        key = (bucket, self.settings.robust, tuple(np.flatnonzero(restarted)), tuple(since[restarted]))
        cached = state.baselines.get(key)
        if cached is not None:
            return cached
        raw = state.window_buckets(bucket)
        totals = combine(_stats_of(raw)) if len(raw) else np.zeros((3, state.n_sensors))
        if restarted.any() and len(raw):
            numbers = np.array([b for b in sorted(state.buckets) if bucket - self.n_buckets <= b < bucket])
            keep = numbers[:, None] >= np.where(restarted, since, -np.inf)[None, :]  # (buckets, sensors)
            parts = _stats_of(raw)
            parts[:, COUNT] = np.where(keep, parts[:, COUNT], 0.0)
            parts[:, M2] = np.where(keep, parts[:, M2], 0.0)
            totals = np.where(restarted, combine(parts), totals)
            raw = np.where(keep[:, None, :], raw, new_bucket(len(since))[None, :, :])
        count, mean, std = totals[COUNT], totals[MEAN], std_of(totals)
        centre, spread = mean, std
        if self.settings.robust:
            rows = state.window_rows(bucket)
            median, mad = robust_centre_spread(rows)
            centre = np.where(np.isnan(median) | restarted, mean, median)
            spread = np.where(np.isnan(mad) | (mad <= 0) | restarted, std, mad)
        longest_s, longest_n, resolution, interval = _behaviour(raw)
        span = np.zeros(state.n_sensors)
        if len(raw):
            numbers = np.array([b for b in sorted(state.buckets) if bucket - self.n_buckets <= b < bucket])
            learned = raw[:, COUNT] > 0
            first = np.where(learned.any(axis=0), numbers[np.argmax(learned, axis=0)], bucket)
            span = (bucket - first).astype(float) * self.settings.bucket_s
        baseline = Baseline(count, centre, spread, std, longest_s, longest_n, resolution, interval, span)
        state.baselines[key] = baseline
        return baseline

    def score(self, state: Tier2State, values: np.ndarray, times: np.ndarray, bucket: int) -> Tier2Scores:
        """Score the readings of one bucket group (stream order). Does not change ``state``."""
        started = time.perf_counter()
        s = self.settings
        n_rows, n = values.shape
        sampled, changed, since, after, previous, previous_seen = self._track(state, values, times)
        base = self.baseline(state, bucket)
        sensors = state.sensors
        frozen = ~np.isnan(sensors["frozen_centre"])
        centre = np.where(frozen, sensors["frozen_centre"], base.centre)
        spread = np.where(frozen, sensors["frozen_spread"], base.spread)
        count = np.where(frozen, sensors["frozen_count"], base.count)
        floor = np.where(np.isnan(self._floor), np.nan_to_num(base.resolution), self._floor)
        floor = np.fmax(floor, 1e-9 * np.abs(np.nan_to_num(centre)) + 1e-12)
        # The young window's uncertainty, as a wider spread (the same factor on every threshold).
        young = self._young[np.clip(np.nan_to_num(count), 0, len(self._young) - 1).astype(np.intp)]
        wide = np.fmax(spread, floor) * young
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = (values - centre) / wide
        present = ~np.isnan(values)
        unchanged_s = times[:, None] - since
        run_samples = self._run_samples(state, sampled, changed)
        interval = np.where(np.isnan(base.interval), self._interval, base.interval)
        stuck_s = np.maximum(s.stuck_factor * base.longest_run_s, s.stuck_min_samples * interval)
        stuck_n = np.maximum(np.ceil(s.stuck_factor * base.longest_run_n), s.stuck_min_samples)
        moves = base.std > 0
        stuck = (
            present
            & sampled
            & ~changed
            & (unchanged_s >= stuck_s)
            & (run_samples >= stuck_n)
            & moves
            & (base.count >= s.min_history)
        )
        enough = count >= s.min_history
        status = np.full((n_rows, n), ABSENT, dtype=np.int8)
        status[present] = NORMAL
        with np.errstate(invalid="ignore"):
            status[present & (np.abs(z) >= s.z_threshold)] = ANOMALY
        status[present & ~enough] = INSUFFICIENT
        status[present & ~sampled] = NOT_UPDATED
        status[stuck] = STUCK
        scored = (status == NORMAL) | (status == ANOMALY)
        z = np.where(scored, z, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = times[:, None] - previous_seen
            rate = np.where(sampled & (gap > 0), (values - previous) / gap * 60.0, np.nan)
            last_seen = np.maximum.accumulate(np.where(present, times[:, None], -np.inf), axis=0)
            last_seen = np.fmax(last_seen, np.where(np.isnan(sensors["seen_at"]), -np.inf, sensors["seen_at"]))
            stale = np.where(~present & np.isfinite(last_seen), times[:, None] - last_seen, np.nan)
        ml_status, ml_raw, ml_score, contributions = self._score_forest(state, values)
        model = state.model
        pca = None
        if state.pca is not None:
            pca = score_pca(state.pca, values[:, self._feature_slots], top=s.if_top_contributors)
        return Tier2Scores(
            values=values,
            centre=np.broadcast_to(centre, (n_rows, n)),
            spread=np.broadcast_to(wide, (n_rows, n)),
            z=z,
            status=status,
            stuck_for_s=unchanged_s,
            sampled=sampled,
            changed=changed,
            rate_per_min=rate,
            stale_for_s=stale,
            stale_after_s=STALE_INTERVALS * interval,
            run_samples=run_samples,
            ml_status=ml_status,
            ml_raw=ml_raw,
            ml_score=ml_score,
            ml_threshold=model.threshold if model is not None else float("inf"),
            contributions=contributions,
            model_version=model.version if model else None,
            pca=pca,
            after=after,
            times=times,
            elapsed_ms=(time.perf_counter() - started) * 1000 / max(n_rows, 1),
        )

    def _run_samples(self, state: Tier2State, sampled: np.ndarray, changed: np.ndarray) -> np.ndarray:
        """Per reading: the samples of the unchanged run it belongs to, itself included (0: not a sample)."""
        run = np.nan_to_num(state.sensors["run_samples"]).copy()
        out = np.zeros(sampled.shape)
        for row in range(len(sampled)):
            run = np.where(sampled[row], np.where(changed[row], 1.0, run + 1.0), run)
            out[row] = np.where(sampled[row], run, 0.0)
        return out

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
        flagged = raw > model.raw_threshold  # calibrated on the training rows (inf: not certified)
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
        learnable = scores.sampled & (scores.status != STUCK) & ~protected
        learned = np.where(learnable, values, np.nan)
        current = state.buckets.get(bucket)
        if current is None:
            current = new_bucket(state.n_sensors)
        behaviour = self._observe(state, scores, current[BEHAVIOUR_ROWS].copy(), protected)
        state.buckets[bucket] = np.vstack([accumulate(current[:4], learned), behaviour])
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

    def _observe(
        self, state: Tier2State, scores: Tier2Scores, behaviour: np.ndarray, protected: np.ndarray
    ) -> np.ndarray:
        """The group's samples into the bucket's behaviour rows and the sensors' run state, one reading
        at a time (vectorised over sensors): unchanged runs that ended outside any alarm, the smallest
        real step, and the gaps between samples in whole milliseconds (sums exact in any grouping)."""
        sensors = state.sensors
        run_start, run_samples = sensors["run_start"].copy(), np.nan_to_num(sensors["run_samples"])
        run_flag, sampled_at = np.nan_to_num(sensors["run_flag"]), sensors["sampled_at"].copy()
        last = sensors["last_value"].copy()
        run_s, run_n, step, gap_sum, gap_n = (behaviour[i - 4] for i in (RUN_S, RUN_N, STEP, GAP_SUM_MS, GAP_N))
        tainted = protected | (scores.status == STUCK)
        for row in range(len(scores.values)):
            now, value, sample = scores.times[row], scores.values[row], scores.sampled[row]
            known = sample & ~np.isnan(sampled_at)
            with np.errstate(invalid="ignore"):
                moved = known & (value != last)
                ended = moved & (run_flag == 0) & ~np.isnan(run_start)
                run_s = np.where(ended, np.fmax(run_s, sampled_at - run_start), run_s)
                run_n = np.where(ended, np.fmax(run_n, run_samples), run_n)
                size = np.abs(value - last)
                real = moved & (size > _REL_STEP * np.fmax(np.abs(value), np.abs(last)))
            step = np.where(real, np.fmin(step, size), step)
            gap_sum = gap_sum + np.where(known, np.round((now - np.nan_to_num(sampled_at)) * 1000.0), 0.0)
            gap_n = gap_n + known
            starts = sample & (moved | np.isnan(sampled_at))
            run_start = np.where(starts, now, run_start)
            run_samples = np.where(starts, 1.0, run_samples + sample)
            run_flag = np.where(starts, tainted[row], np.where(sample, np.fmax(run_flag, tainted[row]), run_flag))
            sampled_at = np.where(sample, now, sampled_at)
            last = np.where(sample, value, last)
        sensors["run_start"], sensors["run_samples"], sensors["run_flag"] = run_start, run_samples, run_flag
        sensors["sampled_at"] = sampled_at
        return np.stack([run_s, run_n, step, gap_sum, gap_n])

    def rebase(self, state: Tier2State, bucket: int, in_alarm: np.ndarray) -> None:
        """As bucket ``bucket`` starts: sensors with a standing alarm keep scoring against the baseline
        they had when it began (frozen here, on the first bucket boundary it spans, count included, so
        it never shrinks into "insufficient history"); the others are released. A sensor relearning
        after an accepted operating point is not frozen until its new baseline is scored. Done at
        bucket boundaries only, so it does not depend on how batches fell."""
        sensors = state.sensors
        base = self.baseline(state, bucket)
        hold = in_alarm & ~self.relearning(state, bucket) & self.mature(state, bucket)
        newly = hold & np.isnan(sensors["frozen_centre"])
        for name, fresh in (
            ("frozen_centre", base.centre),
            ("frozen_spread", base.spread),
            ("frozen_count", base.count),
        ):
            sensors[name] = np.where(newly, fresh, np.where(hold, sensors[name], np.nan))

    def mature(self, state: Tier2State, bucket: int) -> np.ndarray:
        """Sensors whose learned samples span ``protect_min_span`` of the window: only their baselines
        are protected (frozen in alarm, statistical alarms kept out). A young window learns everything:
        a baseline frozen from its first minutes cannot follow the plant's daily cycle, and its alarm
        would stand for the rest of the day. A frozen baseline stays mature however long its fault lasts
        (the window then empties of the sensor's samples: that must not release it)."""
        frozen = ~np.isnan(state.sensors["frozen_centre"])
        return frozen | (self.baseline(state, bucket).span_s >= self.settings.protect_min_span * self.window_s)

    def relearning(self, state: Tier2State, bucket: int) -> np.ndarray:
        """Sensors whose accepted new operating point has fewer than ``min_history`` samples yet: they
        learn even while an alarm stands on them (else the new baseline could never fill)."""
        since = state.sensors["baseline_from"]
        restarted = ~np.isnan(since) & (since > bucket - self.n_buckets)
        if not restarted.any():
            return restarted
        return restarted & (self.baseline(state, bucket).count < self.settings.min_history)

    def accept_operating_point(self, state: Tier2State, slots: np.ndarray, bucket: int) -> None:
        """An operator accepted the sensors' current level as normal: their baselines restart at
        ``bucket`` (the older buckets no longer count for them) and their frozen baselines are released."""
        sensors = state.sensors
        sensors["baseline_from"] = sensors["baseline_from"].copy()
        sensors["baseline_from"][slots] = bucket
        for name in ("frozen_centre", "frozen_spread", "frozen_count"):
            sensors[name] = sensors[name].copy()
            sensors[name][slots] = np.nan

    # ------------------------------------------------------------------ the model

    def training_due(self, state: Tier2State, stream_time: float) -> bool:
        """Retrain at fixed counts of learned rows, or after ``if_retrain_interval_s`` of stream time.

        The fold asks as each new time bucket starts, so when a model changes is part of the fold.
        """
        s = self.settings
        if len(self.features) < 2 or state.learned < s.if_min_training_rows:
            return False  # fewer than two features (nothing cross-sensor to learn), or too few rows yet
        newest, first = state.newest, min(state.rows, default=None)
        if newest is None or first is None or (newest - first) * s.bucket_s < s.if_min_training_span * self.window_s:
            # Normal operation has cycles (day and night, shifts): a model of part of one flags the rest.
            return False
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
            false_alarm_target=s.if_false_alarm_target,
        )

    def train_pca(self, state: Tier2State, version: str) -> PcaModel | None:
        """The PCA monitor on the same rows as the forest (:meth:`training_rows`), its limits calibrated
        on their last third to ``pca_false_alarm_target`` (``monitor.py``)."""
        newest = state.newest
        if newest is None:
            return None
        s = self.settings
        return fit_pca_model(
            self.training_rows(state),
            self.features,
            resolution=self.baseline(state, newest + 1).resolution[self._feature_slots],
            target=s.pca_false_alarm_target,
            explained=s.pca_explained,
            version=version,
        )

    def adopt(self, state: Tier2State, model: ForestModel, stream_time: float, pca: PcaModel | None = None) -> None:
        state.model = model
        state.pca = pca
        state.trained_at = stream_time
        # A young model is retrained each time the rows double (200, 400, 800, ...), then every
        # if_retrain_after_rows: a first model fitted on half an hour must not serve for six.
        state.next_training = state.learned + min(self.settings.if_retrain_after_rows, max(state.learned, 1))

    def usable(self, model: ForestModel) -> bool:
        """A shared model trained on features this catalogue does not have cannot be used here."""
        return all(f in self.index.position for f in model.features) and model.features == self.features
