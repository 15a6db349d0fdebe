"""Landing against a real Redis: one entry per payload, the latest hash, 24 h trimming by entry
time, refusals that land nothing, and ``sensor-analyzer ingest`` on NDJSON from stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.reading import PayloadError
from analyzer.runtime.landing import Lander
from analyzer.settings import Settings
from schemas.payload import wire_timestamp
from tests.utils.payloads import normal_payload, plant_index

INDEX = plant_index()
CORE = INDEX.core_names
DAY_MS = 24 * 3600 * 1000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lander(redis_client: Redis, settings: Settings) -> Lander:
    return Lander(redis_client, RedisKeys(settings.stream_key), INDEX, settings)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_payload_lands_as_one_entry_and_updates_the_latest_hash(
    lander: Lander, redis_client: Redis, stream_key: str
) -> None:
    moment = datetime.now(UTC) - timedelta(seconds=5)
    payload = normal_payload(INDEX, moment, **{"TI-101": 123.5, "XX-UNKNOWN": 7.0})
    [entry_id] = await lander.land_documents([payload])

    entries = await redis_client.xrange(stream_key)
    assert [i for i, _ in entries] == [entry_id]
    fields = entries[0][1]
    assert list(fields) == ["payload"]
    landed = orjson.loads(fields["payload"])
    assert landed["timestamp"] == wire_timestamp(moment)
    assert landed["TI-101"] == 123.5 and landed["XX-UNKNOWN"] == 7.0
    assert len(landed) == len(payload)

    latest = await redis_client.hgetall(f"{stream_key}:latest")
    assert len(latest) == len(INDEX.names) + 1  # every catalogued sensor and the unknown one
    ti = orjson.loads(latest["TI-101"])
    assert ti == {"value": 123.5, "timestamp": wire_timestamp(moment), "entry_id": entry_id}

    # A second payload moves every sensor it carries to the new entry.
    later = moment + timedelta(seconds=1)
    [second] = await lander.land_documents([normal_payload(INDEX, later, **{"TI-101": 99.0})])
    latest = await redis_client.hgetall(f"{stream_key}:latest")
    assert orjson.loads(latest["TI-101"]) == {"value": 99.0, "timestamp": wire_timestamp(later), "entry_id": second}
    assert orjson.loads(latest["XX-UNKNOWN"])["entry_id"] == entry_id  # absent from the second payload
    assert await redis_client.xlen(stream_key) == 2


async def test_landing_trims_by_entry_time_not_by_count(lander: Lander, redis_client: Redis, stream_key: str) -> None:
    base = now_ms()
    old_ids = [f"{base - DAY_MS - 3600_000 + n}-0" for n in range(5)]  # 25 h old
    edge_id = f"{base - DAY_MS + 120_000}-0"  # 23 h 58 min old: inside the window
    for entry_id in [*old_ids, edge_id]:
        await redis_client.xadd(stream_key, {"payload": "{}"}, id=entry_id)
    # Many recent entries: a count-based trim would drop some of them.
    recent_base = base - 3600_000
    async with redis_client.pipeline(transaction=False) as pipe:
        for n in range(3000):
            pipe.xadd(stream_key, {"payload": "{}"}, id=f"{recent_base + n}-0")
        await pipe.execute()
    assert await redis_client.xlen(stream_key) == 3006

    [landed] = await lander.land_documents([normal_payload(INDEX)])

    ids = [i for i, _ in await redis_client.xrange(stream_key)]
    assert not set(old_ids) & set(ids)
    assert ids[0] == edge_id
    assert len(ids) == 1 + 3000 + 1
    assert ids[-1] == landed


def _core_missing() -> dict[str, Any]:
    payload = normal_payload(INDEX)
    del payload[CORE[0]], payload[CORE[3]]
    return payload


def _oversize() -> dict[str, Any]:
    # 200 extra sensors with 400-character names: about 80 KiB, well under the 1000-sensor limit.
    return normal_payload(INDEX) | {f"{n:03d}-{'x' * 396}": 1.0 for n in range(200)}


REFUSALS: list[tuple[str, Any, list[str]]] = [
    ("not an object", [1, 2, 3], ["must be a JSON object", "list"]),
    ("string", "hello", ["must be a JSON object", "str"]),
    ("missing core", _core_missing(), ["missing core sensors", CORE[0], CORE[3]]),
    ("no timestamp", {k: v for k, v in normal_payload(INDEX).items() if k != "timestamp"}, ["no 'timestamp'"]),
    ("non-numeric", normal_payload(INDEX, **{"TI-101": "hot", "PI-102": None}), ["non-numeric", "PI-102", "TI-101"]),
    ("boolean", normal_payload(INDEX, **{"TI-102": True}), ["non-numeric", "TI-102"]),
    ("nan", normal_payload(INDEX, **{"TI-101": float("nan")}), ["non-finite", "TI-101"]),
    ("infinity", normal_payload(INDEX, **{"FI-101": float("inf"), "FI-102": float("-inf")}), ["non-finite", "FI-101"]),
    # built when the module is collected: far enough ahead to stay past the 5 min skew however long the suite runs
    ("future", normal_payload(INDEX, datetime.now(UTC) + timedelta(hours=2)), ["in the future"]),
    ("too old", normal_payload(INDEX, datetime.now(UTC) - timedelta(hours=24, minutes=1)), ["older than the 24 h"]),
    ("naive time", normal_payload(INDEX) | {"timestamp": "2026-01-01T00:00:00"}, ["no time zone"]),
    ("oversize", _oversize(), ["bytes; the limit is 65536 bytes"]),
]


@pytest.mark.parametrize(("case", "document", "words"), REFUSALS, ids=[c for c, _, _ in REFUSALS])
async def test_bad_payloads_are_refused_with_a_clear_message_and_nothing_lands(
    lander: Lander, redis_client: Redis, stream_key: str, case: str, document: Any, words: list[str]
) -> None:
    with pytest.raises(PayloadError) as caught:
        await lander.land_documents([document])
    for word in words:
        assert word in str(caught.value), f"{case}: {word!r} not in {caught.value!r}"
    assert await redis_client.exists(stream_key, f"{stream_key}:latest") == 0


async def test_five_minutes_of_clock_skew_are_accepted(lander: Lander, redis_client: Redis, stream_key: str) -> None:
    await lander.land_documents([normal_payload(INDEX, datetime.now(UTC) + timedelta(minutes=4))])
    await lander.land_documents([normal_payload(INDEX, datetime.now(UTC) - timedelta(hours=23, minutes=59))])
    assert await redis_client.xlen(stream_key) == 2


async def test_invalid_json_text_is_refused(lander: Lander) -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        lander.validate_json(b'{"timestamp": ')
    with pytest.raises(PayloadError, match="must be a JSON object, got int"):
        lander.validate_json(b"42")


async def test_a_batch_with_one_bad_payload_lands_nothing(lander: Lander, redis_client: Redis, stream_key: str) -> None:
    documents = [normal_payload(INDEX) for _ in range(4)]
    documents.insert(2, normal_payload(INDEX, **{"TI-101": float("nan")}))
    with pytest.raises(PayloadError, match=r"^payload 2: non-finite values for: TI-101$"):
        await lander.land_documents(documents)
    assert await redis_client.exists(stream_key, f"{stream_key}:latest") == 0
    # The same batch without it lands whole, in order.
    del documents[2]
    ids = await lander.land_documents(documents)
    assert [i for i, _ in await redis_client.xrange(stream_key)] == ids and len(ids) == 4


def _run_ingest(settings: Settings, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REDIS_CONNECTION_STRING": settings.redis_url,
        "STREAM_KEY": settings.stream_key,
        "SQLITE_PATH": str(settings.sqlite_path),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "sensor-analyzer"), "ingest", *args],
        input=stdin,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_ingest_lands_good_lines_and_reports_bad_ones_by_line_number(
    settings: Settings, redis_client: Redis, stream_key: str
) -> None:
    good = [normal_payload(INDEX, datetime.now(UTC) - timedelta(seconds=30 - n)) for n in range(3)]
    lines = [
        json.dumps(good[0]),
        "",  # blank lines are skipped but counted
        json.dumps(good[1]),
        '{"timestamp": ',  # line 4: not JSON
        json.dumps({k: v for k, v in good[2].items() if k != "TI-101"}),  # line 5: core sensor missing
        json.dumps(good[2]),
    ]
    done = _run_ingest(settings, "\n".join(lines) + "\n")
    assert done.returncode == 1, done.stderr
    assert "stdin:4: rejected: not valid JSON" in done.stderr
    assert "stdin:5: rejected: missing core sensors: TI-101" in done.stderr
    assert "stdin:1" not in done.stderr and "stdin:3" not in done.stderr and "stdin:6" not in done.stderr
    assert f"landed 3 payloads on {stream_key}; rejected 2" in done.stdout
    entries = await redis_client.xrange(stream_key)
    assert [orjson.loads(f["payload"])["timestamp"] for _, f in entries] == [g["timestamp"] for g in good]


async def test_cli_ingest_of_good_lines_exits_zero(settings: Settings, redis_client: Redis, stream_key: str) -> None:
    payloads = [normal_payload(INDEX) for _ in range(5)]
    done = _run_ingest(settings, "".join(json.dumps(p) + "\n" for p in payloads))
    assert done.returncode == 0, done.stderr
    assert f"landed 5 payloads on {stream_key}; rejected 0" in done.stdout
    assert await redis_client.xlen(stream_key) == 5
