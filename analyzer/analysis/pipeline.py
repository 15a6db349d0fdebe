"""The analysis pipeline, shared by the stream worker and ``POST /api/v1/analyze``.

validate -> tier 1 heuristic -> tier 2 statistical (when configured) -> decide -> episodes -> store.

Order matters for delivery: episodes are written before the results, and the caller acknowledges
an entry only after :meth:`Pipeline.analyze` returned (the results are durable). A replay after a
crash overwrites the result (its id is the entry id) and is not counted twice into an episode.
Tier 3 does not run here: opened and escalated episodes are announced on a stream and explained
off the acknowledgement path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from analyzer.alarms.episodes import EpisodeTracker
from analyzer.analysis.decision import Assessment, decide
from analyzer.catalog.index import SensorIndex
from analyzer.keys import PAYLOAD_FIELD
from analyzer.reading import PayloadError, Reading, decode_json, to_reading
from analyzer.store.protocol import Store
from analyzer.tiers.heuristic import HeuristicOutcome, HeuristicTier
from schemas.results import AnalysisResult, day_bucket

if TYPE_CHECKING:
    from analyzer.tiers.statistical import StatisticalOutcome, StatisticalTier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An entry that cannot be analysed, with the reason, for the dead-letter stream."""

    entry_id: str
    reason: str
    fields: Mapping[str, str]


@dataclass
class BatchOutcome:
    results: list[AnalysisResult] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse_entry(entry_id: str, fields: Mapping[str, str], index: SensorIndex, *, max_bytes: int) -> Reading:
    """A stream entry (``{"payload": "<json>"}``) as a :class:`Reading`; :class:`PayloadError` if malformed."""
    document = fields.get(PAYLOAD_FIELD)
    if document is None:
        present = ", ".join(sorted(fields)) or "none"
        raise PayloadError(f"stream entry has no '{PAYLOAD_FIELD}' field (fields: {present})")
    return to_reading(decode_json(document, max_bytes=max_bytes), entry_id, index)


class Pipeline:
    """Analyses micro-batches of readings and stores the outcome."""

    def __init__(
        self,
        index: SensorIndex,
        store: Store,
        episodes: EpisodeTracker,
        statistical: StatisticalTier | None = None,
        *,
        max_payload_bytes: int = 64 * 1024,
    ) -> None:
        self.index = index
        self.store = store
        self.episodes = episodes
        self.heuristic = HeuristicTier(index)
        self.statistical = statistical
        self.max_payload_bytes = max_payload_bytes

    async def analyze_entries(self, entries: Sequence[tuple[str, Mapping[str, str]]]) -> BatchOutcome:
        """Parse stream entries, analyse the valid ones and return the malformed ones with reasons."""
        outcome = BatchOutcome()
        readings: list[Reading] = []
        for entry_id, fields in entries:
            try:
                readings.append(parse_entry(entry_id, fields, self.index, max_bytes=self.max_payload_bytes))
            except PayloadError as error:
                outcome.rejected.append(Rejected(entry_id, str(error), dict(fields)))
        outcome.results = await self.analyze(readings)
        return outcome

    async def analyze_document(self, entry_id: str, document: dict[str, Any]) -> AnalysisResult:
        """One payload object (the HTTP route); raises :class:`PayloadError` when it is malformed.

        An entry that already has a result gets that result back: tier 2 keeps state, so scoring an
        old reading again after newer ones could change a stored verdict (the trigger may deliver an
        entry the sweep already analysed).
        """
        reading = to_reading(document, entry_id, self.index)
        stored = await self.store.get_result(entry_id)
        if stored is not None:
            return stored
        [result] = await self.analyze([reading])
        return result

    async def analyze(self, readings: Sequence[Reading]) -> list[AnalysisResult]:
        if not readings:
            return []
        readings = sorted(readings, key=lambda r: r.timestamp)
        heuristic = self.heuristic.evaluate(readings)
        statistical: Sequence[StatisticalOutcome | None]
        if self.statistical is not None:
            statistical = await self.statistical.score(readings)
        else:
            statistical = [None] * len(readings)
        assessments = [decide(r, h, self.index, s) for r, h, s in zip(readings, heuristic, statistical, strict=True)]
        if self.statistical is not None:
            await self.statistical.learn(readings, assessments)
        episode_ids = await self.episodes.apply(assessments)
        results = [
            build_result(a, h, s, ids)
            for a, h, s, ids in zip(assessments, heuristic, statistical, episode_ids, strict=True)
        ]
        await self.store.put_results(results)
        return results


def build_result(
    assessment: Assessment,
    heuristic: HeuristicOutcome,
    statistical: StatisticalOutcome | None,
    episode_ids: list[str],
) -> AnalysisResult:
    reading = assessment.reading
    return AnalysisResult.model_construct(
        id=reading.entry_id,
        source_entry_id=reading.entry_id,
        timestamp=reading.timestamp,
        day=day_bucket(reading.timestamp),
        raw_data=reading.raw,
        unknown_sensors=list(reading.unknown),
        heuristic=heuristic.block,
        statistical=statistical.statistical if statistical else None,
        ml=statistical.ml if statistical else None,
        final_status=assessment.final_status,
        severity_level=assessment.severity,
        overall_confidence=assessment.confidence,
        anomalous_sensors=list(assessment.anomalous_sensors),
        episode_ids=episode_ids,
        analyzed_at=datetime.now(UTC),
    )


def result_json(result: AnalysisResult) -> bytes:
    return orjson.dumps(result.model_dump(mode="json"))
