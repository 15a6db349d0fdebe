"""The whole pipeline on loopback: landing -> Redis -> worker process(es) -> SQLite, beside the bare
plumbing loop on the same machine in the same run.

Run: ``python -m bench.pipeline [--payloads N] [--seconds S] [--profile]``. Redis: a redis-server
of its own on a free loopback port (``REDIS_CONNECTION_STRING`` to use another). Prints:

* the plumbing reference: XREADGROUP (64) + JSON parse + SQLite upsert + XACK, in one process;
* sustained throughput for 1 and 2 ``sensor-analyzer worker`` processes draining the same backlog
  of N simulated payloads (timed from the landing of the backlog to the group's last
  acknowledgement; the workers are started and idle before, so start-up is not counted);
* landing-to-durable latency at 10 and 100 payloads/s (each payload landed alone; durable = its
  entry acknowledged, which the worker does only after the result is stored), p50 and p99;
* lost (landed, neither stored nor dead-lettered) and duplicated (dead-lettered twice, or both
  stored and dead-lettered);
* with ``--profile``: cProfile's top 10 (cumulative) of one in-process worker draining the backlog.

The last line is one JSON object with ``plumbing_per_s``, ``worker1_per_s``, ``worker2_per_s``,
``worker1_of_plumbing``, ``p50_ms_100``, ``p99_ms_100``, ``p50_ms_10``, ``p99_ms_10``, ``lost``,
``duplicated``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson
from pydantic import SecretStr
from redis.asyncio import Redis

from analyzer.devtools.local_redis import PersistentRedis
from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.keys import CONSUMER_GROUP, PAYLOAD_FIELD, RedisKeys
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.services import open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from analyzer.store.containers import ANOMALY_RESULTS
from schemas.payload import wire_timestamp

REPO = Path(__file__).resolve().parents[1]


def _settings(url: str, stream: str, db: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(url),
        stream_key=stream,
        sqlite_path=db,
        store_backend="sqlite",
        explain_consumer_enabled=False,
    )


def _documents(n: int, *, seed: int = 5) -> list[dict[str, Any]]:
    """``n`` simulated payloads ending now, spaced so they all fit the 24 h window."""
    from analyzer.catalog import load_catalog

    interval = max(1, min(10, (24 * 3600 - 600) // max(n, 1)))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=interval * n + 30)
    plant = simulate_plant(load_catalog(), start, n, seed=seed, anomaly_rate=0.02, interval_s=interval)
    return list(iter_payloads(plant))


async def _land_backlog(redis: Redis, stream: str, documents: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for first in range(0, len(documents), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for document in documents[first : first + 1000]:
                pipe.xadd(stream, {PAYLOAD_FIELD: orjson.dumps(document)})
            ids += [str(i) for i in await pipe.execute()]
    return ids


async def _group_done(redis: Redis, stream: str, expected: int) -> bool:
    groups = [g for g in await redis.xinfo_groups(stream) if g["name"] == CONSUMER_GROUP]
    if not groups:
        return False
    info = groups[0]
    read = info.get("entries-read")
    return bool(info["lag"] == 0 and info["pending"] == 0 and (read is None or int(read) >= expected))


# ---------------------------------------------------------------------- the plumbing reference


async def plumbing(url: str, stream: str, documents: list[dict[str, Any]], db: Path) -> float:
    """XREADGROUP + JSON parse + SQLite upsert + XACK: what any consumer of this stream pays."""
    redis = Redis.from_url(url)
    await _land_backlog(redis, stream, documents)
    await redis.xgroup_create(stream, "plumbing", id="0")
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS r (id TEXT PRIMARY KEY, doc TEXT)")
    started = time.perf_counter()
    done = 0
    while True:
        reply = cast(list[Any], await redis.xreadgroup("plumbing", "p", {stream: ">"}, count=64))
        if not reply:
            break
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], reply[0][1])
        rows = []
        for entry_id, fields in entries:
            document = orjson.loads(fields[PAYLOAD_FIELD.encode()])
            rows.append((entry_id.decode(), orjson.dumps(document).decode()))
        connection.executemany(
            "INSERT INTO r (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", rows
        )
        connection.commit()
        await redis.xack(stream, "plumbing", *[i for i, _ in entries])
        done += len(entries)
    elapsed = time.perf_counter() - started
    connection.close()
    await redis.aclose()
    return done / elapsed


# ---------------------------------------------------------------------- worker processes


def _start_workers(url: str, stream: str, db: Path, count: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "STORE_", "SQLITE_"))}
    env |= {
        "REDIS_CONNECTION_STRING": url,
        "STREAM_KEY": stream,
        "SQLITE_PATH": str(db),
        "STORE_BACKEND": "sqlite",
        "WORKER_BLOCK_MS": "50",
        "EXPLAIN_CONSUMER_ENABLED": "false",
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "analyzer.cli", "worker", "--consumer", f"bench-{n}"],
            env=env,
            cwd=REPO,
            stdout=(logdir / f"{stream}.{n}.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        for n in range(count)
    ]


async def _wait_consumers(redis: Redis, stream: str, count: int, timeout: float = 120) -> None:
    """Until ``count`` consumers are in the group (the workers started and are reading)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if len(await redis.xinfo_consumers(stream, CONSUMER_GROUP)) >= count:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{count} workers did not join {stream} within {timeout:g} s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


async def _counts(url: str, stream: str, db: Path, ids: list[str]) -> tuple[int, int]:
    """(lost, duplicated) of the landed ``ids``."""
    connection = sqlite3.connect(db)
    stored = {row[0] for row in connection.execute(f"SELECT id FROM {ANOMALY_RESULTS.name}")}
    connection.close()
    redis = Redis.from_url(url, decode_responses=True)
    records = cast(list[tuple[str, dict[str, str]]], await redis.xrange(RedisKeys(stream).dead_letter))
    await redis.aclose()
    dead = [f["entry_id"] for _, f in records]
    lost = sum(1 for i in ids if i not in stored and i not in dead)
    duplicated = sum(c - 1 for c in Counter(dead).values() if c > 1) + len(stored & set(dead))
    return lost, duplicated


async def throughput(
    url: str, stream: str, documents: list[dict[str, Any]], workdir: Path, workers: int
) -> dict[str, Any]:
    db = workdir / f"{stream}.db"
    redis = Redis.from_url(url, decode_responses=True)
    await ensure_group(redis, stream, CONSUMER_GROUP)
    processes = _start_workers(url, stream, db, workers, workdir)
    try:
        await _wait_consumers(redis, stream, workers)
        started = time.perf_counter()
        ids = await _land_backlog(redis, stream, documents)
        while not await _group_done(redis, stream, len(ids)):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        _stop(processes)
        await redis.aclose()
    lost, duplicated = await _counts(url, stream, db, ids)
    return {"per_s": len(ids) / elapsed, "seconds": elapsed, "lost": lost, "duplicated": duplicated}


async def latency(
    url: str, stream: str, workdir: Path, documents: list[dict[str, Any]], rate: float, seconds: float
) -> dict[str, Any]:
    """Land one payload every 1/rate s through the landing (the simulated values, stamped now);
    durable = its entry acknowledged."""
    db = workdir / f"{stream}.db"
    services = await open_services(_settings(url, stream, db), statistical=False)
    redis = services.redis
    await ensure_group(redis, stream, CONSUMER_GROUP)
    processes = _start_workers(url, stream, db, 1, workdir)
    landed: dict[str, float] = {}
    durable: dict[str, float] = {}
    try:
        await _wait_consumers(redis, stream, 1)
        stop = asyncio.Event()

        async def watch() -> None:
            # An entry is durable once acknowledged: delivered (<= last-delivered-id) and not pending.
            while not stop.is_set() or len(durable) < len(landed):
                info = next(g for g in await redis.xinfo_groups(stream) if g["name"] == CONSUMER_GROUP)
                last = _order(info["last-delivered-id"])
                pending = {p["message_id"] for p in await redis.xpending_range(stream, CONSUMER_GROUP, "-", "+", 1000)}
                now = time.perf_counter()
                for entry_id in list(landed):
                    if entry_id not in durable and _order(entry_id) <= last and entry_id not in pending:
                        durable[entry_id] = now
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch())
        interval = 1 / rate
        begin = time.perf_counter()
        n = 0
        while time.perf_counter() - begin < seconds:
            due = begin + n * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            live = {**documents[n % len(documents)], "timestamp": wire_timestamp(datetime.now(UTC))}
            reading = services.lander.validate(live)
            at = time.perf_counter()
            [entry_id] = await services.lander.land([reading])
            landed[entry_id] = at
            n += 1
        stop.set()
        await asyncio.wait_for(watcher, timeout=120)
    finally:
        _stop(processes)
        await services.close()
    ms = np.array([(durable[i] - landed[i]) * 1000 for i in landed])
    halves = np.array_split(ms, 2)
    lost, duplicated = await _counts(url, stream, db, list(landed))
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "p99_first_half_ms": float(np.percentile(halves[0], 99)),
        "p99_second_half_ms": float(np.percentile(halves[1], 99)),
        "landed": len(ms),
        "lost": lost,
        "duplicated": duplicated,
    }


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def profile(url: str, stream: str, documents: list[dict[str, Any]], workdir: Path) -> str:
    """cProfile's top 10 (cumulative) of one in-process worker draining the backlog."""
    services = await open_services(_settings(url, stream, workdir / f"{stream}.db"))
    try:
        await _land_backlog(services.redis, stream, documents)
        await ensure_group(services.redis, stream, CONSUMER_GROUP)
        worker = analysis_worker(
            services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=64, block_ms=0), "profile"
        )
        profiler = cProfile.Profile()
        profiler.enable()
        while await worker.read_once():
            pass
        profiler.disable()
    finally:
        await services.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    return out.getvalue()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    own = None
    url = os.environ.get("REDIS_CONNECTION_STRING")
    if url:
        url = Settings(_env_file=None, redis_connection_string=SecretStr(url)).redis_url  # type: ignore[call-arg]
    else:
        own = PersistentRedis(workdir=str(workdir))
        own.start()
        url = own.url
    tag = os.urandom(3).hex()
    try:
        documents = _documents(args.payloads)
        print(f"{args.payloads} simulated payloads, tiers 1+2, SQLite, Redis {'own' if own else url}", flush=True)
        plumbing_per_s = await plumbing(url, f"bench:{tag}:plumbing", documents, workdir / "plumbing.db")
        print(f"plumbing reference (XREADGROUP + parse + SQLite upsert + XACK): {plumbing_per_s:,.0f}/s", flush=True)
        one = await throughput(url, f"bench:{tag}:w1", documents, workdir, 1)
        print(f"1 worker:  {one['per_s']:,.0f} payloads/s ({one['seconds']:.1f} s)", flush=True)
        two = await throughput(url, f"bench:{tag}:w2", documents, workdir, 2)
        print(f"2 workers: {two['per_s']:,.0f} payloads/s ({two['seconds']:.1f} s)", flush=True)
        slow = await latency(url, f"bench:{tag}:l10", workdir, documents, 10, args.seconds)
        print(f"latency at 10/s:  p50 {slow['p50_ms']:.1f} ms, p99 {slow['p99_ms']:.1f} ms", flush=True)
        fast = await latency(url, f"bench:{tag}:l100", workdir, documents, 100, args.seconds)
        print(
            f"latency at 100/s: p50 {fast['p50_ms']:.1f} ms, p99 {fast['p99_ms']:.1f} ms "
            f"(p99 first half {fast['p99_first_half_ms']:.1f} ms, second half {fast['p99_second_half_ms']:.1f} ms)",
            flush=True,
        )
        if args.profile:
            print(await profile(url, f"bench:{tag}:profile", documents[: min(len(documents), 1000)], workdir))
    finally:
        if own is not None:
            own.close()
    return {
        "payloads": args.payloads,
        "plumbing_per_s": round(plumbing_per_s, 1),
        "worker1_per_s": round(one["per_s"], 1),
        "worker2_per_s": round(two["per_s"], 1),
        "worker1_of_plumbing": round(one["per_s"] / plumbing_per_s, 4),
        "p50_ms_100": round(fast["p50_ms"], 2),
        "p99_ms_100": round(fast["p99_ms"], 2),
        "p50_ms_10": round(slow["p50_ms"], 2),
        "p99_ms_10": round(slow["p99_ms"], 2),
        "lost": one["lost"] + two["lost"] + slow["lost"] + fast["lost"],
        "duplicated": one["duplicated"] + two["duplicated"] + slow["duplicated"] + fast["duplicated"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--payloads", type=int, default=3000, help="backlog for the throughput runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each latency run")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 10 of an in-process worker")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
