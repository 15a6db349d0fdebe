"""The dead-letter stream ``{stream}:dead``: entries that cannot be analysed, with the reason, so
nothing is silently dropped. One record format for every writer (the analyzer's worker, API and
sweep here; the Azure Function's forwarder in ``functions/shared/dead_letters.py``, a copy of the
pure part below that a test keeps identical):

=====================  =================================================================
field                  holds
=====================  =================================================================
``entry_id``           the stream entry id (empty when the trigger's input had none)
``reason``             why, at most ``REASON_MAX_BYTES`` bytes of UTF-8
``source``             ``analyzer`` | ``function`` | ``sweep`` | ``api``
``payload``            the entry's original ``payload`` field (or, when it has none, all its
                       fields as a JSON object), cut to ``DEAD_LETTER_MAX_PAYLOAD_BYTES``
``truncated``          ``"1"``, only when the payload was cut
``original_bytes``     the payload's size in bytes before the cut, only when cut
``dead_lettered_at``   ISO 8601 UTC time, milliseconds, e.g. ``2026-11-29T10:00:00.123Z``
=====================  =================================================================

Every dead-lettered id also goes into the sorted set ``{stream}:dead:ids`` (score = time in ms), so
the sweep skips it; ids older than ``IDS_RETENTION_MS`` (twice the 24 h window) are trimmed there.

The bound, in records and in bytes: a record holds at most ``max payload + REASON_MAX_BYTES + 256``
bytes, and the stream is trimmed to exactly ``bounded_maxlen(...)`` records (XADD MAXLEN, not ``~``):
``DEAD_LETTER_MAXLEN`` (2,000) or fewer, so that full-size records fit in ``DEAD_LETTER_MAX_BYTES``
(32 MiB; with the 16 KiB payload cut that is 1,820 records), whatever is thrown at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis

from analyzer.keys import RedisKeys

SOURCES = ("analyzer", "function", "sweep", "api")
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024
DEFAULT_MAXLEN = 2_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
REASON_MAX_BYTES = 2048
IDS_RETENTION_MS = 48 * 3600 * 1000


class DeadLetterSettings(BaseSettings):
    """``DEAD_LETTER_MAX_PAYLOAD_BYTES``, ``DEAD_LETTER_MAXLEN`` and ``DEAD_LETTER_MAX_BYTES`` (the
    Function reads the same)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    dead_letter_max_payload_bytes: int = Field(DEFAULT_MAX_PAYLOAD_BYTES, gt=0)
    dead_letter_maxlen: int = Field(DEFAULT_MAXLEN, gt=0)
    dead_letter_max_bytes: int = Field(DEFAULT_MAX_BYTES, gt=0)


@lru_cache
def dead_letter_settings() -> DeadLetterSettings:
    return DeadLetterSettings()


# --- The record (pure; copied verbatim into functions/shared/dead_letters.py) -------------------


def truncate_utf8(text: str, max_bytes: int) -> tuple[str, int, bool]:
    """``(text cut to at most max_bytes of UTF-8 on a character boundary, original bytes, cut?)``.

    >>> truncate_utf8("héllo", 3)
    ('h\u00e9', 6, True)
    >>> truncate_utf8("ok", 16)
    ('ok', 2, False)
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text, len(encoded), False
    return encoded[:max_bytes].decode("utf-8", errors="ignore"), len(encoded), True


def dead_letter_record(
    entry_id: str, reason: str, fields: Mapping[str, str], *, source: str, now: datetime, max_payload_bytes: int
) -> dict[str, str]:
    """The dead-letter record of one entry (``fields`` = the entry's original stream fields).

    >>> from datetime import datetime, timezone
    >>> at = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=timezone.utc)
    >>> dead_letter_record("1-0", "bad", {"payload": "x" * 5}, source="sweep", now=at, max_payload_bytes=3)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'entry_id': '1-0', 'reason': 'bad', 'source': 'sweep', 'payload': 'xxx',
     'dead_lettered_at': '2026-11-29T10:00:00.123Z', 'truncated': '1', 'original_bytes': '5'}
    """
    if source not in ("analyzer", "function", "sweep", "api"):
        raise ValueError(f"dead-letter source must be analyzer, function, sweep or api, not {source!r}")
    if "payload" in fields:
        original = fields["payload"]
    else:
        original = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    payload, original_bytes, cut = truncate_utf8(original, max_payload_bytes)
    record = {
        "entry_id": entry_id,
        "reason": truncate_utf8(reason, 2048)[0],
        "source": source,
        "payload": payload,
        "dead_lettered_at": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if cut:
        record["truncated"] = "1"
        record["original_bytes"] = str(original_bytes)
    return record


def bounded_maxlen(maxlen: int, max_payload_bytes: int, max_bytes: int) -> int:
    """Records kept: at most ``maxlen``, and few enough that full-size records fit in ``max_bytes``.

    A record holds at most the payload cut, the reason (2 KiB) and ~256 bytes of other fields and
    overhead, so the stream's size stays under ``max_bytes`` whatever is thrown at it.

    >>> bounded_maxlen(2000, 16 * 1024, 32 * 1024 * 1024)
    1795
    >>> bounded_maxlen(10, 1024, 10**9)
    10
    """
    per_record = max_payload_bytes + 2048 + 256
    return max(1, min(maxlen, max_bytes // per_record))


# --- Writing ------------------------------------------------------------------------------------


async def dead_letter(
    redis: Redis,
    keys: RedisKeys,
    entries: Sequence[tuple[str, str, Mapping[str, str]]],
    *,
    source: str = "analyzer",
    max_payload_bytes: int | None = None,
    maxlen: int | None = None,
) -> None:
    """Record ``(entry_id, reason, original fields)`` triples in one round trip."""
    if not entries:
        return
    settings = dead_letter_settings()
    limit = max_payload_bytes or settings.dead_letter_max_payload_bytes
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    ids = keys.dead_ids
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id, reason, fields in entries:
            record = dead_letter_record(entry_id, reason, fields, source=source, now=now, max_payload_bytes=limit)
            # redis-py types the fields as an invariant dict of its widest value union.
            pipe.xadd(
                keys.dead_letter,
                cast(dict[Any, Any], record),
                maxlen=bounded_maxlen(maxlen or settings.dead_letter_maxlen, limit, settings.dead_letter_max_bytes),
                approximate=False,
            )
            if entry_id:
                pipe.zadd(ids, {entry_id: now_ms})
        pipe.zremrangebyscore(ids, "-inf", now_ms - IDS_RETENTION_MS)
        await pipe.execute()


async def dead_lettered_ids(redis: Redis, keys: RedisKeys, entry_ids: Sequence[str]) -> set[str]:
    if not entry_ids:
        return set()
    scores = await redis.zmscore(keys.dead_ids, list(entry_ids))
    return {entry_id for entry_id, score in zip(entry_ids, scores, strict=True) if score is not None}
