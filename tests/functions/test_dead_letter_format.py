"""Both dead-letter writers produce identical records: the analyzer's (analyzer/runtime/dead_letter.py)
and the Function's copy (functions/shared/dead_letters.py), which ships without the analyzer package.

Three ways: the two pure functions are the same code (their syntax trees compare equal), they give
equal records for generated entries (hypothesis), and the two writers leave the same records and ids
in a real Redis.
"""

from __future__ import annotations

import ast
import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis as AsyncRedis

from analyzer.keys import RedisKeys
from analyzer.runtime import dead_letter as analyzer_dead_letter
from functions.shared import dead_letters as function_dead_letters

REPO_ROOT = Path(__file__).resolve().parents[2]


def _function_tree(module: object, name: str) -> str:
    source = inspect.getsource(getattr(module, name))
    return ast.dump(ast.parse(source))


@pytest.mark.parametrize("name", ["truncate_utf8", "dead_letter_record", "bounded_maxlen"])
def test_the_function_copy_is_the_same_code(name: str) -> None:
    assert _function_tree(analyzer_dead_letter, name) == _function_tree(function_dead_letters, name)


def test_the_function_app_ships_its_copy_and_not_the_analyzer() -> None:
    requirements = (REPO_ROOT / "functions" / "requirements.txt").read_text()
    assert "sensor-analyzer" not in requirements and "analyzer" not in requirements.replace("# ", "")
    assert (REPO_ROOT / "functions" / "shared" / "dead_letters.py").is_file()
    assert function_dead_letters.DEFAULT_MAX_PAYLOAD_BYTES == analyzer_dead_letter.DEFAULT_MAX_PAYLOAD_BYTES
    assert function_dead_letters.DEFAULT_MAXLEN == analyzer_dead_letter.DEFAULT_MAXLEN
    assert function_dead_letters.DEFAULT_MAX_BYTES == analyzer_dead_letter.DEFAULT_MAX_BYTES
    assert function_dead_letters.IDS_RETENTION_MS == analyzer_dead_letter.IDS_RETENTION_MS
    assert set(analyzer_dead_letter.DeadLetterSettings.model_fields) == {
        "dead_letter_max_payload_bytes",
        "dead_letter_maxlen",
        "dead_letter_max_bytes",
    }


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
fields = st.one_of(
    st.dictionaries(st.sampled_from(["payload", "data", "other"]), text, max_size=3),
    st.builds(lambda p: {"payload": p}, text),
)


@settings(max_examples=300, deadline=None)
@given(
    entry_id=st.one_of(st.just(""), st.from_regex(r"\A[0-9]{1,13}-[0-9]{1,3}\Z")),
    reason=st.text(max_size=3000),
    fields=fields,
    source=st.sampled_from(analyzer_dead_letter.SOURCES),
    limit=st.integers(min_value=1, max_value=400),
    at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_both_writers_build_identical_records(entry_id, reason, fields, source, limit, at) -> None:
    ours = analyzer_dead_letter.dead_letter_record(
        entry_id, reason, fields, source=source, now=at, max_payload_bytes=limit
    )
    theirs = function_dead_letters.dead_letter_record(
        entry_id, reason, fields, source=source, now=at, max_payload_bytes=limit
    )
    assert ours == theirs
    # The format itself.
    assert len(ours["payload"].encode()) <= limit
    assert len(ours["reason"].encode()) <= analyzer_dead_letter.REASON_MAX_BYTES
    original = (
        fields["payload"]
        if "payload" in fields
        else json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    if len(original.encode()) > limit:
        assert ours["truncated"] == "1" and ours["original_bytes"] == str(len(original.encode()))
        assert original.startswith(ours["payload"])
    else:
        assert ours["payload"] == original and "truncated" not in ours and "original_bytes" not in ours
    assert datetime.fromisoformat(ours["dead_lettered_at"]) - at < timedelta(milliseconds=1)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="source"):
        analyzer_dead_letter.dead_letter_record(
            "1-0", "r", {}, source="cron", now=datetime.now(UTC), max_payload_bytes=9
        )


async def test_both_writers_leave_the_same_records_in_redis(redis_url: str, stream_key: str) -> None:
    big = json.dumps({"timestamp": "2026-11-29T10:00:00Z", "FI-101": "é" * 20_000})
    entries = [
        ("1700000000000-0", "analysis failed 5 times", {"payload": big}),
        ("1700000000001-0", "no payload", {"data": "x"}),
    ]
    keys = RedisKeys(stream_key)
    async_client = AsyncRedis.from_url(redis_url, decode_responses=True)
    try:
        await analyzer_dead_letter.dead_letter(async_client, keys, entries, source="function")
    finally:
        await async_client.aclose()
    other = f"{stream_key}:function"
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        function_dead_letters.write_dead_letters(client, f"{other}:dead", entries, source="function", env={})
        ours = [record for _, record in client.xrange(keys.dead_letter)]
        theirs = [record for _, record in client.xrange(f"{other}:dead")]
        assert client.zrange(f"{keys.dead_letter}:ids", 0, -1) == client.zrange(f"{other}:dead:ids", 0, -1)
        client.delete(f"{other}:dead", f"{other}:dead:ids")
    for record in (*ours, *theirs):
        assert record.pop("dead_lettered_at").endswith("Z")
    assert ours == theirs
    assert ours[0]["truncated"] == "1" and int(ours[0]["original_bytes"]) == len(big.encode())
    assert len(ours[0]["payload"].encode()) <= analyzer_dead_letter.DEFAULT_MAX_PAYLOAD_BYTES
    assert ours[1]["payload"] == '{"data":"x"}'


async def test_the_stream_is_bounded_exactly(redis_url: str, stream_key: str) -> None:
    keys = RedisKeys(stream_key)
    client = AsyncRedis.from_url(redis_url, decode_responses=True)
    try:
        for batch in range(5):
            entries = [(f"{batch}-{n}", "r", {"payload": "x" * 100}) for n in range(10)]
            await analyzer_dead_letter.dead_letter(client, keys, entries, maxlen=25)
        assert await client.xlen(keys.dead_letter) == 25
        with redis.Redis.from_url(redis_url, decode_responses=True) as sync:
            function_dead_letters.write_dead_letters(
                sync, keys.dead_letter, [("9-9", "r", {"payload": "y"})], env={"DEAD_LETTER_MAXLEN": "25"}
            )
        assert await client.xlen(keys.dead_letter) == 25
    finally:
        await client.aclose()


async def test_the_stream_is_bounded_in_bytes_by_both_writers(redis_url: str, stream_key: str) -> None:
    """A flood of 1 MB payloads (the 10 MB request of issue 12 put 10.6 MB in the stream): the stream
    stays under DEAD_LETTER_MAX_BYTES whichever writer adds the records."""
    keys = RedisKeys(stream_key)
    env = {"DEAD_LETTER_MAX_PAYLOAD_BYTES": "4096", "DEAD_LETTER_MAX_BYTES": str(64 * 1024)}
    settings = analyzer_dead_letter.DeadLetterSettings(
        _env_file=None,  # type: ignore[call-arg]
        dead_letter_max_payload_bytes=4096,
        dead_letter_max_bytes=64 * 1024,
    )
    client = AsyncRedis.from_url(redis_url, decode_responses=True)
    original = analyzer_dead_letter.dead_letter_settings
    analyzer_dead_letter.dead_letter_settings = lambda: settings  # type: ignore[assignment]
    try:
        huge = {"payload": "z" * 1_000_000}
        for batch in range(10):
            await analyzer_dead_letter.dead_letter(client, keys, [(f"{batch}-{n}", "r" * 3000, huge) for n in range(5)])
        with redis.Redis.from_url(redis_url, decode_responses=True) as sync:
            function_dead_letters.write_dead_letters(sync, keys.dead_letter, [("99-0", "r", huge)] * 20, env=env)
            used = sync.memory_usage(keys.dead_letter, samples=0)
        assert await client.xlen(keys.dead_letter) == analyzer_dead_letter.bounded_maxlen(2000, 4096, 64 * 1024)
        assert used is not None and used <= 64 * 1024, used
    finally:
        analyzer_dead_letter.dead_letter_settings = original  # type: ignore[assignment]
        await client.aclose()
