"""Dead-letter records and writes for the Function app, in the analyzer's one format.

The function app ships without the ``analyzer`` package (``requirements.txt``, ``.funcignore``), so
the pure part, ``truncate_utf8`` and ``dead_letter_record``, is a VERBATIM copy of
``analyzer/runtime/dead_letter.py``: tests/functions/test_dead_letter_format.py compares the two
functions' code and their records for generated entries. Change both or neither. See that module
for the format and the bounds (``DEAD_LETTER_MAXLEN`` records and ``DEAD_LETTER_MAX_BYTES``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024
DEFAULT_MAXLEN = 2_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
IDS_RETENTION_MS = 48 * 3600 * 1000


def limits(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """``(max payload bytes, max records)`` from the same settings the analyzer reads; the records
    are bounded by ``DEAD_LETTER_MAXLEN`` and by ``DEAD_LETTER_MAX_BYTES``."""
    payload = int(env.get("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES))
    maxlen = int(env.get("DEAD_LETTER_MAXLEN", DEFAULT_MAXLEN))
    max_bytes = int(env.get("DEAD_LETTER_MAX_BYTES", DEFAULT_MAX_BYTES))
    if payload <= 0 or maxlen <= 0 or max_bytes <= 0:
        raise ValueError("DEAD_LETTER_MAX_PAYLOAD_BYTES, DEAD_LETTER_MAXLEN and DEAD_LETTER_MAX_BYTES must be positive")
    return payload, bounded_maxlen(maxlen, payload, max_bytes)


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


def write_dead_letters(
    client: Any,
    dead_letter_key: str,
    entries: Sequence[tuple[str, str, Mapping[str, str]]],
    *,
    source: str = "function",
    final: bool = True,
    env: Mapping[str, str] = os.environ,
) -> list[dict[str, str]]:
    """Write the records like the analyzer's ``dead_letter`` (one pipeline: XADD with exact MAXLEN,
    the id into ``{dead}:ids``, old ids trimmed); returns the records written.

    ``final=False`` records the failure without adding the id to ``{dead}:ids``: the sweep skips the
    ids there, and an entry the forwarder could not deliver (analyzer down, timeouts) must still be
    analysed by the sweep, or the at-most-once trigger would lose it for good.
    """
    max_payload_bytes, maxlen = limits(env)
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    ids = f"{dead_letter_key}:ids"
    records = []
    pipe = client.pipeline(transaction=False)
    for entry_id, reason, fields in entries:
        record = dead_letter_record(
            entry_id, reason, fields, source=source, now=now, max_payload_bytes=max_payload_bytes
        )
        records.append(record)
        pipe.xadd(dead_letter_key, record, maxlen=maxlen, approximate=False)
        if entry_id and final:
            pipe.zadd(ids, {entry_id: now_ms})
    pipe.zremrangebyscore(ids, "-inf", now_ms - IDS_RETENTION_MS)
    pipe.execute()
    return records
