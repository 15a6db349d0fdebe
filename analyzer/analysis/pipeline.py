"""The analysis pipeline, shared by the stream worker, the sweep and ``POST /api/v1/analyze``.

``analyze_entries(entries)`` makes sure the stream has been folded up to the newest of ``entries``
(``fold.py``: tiers observe, alarms decide), committing each fold to the shared state in Redis
(``shared_state.py``) by compare-and-set, then *finalises* what it folded: stores the results,
dead-letters the entries that could not be analysed, writes the changed alarm records to the store
and drops the verdicts. Entries that another worker folded meanwhile are finalised from their
verdicts (idempotently: a result's id is its entry id).

Delivery: the caller acknowledges an entry only once this returned it as done (its result is
durable or it was dead-lettered). A crash anywhere leaves either the old state (the fold is
refolded) or committed verdicts that the next call, another worker or the sweep finalises.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from analyzer.alarms.projection import AlarmProjector
from analyzer.analysis.fold import Folder, FoldOutcome, FoldState, Rejected
from analyzer.analysis.shared_state import SharedFold
from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys, entry_order
from analyzer.runtime.dead_letter import dead_letter, dead_lettered_ids
from analyzer.store.protocol import Store
from analyzer.telemetry import pipeline_metrics
from schemas.alarms import TIER_OF_KIND, AlarmEventKind, AlarmKind
from schemas.results import AnalysisResult

log = logging.getLogger(__name__)

#: Entries folded per commit: bounds the script's arguments when catching up on a backlog.
FOLD_CHUNK = 512
MAX_REFUSALS = 50
_NEW = (AlarmEventKind.OPENED, AlarmEventKind.ESCALATED)

Entry = tuple[str, Mapping[str, str]]


@dataclass
class BatchOutcome:
    """Of the entries asked about: their results, the rejected ones, and those not done yet."""

    results: list[AnalysisResult] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: Stored by an earlier call and not read back (``want_results=False``).
    stored: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def analysed(self) -> list[str]:
        """Every entry with a durable result."""
        return [r.id for r in self.results] + self.stored


def _verdict(result: AnalysisResult | None = None, rejected: Rejected | None = None) -> bytes:
    if result is not None:
        return orjson.dumps({"result": result.model_dump(mode="json")})
    assert rejected is not None
    return orjson.dumps({"rejected": rejected.reason, "fields": dict(rejected.fields)})


class Pipeline:
    """Folds the stream and finalises; one per process (it keeps a mirror of the shared state)."""

    def __init__(
        self,
        store: Store,
        redis: Redis,
        keys: RedisKeys,
        shared: SharedFold,
        projector: AlarmProjector,
    ) -> None:
        self.store = store
        self.redis = redis
        self.keys = keys
        self.shared = shared
        self.projector = projector
        self.state: FoldState | None = None

    @property
    def folder(self) -> Folder:
        """The folder of the catalogue as it stands (accepted learned limits included)."""
        return self.shared.folder

    @property
    def index(self) -> SensorIndex:
        return self.shared.folder.index

    @property
    def base_index(self) -> SensorIndex:
        """The catalogue's own limits, without accepted learned ones."""
        return self.shared.base_folder.index

    @property
    def statistical(self) -> Any:
        return self.folder.statistical

    async def refresh(self) -> FoldState:
        self.state = await self.shared.load(self.state)
        return self.state

    async def analyze_entries(self, entries: Sequence[Entry], *, want_results: bool = True) -> BatchOutcome:
        """Analyse ``entries`` (any order); returns their results and rejections.

        Entries analysed before (a redelivery) are returned as they were stored; with
        ``want_results=False`` (the worker only acknowledges) their stored documents are not read
        back: they are listed in ``stored``.
        """
        if not entries:
            return BatchOutcome()
        wanted = dict(entries)
        newest = max(wanted, key=entry_order)
        found: dict[str, AnalysisResult | Rejected | str] = {}
        await self._fold_through(newest, wanted, found)
        missing = [i for i in wanted if i not in found]
        if missing:
            found.update(await self._finalise_from_verdicts(missing, want_results=want_results))
        outcome = BatchOutcome()
        for entry_id in sorted(wanted, key=entry_order):
            item = found.get(entry_id)
            if isinstance(item, AnalysisResult):
                outcome.results.append(item)
            elif isinstance(item, Rejected):
                outcome.rejected.append(item)
            elif item is not None:
                outcome.stored.append(entry_id)
            else:
                outcome.pending.append(entry_id)
        return outcome

    async def _fold_through(self, newest: str, wanted: Mapping[str, Mapping[str, str]], found: dict[str, Any]) -> None:
        state = self.state or await self.refresh()
        refusals = 0
        while state.cursor is None or entry_order(state.cursor) < entry_order(newest):
            chunk = await self._next_entries(state.cursor, newest, wanted)
            if not chunk:
                break
            outcome = await self.folder.fold(state, chunk)
            verdicts = {r.id: _verdict(result=r) for r in outcome.results}
            verdicts.update({r.entry_id: _verdict(rejected=r) for r in outcome.rejected})
            refused = await self.shared.commit(state, outcome, verdicts)
            if refused is not None:
                refusals += 1
                if refusals > MAX_REFUSALS:
                    raise RuntimeError(f"the shared fold state kept moving ({refusals} refusals); try again")
                log.debug(
                    "fold from %s refused (now at %s, epoch %d); re-reading",
                    state.cursor,
                    refused.cursor,
                    refused.epoch,
                )
                state = await self.refresh()
                continue
            state = self.state = outcome.state
            await self._finalise(outcome)
            for result in outcome.results:
                if result.id in wanted:
                    found[result.id] = result
            for rejected in outcome.rejected:
                if rejected.entry_id in wanted:
                    found[rejected.entry_id] = rejected

    async def _next_entries(
        self, cursor: str | None, newest: str, wanted: Mapping[str, Mapping[str, str]]
    ) -> list[Entry]:
        """The stream's entries after ``cursor`` up to ``newest`` (at most a chunk); ``wanted`` entries
        that the stream no longer holds (trimmed meanwhile) are folded from what the caller has."""
        start = f"({cursor}" if cursor else "-"
        reply = cast(
            list[tuple[Any, dict[Any, Any]]],
            await self.redis.xrange(self.keys.stream, min=start, max=newest, count=FOLD_CHUNK),
        )
        chunk: list[Entry] = [(_text(i), {_text(k): _text(v) for k, v in f.items()}) for i, f in reply]
        if len(chunk) < FOLD_CHUNK:
            have = {i for i, _ in chunk}
            after = entry_order(cursor) if cursor else (-1, -1)
            chunk += [(i, f) for i, f in wanted.items() if i not in have and entry_order(i) > after]
        return sorted(chunk, key=lambda e: entry_order(e[0]))

    async def _finalise(self, outcome: FoldOutcome) -> None:
        """Make a committed fold durable: results, dead letters, alarm records; then drop the verdicts."""
        metrics = pipeline_metrics()
        for stage, seconds in outcome.timings.items():
            metrics.record_tier_latency(stage, seconds / max(len(outcome.results), 1))
        with metrics.time_tier("store"):
            await self.store.put_results(outcome.results)
        metrics.entries_analysed(len(outcome.results))
        metrics.entries_dead_lettered(len(outcome.rejected))
        opened = Counter(
            TIER_OF_KIND[AlarmKind(e.alarm_key.split(":", 1)[0])] for e in outcome.events if e.kind in _NEW
        )
        for tier, count in opened.items():
            metrics.anomalies_opened(count, tier=tier)
        if outcome.rejected:
            await self._dead_letter(outcome.rejected)
        records = [a.record for a in outcome.alarms.values() if a is not None and a.record is not None]
        await self.projector.project_changed(sorted(outcome.alarms), records)
        await self.shared.drop_verdicts([r.id for r in outcome.results] + [r.entry_id for r in outcome.rejected])

    async def _dead_letter(self, rejected: Sequence[Rejected]) -> None:
        already = await dead_lettered_ids(self.redis, self.keys, [r.entry_id for r in rejected])
        fresh = [r for r in rejected if r.entry_id not in already]
        if fresh:
            await dead_letter(self.redis, self.keys, [(r.entry_id, r.reason, r.fields) for r in fresh])
            for r in fresh:
                log.warning("dead-lettered entry %s: %s", r.entry_id, r.reason)

    async def _finalise_from_verdicts(
        self, entry_ids: Sequence[str], *, want_results: bool
    ) -> dict[str, AnalysisResult | Rejected | str]:
        """Entries another worker folded: finalise them from their verdicts, or find them done
        (a stored result, its id when not read back, or a dead letter)."""
        found: dict[str, AnalysisResult | Rejected | str] = {}
        verdicts = await self.shared.verdicts(entry_ids)
        results, rejected = [], []
        for entry_id, raw in verdicts.items():
            verdict = orjson.loads(raw)
            if "result" in verdict:
                results.append(AnalysisResult.model_validate(verdict["result"]))
            else:
                rejected.append(Rejected(entry_id, verdict["rejected"], verdict.get("fields", {})))
        if results:
            await self.store.put_results(results)
        if rejected:
            await self._dead_letter(rejected)
        await self.shared.drop_verdicts(list(verdicts))
        found.update({r.id: r for r in results})
        found.update({r.entry_id: r for r in rejected})
        rest = [i for i in entry_ids if i not in found]
        if rest:
            stored = await self.store.existing_result_ids(rest)
            for entry_id in stored:
                result = await self.store.get_result(entry_id) if want_results else None
                found[entry_id] = result if result is not None else entry_id
            dead = await dead_lettered_ids(self.redis, self.keys, [i for i in rest if i not in stored])
            found.update({i: Rejected(i, "dead-lettered earlier", {}, earlier=True) for i in dead})
        return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
