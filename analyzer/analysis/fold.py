"""The fold: the stream's entries, in stream-id order, through the tiers and the alarm step.

``fold(state, entries) -> FoldOutcome`` is the whole stateful part of the analysis. It depends on
nothing but the state it starts from and the entries, so any worker folding the same entries from
the same state computes the same results and alarms; the shared copy of the state in Redis
(``shared_state.py``) is advanced by compare-and-set on the cursor, so the stream is folded once,
in order, however many workers share it.

Per batch, readings are taken one *bucket group* at a time (the readings of one tier 2 time bucket,
see ``analyzer/tiers/statistical/state.py``):

1. tier 1 observes every configured limit (with its deadband) and the instrument range;
2. tier 2 scores the group against the window before its bucket and observes z-scores,
   flatlines, rates of change, stale sensors and the forest;
3. the alarm book steps every alarm through the group's readings in order;
4. tier 2 learns the group, keeping sensors in alarm out of the window (and freezing their
   baseline), and retrains the forest when the fold reaches a training point;
5. each reading gets its result: final status, severity, confidence, the records that counted it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from analyzer.alarms.book import AlarmBook, BatchAlarms, KindObservations
from analyzer.alarms.policy import PolicyTable
from analyzer.alarms.step import Alarm, Level, Phase
from analyzer.analysis.observations import Observer
from analyzer.analysis.result import ResultBuilder
from analyzer.catalog.index import SensorIndex
from analyzer.keys import entry_order
from analyzer.reading import PayloadError, PayloadLimits, Reading, parse_entry
from analyzer.tiers.heuristic import HeuristicTier
from analyzer.tiers.statistical import StatisticalTier, Tier2Scores, Tier2State
from analyzer.tiers.statistical.forest import ForestModel
from analyzer.tiers.statistical.monitor import PcaModel
from schemas.alarms import AlarmEvent, AlarmKind
from schemas.results import AnalysisResult

log = logging.getLogger(__name__)

#: Alarm kinds whose sensors are kept out of tier 2's baseline while they stand.
PROTECTING = (
    AlarmKind.HIGH,
    AlarmKind.HIGH_HIGH,
    AlarmKind.LOW,
    AlarmKind.LOW_LOW,
    AlarmKind.ZSCORE,
    AlarmKind.FLATLINE,
    AlarmKind.RATE_OF_CHANGE,
    AlarmKind.OUT_OF_RANGE,
)
#: Measured faults: the reading itself is kept out of the baseline as soon as it is seen.
_MEASURED = (AlarmKind.HIGH, AlarmKind.HIGH_HIGH, AlarmKind.LOW, AlarmKind.LOW_LOW, AlarmKind.OUT_OF_RANGE)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An entry that cannot be analysed, with the reason, for the dead-letter stream."""

    entry_id: str
    reason: str
    fields: Mapping[str, str]
    #: Rejected by an earlier fold (found dead-lettered), not by this call.
    earlier: bool = False


@dataclass
class FoldState:
    """Everything the analysis knows after folding the stream up to ``cursor``."""

    cursor: str | None
    epoch: int
    tier2: Tier2State | None
    book: AlarmBook
    #: Sensors whose new operating point an operator accepted since the last fold (``accept`` in the
    #: fold's hash): their baselines restart at the next folded entry's bucket, then the list empties.
    accepts: tuple[str, ...] = ()

    def copy(self) -> FoldState:
        book = self.book
        return FoldState(
            accepts=self.accepts,
            cursor=self.cursor,
            epoch=self.epoch,
            tier2=self.tier2.copy() if self.tier2 is not None else None,
            book=AlarmBook(
                book.index,
                book.policy,
                dict(book.alarms),
                recent_activations=list(book.recent_activations),
                flood_first=book.flood_first,
                windows=list(book.windows),
            ),
        )


@dataclass
class FoldOutcome:
    """What folding a run of entries produced; ``state`` is the state after them."""

    state: FoldState
    results: list[AnalysisResult] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    events: list[AlarmEvent] = field(default_factory=list)
    #: Alarm key -> the alarm after the fold (``None``: it went idle and is forgotten).
    alarms: dict[str, Alarm | None] = field(default_factory=dict)
    #: Buckets whose statistics changed, and the rows each gained.
    buckets: set[int] = field(default_factory=set)
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    models: list[ForestModel] = field(default_factory=list)
    #: PCA monitors trained with those models, by model version.
    pca: dict[str, PcaModel] = field(default_factory=dict)
    #: Seconds spent per stage (``heuristic``, ``statistical``, ``alarms``, ``results``), for telemetry.
    timings: dict[str, float] = field(default_factory=dict)

    def took(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now


class Folder:
    """Folds entries; holds only configuration (the state is passed in and returned)."""

    def __init__(
        self,
        index: SensorIndex,
        statistical: StatisticalTier | None,
        *,
        limits: PayloadLimits | None = None,
    ) -> None:
        self.index = index
        self.heuristic = HeuristicTier(index)
        self.statistical = statistical
        self.policy = PolicyTable(index)
        self.observer = Observer(index, self.policy, self.heuristic)
        self.results = ResultBuilder(index, self.heuristic, statistical)
        self.limits = limits or PayloadLimits()

    def with_index(self, index: SensorIndex) -> Folder:
        """The same folder for a catalogue whose limits changed (same sensors, same order)."""
        statistical = None
        if self.statistical is not None:
            statistical = StatisticalTier(index, self.statistical.settings, window_s=self.statistical.window_s)
        return Folder(index, statistical, limits=self.limits)

    def new_state(self) -> FoldState:
        tier2 = self.statistical.new_state() if self.statistical is not None else None
        return FoldState(cursor=None, epoch=0, tier2=tier2, book=AlarmBook(self.index, self.policy))

    def parse(self, entries: Sequence[tuple[str, Mapping[str, str]]]) -> tuple[list[Reading], list[Rejected]]:
        readings, rejected = [], []
        for entry_id, fields in entries:
            try:
                readings.append(parse_entry(entry_id, fields, self.index, self.limits))
            except PayloadError as error:
                rejected.append(Rejected(entry_id, str(error), dict(fields)))
        return readings, rejected

    async def fold(self, state: FoldState, entries: Sequence[tuple[str, Mapping[str, str]]]) -> FoldOutcome:
        """Fold ``entries`` (those after ``state.cursor``, in any order) into a copy of ``state``."""
        ordered = sorted(entries, key=lambda e: entry_order(e[0]))
        cursor = state.cursor
        if cursor is not None:
            ordered = [e for e in ordered if entry_order(e[0]) > entry_order(cursor)]
        after = state.copy()
        outcome = FoldOutcome(state=after)
        if not ordered:
            return outcome
        readings, outcome.rejected = self.parse(ordered)
        if readings:
            await self._fold_readings(after, readings, outcome)
        after.cursor = ordered[-1][0]
        return outcome

    async def fold_readings(self, state: FoldState, readings: Sequence[Reading]) -> FoldOutcome:
        """Fold already validated readings (evaluation, benchmarks): :meth:`fold` without parsing."""
        ordered = sorted(readings, key=lambda r: entry_order(r.entry_id))
        if state.cursor is not None:
            ordered = [r for r in ordered if entry_order(r.entry_id) > entry_order(state.cursor)]
        after = state.copy()
        outcome = FoldOutcome(state=after)
        if ordered:
            await self._fold_readings(after, ordered, outcome)
            after.cursor = ordered[-1].entry_id
        return outcome

    async def _fold_readings(self, state: FoldState, readings: list[Reading], outcome: FoldOutcome) -> None:
        ms = np.array([entry_order(r.entry_id)[0] for r in readings], dtype=np.int64)
        tier = self.statistical
        buckets = tier.bucket_of(ms) if tier is not None else np.zeros(len(readings), dtype=np.int64)
        if state.accepts:
            # Accepted operating points take effect at the first entry folded after the acceptance
            # (the acceptance moved the epoch, so every worker starts that fold from the same cursor).
            slots = np.array([self.index.position[s] for s in state.accepts if s in self.index.position], dtype=np.intp)
            if tier is not None and state.tier2 is not None and len(slots):
                tier.accept_operating_point(state.tier2, slots, int(buckets[0]))
            state.accepts = ()
        for bucket in np.unique(buckets):  # np.unique sorts: groups in stream order
            rows = np.flatnonzero(buckets == bucket)
            group = [readings[i] for i in rows]
            await self._fold_group(state, group, int(bucket), outcome)

    async def _fold_group(self, state: FoldState, group: list[Reading], bucket: int, outcome: FoldOutcome) -> None:
        values = np.stack([r.values for r in group])
        times = np.array([r.epoch_s for r in group])
        entry_ids = [r.entry_id for r in group]
        tier, tier2 = self.statistical, state.tier2
        if tier is not None and tier2 is not None and (tier2.newest is None or bucket > tier2.newest):
            # A new bucket: its boundary is the same for everyone however the batches fell.
            tier.rebase(tier2, bucket, self._in_alarm(state))
            await self._train_if_due(tier, tier2, bucket, entry_ids[0], outcome)
        started = time.perf_counter()
        observations: list[KindObservations] = self.observer.limits(values)
        started = outcome.took("heuristic", started)
        scores = None
        if tier is not None and tier2 is not None:
            scores = tier.score(tier2, values, times, bucket)
            observations += self.observer.statistical(scores, tier)
            started = outcome.took("statistical", started)
        decided = state.book.apply(entry_ids, times, observations)
        started = outcome.took("alarms", started)
        for key in decided.changed:
            outcome.alarms[key] = state.book.alarms.get(key)
        outcome.events.extend(decided.events)
        if tier is not None and tier2 is not None and scores is not None:
            added = self._learn(tier, tier2, scores, bucket, observations, decided)
            outcome.buckets.add(bucket)
            if added is not None:
                known = outcome.rows.get(bucket)
                outcome.rows[bucket] = added if known is None else np.concatenate([known, added])
        started = time.perf_counter()
        outcome.results.extend(self.results.build(group, values, scores, decided, state.book))
        outcome.took("results", started)

    async def _train_if_due(
        self, tier: StatisticalTier, tier2: Tier2State, bucket: int, first_entry: str, outcome: FoldOutcome
    ) -> None:
        """Retrain as a new bucket starts, on the rows of the buckets before it: a point of the fold
        that does not depend on how the stream was cut into batches or shared among workers."""
        stream_time = float(bucket * tier.settings.bucket_s)
        if not tier.training_due(tier2, stream_time):
            return
        model = await asyncio.to_thread(tier.train, tier2, first_entry)
        if model is not None:
            pca = await asyncio.to_thread(tier.train_pca, tier2, first_entry)
            tier.adopt(tier2, model, stream_time, pca)
            outcome.models.append(model)
            if pca is not None:
                outcome.pca[model.version] = pca
            log.info(
                "trained IsolationForest %s on %d rows; PCA monitor %s",
                model.version,
                model.n_samples,
                f"with {pca.monitor.n_components} components" if pca is not None else "not trained",
            )

    def _in_alarm(self, state: FoldState) -> np.ndarray:
        """Sensors with a standing alarm of a protecting kind."""
        in_alarm = np.zeros(len(self.index), dtype=bool)
        for alarm in state.book.alarms.values():
            if alarm.kind in PROTECTING and alarm.phase in (Phase.ACTIVE, Phase.PENDING_OFF):
                for sensor in alarm.sensors:
                    slot = self.index.position.get(sensor)
                    if slot is not None:
                        in_alarm[slot] = True
        return in_alarm

    def _learn(
        self,
        tier: StatisticalTier,
        tier2: Tier2State,
        scores: Tier2Scores,
        bucket: int,
        observations: list[KindObservations],
        decided: BatchAlarms,
    ) -> np.ndarray | None:
        """Learn the group into tier 2's window; returns the training rows it added, if any.

        A sensor is kept out of the window at a reading when an alarm of a protecting kind stands
        on it right after that reading (once its window is mature, ``StatisticalTier.mature``), or
        when the reading is a measured fault (beyond a limit,
        outside the instrument's range) even before its alarm's on-delay is met.
        """
        position = self.index.position
        protected = np.zeros(scores.values.shape, dtype=bool)
        for row, active in enumerate(decided.active_after):
            for kind, sensor in active:
                slot = position.get(sensor)
                if slot is not None and kind in PROTECTING:
                    protected[row, slot] = True
        protected &= tier.mature(tier2, bucket)[None, :]  # a young window learns everything (see mature)
        for observed in observations:
            if observed.kind in _MEASURED:
                protected |= observed.level == Level.ALARM
        protected &= ~tier.relearning(tier2, bucket)[None, :]  # an accepted new operating point fills first
        keep_rows = np.array([not counted for counted in decided.counted], dtype=bool)
        before = len(tier2.rows.get(bucket, ()))
        tier.learn(tier2, scores, bucket, protected=protected, keep_rows=keep_rows)
        rows = tier2.rows.get(bucket)
        return rows[before:] if rows is not None and len(rows) > before else None
