"""Anomaly episodes: one open anomaly per condition, not one row per reading.

For each micro-batch the tracker folds the readings, in time order, into the episode of every
condition they touch and writes each touched episode once:

* an anomalous condition with no open episode opens one (``{condition_key}@{first_entry_id}``);
* further anomalous readings update it: last seen, count, peak value and deviation, current and
  peak severity;
* a reading that evaluates the condition as normal marks the episode ``cleared`` (it stays open
  until an operator resolves it); if the condition comes back before that, the same episode
  becomes active again and counts a recurrence. That keeps a chattering sensor to one anomaly;
* after an operator resolved it, the next occurrence opens a new episode.

Which condition has an open episode is kept in Redis (``{stream}:episodes:open``); ``HSETNX`` on it
decides which replica opens an episode when two see a new condition at once. Updates use the
store's etags and are re-applied on a conflict, so concurrent replicas never lose a count. A
replayed entry is not counted twice: each episode remembers the entry ids it counted recently.
Opened and escalated episodes are announced on ``{stream}:episode-events`` for tier 3, which runs
off the acknowledgement path.

``recent_entry_ids`` alone is not enough: a consumer that dies after the episode write and before
its results are stored leaves its entries pending, and they are claimed only after
``claim_idle``, by when other consumers may have counted far more than 64 readings of the same
condition (a backlog). So the ids each episode counted are also kept in Redis, in the sorted set
``{stream}:episodes:counted:{episode_id}`` (score = entry time in ms), added to after every
successful episode write and trimmed to the window: an entry older than the window has left the
stream and cannot come back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from analyzer.analysis.decision import Assessment, Condition
from analyzer.keys import RedisKeys, entry_order
from analyzer.store.protocol import AlreadyExistsError, ConflictError, NotFoundError, Store, Versioned
from schemas.anomalies import Episode

log = logging.getLogger(__name__)

RECENT_ENTRY_IDS = 64
MAX_CONFLICT_RETRIES = 8
EVENTS_MAXLEN = 10_000
DEFAULT_WINDOW_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """An episode that tier 3 should explain: it opened, or its severity rose above its peak."""

    episode_id: str
    kind: str
    severity: str


def _open_episode(condition: Condition, assessment: Assessment, episode_id: str | None = None) -> Episode:
    reading = assessment.reading
    return Episode(
        id=episode_id or f"{condition.key}@{reading.entry_id}",
        condition_key=condition.key,
        tier=condition.tier,
        sensors=list(condition.sensors),
        alarm_type=condition.alarm_type,
        severity_level=condition.severity,
        peak_severity=condition.severity,
        opened_at=reading.timestamp,
        last_seen=reading.timestamp,
        first_entry_id=reading.entry_id,
        last_entry_id=reading.entry_id,
        count=1,
        last_value=condition.value,
        peak_value=condition.value,
        peak_deviation=condition.deviation,
        description=condition.description,
        recent_entry_ids=[reading.entry_id],
    )


def _entry_ms(entry_id: str) -> int:
    try:
        return entry_order(entry_id)[0]
    except ValueError:  # not a stream id (a test or a hand-made call): treat it as new
        return int(time.time() * 1000)


def fold_anomalous(
    episode: Episode, condition: Condition, assessment: Assessment, counted: frozenset[str] = frozenset()
) -> bool:
    """Count one more anomalous reading into ``episode``; False if this entry was already counted
    (it is among the episode's recent entry ids or in ``counted``)."""
    reading = assessment.reading
    if reading.entry_id in episode.recent_entry_ids or reading.entry_id in counted:
        return False
    episode.count += 1
    episode.recent_entry_ids = [*episode.recent_entry_ids, reading.entry_id][-RECENT_ENTRY_IDS:]
    if reading.timestamp < episode.opened_at:
        # Analysed after a later reading opened the episode (another consumer's batch finished first).
        episode.opened_at = reading.timestamp
    if reading.timestamp >= episode.last_seen:
        episode.last_seen = reading.timestamp
        episode.last_value = condition.value
        episode.alarm_type = condition.alarm_type
        episode.severity_level = condition.severity
        episode.description = condition.description
    if entry_order(reading.entry_id) > entry_order(episode.last_entry_id):
        episode.last_entry_id = reading.entry_id
    if condition.deviation > episode.peak_deviation:
        episode.peak_deviation = condition.deviation
        episode.peak_value = condition.value
    if condition.severity.rank > episode.peak_severity.rank:
        episode.peak_severity = condition.severity
    if episode.state == "cleared" and reading.timestamp >= (episode.cleared_at or reading.timestamp):
        episode.state = "active"
        episode.cleared_at = None
        episode.recurrences += 1
    return True


def fold_normal(episode: Episode, assessment: Assessment) -> bool:
    """Mark ``episode`` cleared by a later normal reading; False if nothing changed."""
    moment = assessment.reading.timestamp
    if episode.state != "active" or moment < episode.last_seen:
        return False
    episode.state = "cleared"
    episode.cleared_at = moment
    return True


class EpisodeTracker:
    """Opens, updates and clears episodes for a micro-batch of assessments."""

    def __init__(self, store: Store, redis: Redis, keys: RedisKeys, *, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.store = store
        self.redis = redis
        self.keys = keys
        self.window_ms = int(window_s * 1000)

    def _counted_key(self, episode_id: str) -> str:
        return f"{self.keys.stream}:episodes:counted:{episode_id}"

    async def _already_counted(self, episode_id: str | None, relevant: list[tuple[int, Assessment]]) -> frozenset[str]:
        """Which of ``relevant``'s entries ``episode_id`` has counted (kept in Redis, see the module doc)."""
        ids = [a.reading.entry_id for _, a in relevant]
        if episode_id is None or not ids:
            return frozenset()
        scores = await self.redis.zmscore(self._counted_key(episode_id), ids)
        return frozenset(i for i, score in zip(ids, scores, strict=True) if score is not None)

    async def _remember_counted(self, episode_id: str, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        key = self._counted_key(episode_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {i: _entry_ms(i) for i in entry_ids})
            pipe.zremrangebyscore(key, "-inf", f"({int(time.time() * 1000) - self.window_ms}")
            pipe.pexpire(key, self.window_ms)
            await pipe.execute()

    async def apply(self, assessments: Sequence[Assessment]) -> list[list[str]]:
        """Fold the batch into episodes; returns, per assessment, the ids of the episodes it touched."""
        touched: list[list[str]] = [[] for _ in assessments]
        open_index: dict[str, str] = await self.redis.hgetall(self.keys.open_episodes)  # type: ignore[assignment]
        keys = {c.key for a in assessments for c in a.conditions} | set(open_index)
        for key in sorted(keys):
            # Normal readings matter once an episode exists: one opened earlier, or earlier in this batch.
            relevant = [
                (i, a)
                for i, a in enumerate(assessments)
                if any(c.key == key for c in a.conditions) or a.shows_normal(key)
            ]
            if all(not any(c.key == key for c in a.conditions) for _, a in relevant) and key not in open_index:
                continue
            if not relevant:
                continue
            episode_id = await self._apply_condition(key, open_index.get(key), relevant)
            if episode_id is not None:
                for i, assessment in relevant:
                    if any(c.key == key for c in assessment.conditions):
                        touched[i].append(episode_id)
        return touched

    async def _apply_condition(
        self, key: str, indexed_id: str | None, relevant: list[tuple[int, Assessment]]
    ) -> str | None:
        for _attempt in range(MAX_CONFLICT_RETRIES):
            try:
                current, claimed_id = await self._current(key, indexed_id)
                return await self._fold_and_write(key, current, relevant, claimed_id)
            except (ConflictError, AlreadyExistsError, NotFoundError) as error:
                # Changed, opened or resolved by someone else since we read it: read it again.
                log.info("episode for %s changed concurrently (%s); re-reading", key, error)
                indexed_id = await self.redis.hget(self.keys.open_episodes, key)  # type: ignore[assignment]
        raise ConflictError(f"episode for condition {key} kept changing; gave up after {MAX_CONFLICT_RETRIES} tries")

    async def _current(self, key: str, indexed_id: str | None) -> tuple[Versioned[Episode] | None, str | None]:
        """The open episode for ``key`` and, when there is none yet, the id a new one must take.

        A claim without a stored episode (its opener crashed, or is writing it right now) is
        adopted: both writers use the claimed id, and the store lets only one of them create it.
        """
        if indexed_id is None:
            return None, None
        current = await self.store.get_episode(indexed_id)
        if current is not None:
            return current, None
        if await self.store.get_resolved(indexed_id) is not None:
            # Resolved by an operator whose index clean-up did not happen: the next one is new.
            await self._forget(key, indexed_id)
            return None, None
        return None, indexed_id

    async def _fold_and_write(
        self,
        key: str,
        current: Versioned[Episode] | None,
        relevant: list[tuple[int, Assessment]],
        claimed_id: str | None,
    ) -> str | None:
        episode = current.item.model_copy(deep=True) if current else None
        counted = await self._already_counted(current.item.id if current else claimed_id, relevant)
        changed = False
        newly_counted: list[str] = []
        previous_peak = episode.peak_severity if episode else None
        for _, assessment in relevant:
            condition = next((c for c in assessment.conditions if c.key == key), None)
            if condition is None:
                changed |= episode is not None and fold_normal(episode, assessment)
            elif episode is None:
                episode, changed = _open_episode(condition, assessment, claimed_id), True
                newly_counted.append(assessment.reading.entry_id)
            elif fold_anomalous(episode, condition, assessment, counted):
                changed = True
                newly_counted.append(assessment.reading.entry_id)
        if episode is None or not changed:
            return episode.id if episode else None
        if current is None:
            await self._claim(key, episode.id)
            await self.store.create_episode(episode)
            await self._remember_counted(episode.id, newly_counted)
            await self._announce(EpisodeEvent(episode.id, "opened", episode.severity_level.value))
        else:
            await self.store.replace_episode(episode, current.etag)
            await self._remember_counted(episode.id, newly_counted)
            if previous_peak is not None and episode.peak_severity.rank > previous_peak.rank:
                await self._announce(EpisodeEvent(episode.id, "escalated", episode.severity_level.value))
        return episode.id

    async def _claim(self, key: str, episode_id: str) -> None:
        """Become the replica that opens the episode for ``key``, or fail so the caller re-reads."""
        if await self.redis.hsetnx(self.keys.open_episodes, key, episode_id):
            return
        owner: str | None = await self.redis.hget(self.keys.open_episodes, key)  # type: ignore[assignment]
        if owner != episode_id:
            raise AlreadyExistsError(f"another replica opened the episode for {key} ({owner})")

    async def _forget(self, key: str, episode_id: str) -> None:
        # Delete the index entry only if it still names this episode.
        await self.redis.eval(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end"
            " return 0",
            1,
            self.keys.open_episodes,
            key,
            episode_id,
        )

    async def forget_resolved(self, episode: Episode) -> None:
        """Called after an operator resolved ``episode``: the next occurrence opens a new one."""
        await self._forget(episode.condition_key, episode.id)

    async def _announce(self, event: EpisodeEvent) -> None:
        await self.redis.xadd(
            f"{self.keys.stream}:episode-events",
            {"episode_id": event.episode_id, "kind": event.kind, "severity": event.severity},
            maxlen=EVENTS_MAXLEN,
            approximate=True,
        )
