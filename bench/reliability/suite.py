"""The scenarios of the fault suite and the harness they share (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from pydantic import SecretStr
from redis.asyncio import Redis

from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.local_redis import PersistentRedis, free_port
from analyzer.keys import CONSUMER_GROUP, PAYLOAD_FIELD, RedisKeys
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.redis_client import connect_redis
from analyzer.settings import Settings
from analyzer.store.protocol import AlarmQuery, ResultQuery, Store

REPO = Path(__file__).resolve().parents[2]
COSMOS_CLI = REPO / "tests" / "store" / "cosmos_server.js"
COSMOS_PACKAGE = REPO / "node_modules" / "@vercel" / "cosmosdb-server"
#: Any key works with the local Cosmos-protocol server (the SDK needs a base64 string to sign with).
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
#: Entries that cannot be analysed, mixed into the poison scenario's stream.
POISON = [
    {"note": "no payload field"},
    {PAYLOAD_FIELD: "{not json"},
    {PAYLOAD_FIELD: '{"timestamp": "9999-12-31T23:59:59Z"}'},
    {PAYLOAD_FIELD: '{"timestamp": "2026-01-01T00:00:00Z", "TI-101": 1e308}'},
    {PAYLOAD_FIELD: '{"timestamp": "2026-01-01T00:00:00Z", "": 1, "TI-101": 1}'},
]

Verdicts = dict[str, tuple[str, tuple[str, ...]]]


@dataclass
class Outcome:
    scenario: str
    landed: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    recovery_s: float | None = None
    identical: str = "-"
    note: str = ""
    verdicts: Verdicts = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.identical in ("yes", "-", "reference")


@dataclass
class Sizes:
    """How hard each scenario pushes: ``quick`` (the test) or the full run."""

    payloads: int
    kills: int
    redis_down_s: float
    store_short_s: float
    store_long_s: float
    timeout_s: float
    tier2: bool

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                payloads=80,
                kills=1,
                redis_down_s=1.5,
                store_short_s=1.5,
                store_long_s=3,
                timeout_s=60,
                tier2=False,
            )
        return cls(
            payloads=3000,
            kills=10,
            redis_down_s=10,
            store_short_s=20,
            store_long_s=90,
            timeout_s=600,
            tier2=True,
        )


class Harness:
    """A persistent Redis of its own, the day's payloads, and worker processes on demand."""

    def __init__(self, sizes: Sizes, workdir: Path, *, seed: int = 7) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.redis = PersistentRedis(workdir=str(workdir / "redis"))
        (workdir / "redis").mkdir(parents=True, exist_ok=True)
        self.index = SensorIndex.from_catalog(load_catalog())
        self.documents = _simulated(self.index, sizes.payloads, seed)
        self.ids = [f"{int(_epoch_ms(d['timestamp']))}-0" for d in self.documents]
        self.reference: Outcome | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------------ set-up

    def settings(self, stream: str, **extra: Any) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            redis_connection_string=SecretStr(self.redis.url),
            stream_key=stream,
            sqlite_path=self.workdir / f"{stream}.db",
            store_backend="sqlite",
            tier2_enabled=self.sizes.tier2,
            explain_consumer_enabled=False,
            **extra,
        )

    def env(self, stream: str, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "STORE_", "SQLITE_", "COSMOS_"))}
        return {
            **base,
            "REDIS_CONNECTION_STRING": self.redis.url,
            "STREAM_KEY": stream,
            "SQLITE_PATH": str(self.workdir / f"{stream}.db"),
            "STORE_BACKEND": "sqlite",
            "TIER2_ENABLED": "true" if self.sizes.tier2 else "false",
            "WORKER_BLOCK_MS": "200",
            "WORKER_CLAIM_IDLE_MS": "5000",
            "EXPLAIN_CONSUMER_ENABLED": "false",
            "LLM_PROVIDER": "offline",
            **extra,
        }

    async def land(
        self, redis: Redis, stream: str, *, poison_every: int = 0, start: int = 0, stop: int | None = None
    ) -> list[str]:
        """XADD payloads ``start:stop`` of the day at their reading times (the same ids in every
        scenario); with ``poison_every``, a poison entry after every that many payloads (id
        ``<ms>-1``). Returns the poison ids."""
        poison: list[str] = []
        stop = len(self.ids) if stop is None else stop
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, stop):
                entry_id, document = self.ids[n], self.documents[n]
                pipe.xadd(stream, {PAYLOAD_FIELD: orjson.dumps(document)}, id=entry_id)
                if poison_every and n % poison_every == poison_every - 1:
                    poison_id = entry_id.replace("-0", "-1")
                    pipe.xadd(stream, POISON[len(poison) % len(POISON)], id=poison_id)  # type: ignore[arg-type]
                    poison.append(poison_id)
            await pipe.execute()
        await ensure_group(redis, stream, CONSUMER_GROUP)
        return poison

    def worker(self, stream: str, name: str, **extra: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{stream}.{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "analyzer.cli", "worker", "--consumer", name],
            env=self.env(stream, **extra),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            if process.poll() is None:
                process.kill()
        self.processes.clear()

    # ------------------------------------------------------------------ waiting and reading back

    async def wait_done(self, redis: Redis, stream: str, *, expected: int) -> None:
        """Until every entry was delivered and acknowledged (lag 0, nothing pending)."""
        deadline = time.monotonic() + self.sizes.timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # Redis may be away in the middle of a scenario
                groups = [g for g in await redis.xinfo_groups(stream) if g["name"] == CONSUMER_GROUP]
                info = groups[0] if groups else None
                read = info.get("entries-read") if info else None
                if info and info["lag"] == 0 and info["pending"] == 0 and (read is None or int(read) >= expected):
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{stream}: the group did not finish within {self.sizes.timeout_s:g} s")

    async def outcome(self, name: str, stream: str, store: Store, redis: Redis, poison: list[str]) -> Outcome:
        results = await _all(store, "results")
        alarms = await _all(store, "alarms")
        records = cast(list[tuple[str, dict[str, str]]], await redis.xrange(RedisKeys(stream).dead_letter))
        dead = [f["entry_id"] for _, f in records]
        verdicts: Verdicts = {r.id: (r.final_status.value, tuple(sorted(r.alarm_ids))) for r in results}
        landed = [*self.ids, *poison]
        done = set(verdicts) | set(dead)
        duplicated = sum(count - 1 for count in Counter(dead).values() if count > 1)
        duplicated += len(set(verdicts) & set(dead))
        out = Outcome(
            name,
            landed=len(landed),
            stored=len(verdicts),
            lost=len([i for i in landed if i not in done]),
            dead_lettered=len(set(dead)),
            verdicts=verdicts,
        )
        counts = {(a.alarm_key, a.first_entry_id): a.count for a in alarms}
        if self.reference is None:
            self.reference_counts = counts
            out.identical = "reference"
        else:
            ref = self.reference.verdicts
            differ = [i for i in self.ids if verdicts.get(i) != ref.get(i)]
            out.identical = "yes" if not differ else f"no ({len(differ)} differ)"
            duplicated += sum(max(0, c - self.reference_counts.get(k, 0)) for k, c in counts.items())
        out.duplicated = duplicated
        return out


def _epoch_ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def _simulated(index: SensorIndex, n: int, seed: int) -> list[dict[str, Any]]:
    from analyzer.devtools.simulator import iter_payloads, simulate_plant

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * n)
    plant = simulate_plant(index.catalog, start, n, seed=seed, anomaly_rate=0.05)
    return list(iter_payloads(plant))


async def _all(store: Store, what: str) -> list[Any]:
    query: Any = ResultQuery(limit=1000) if what == "results" else AlarmQuery(limit=1000)
    fetch = store.query_results if what == "results" else store.query_alarms
    page = await fetch(query)
    items = list(page.items)
    while page.continuation:
        page = await fetch(query.model_copy(update={"continuation": page.continuation}))
        items += page.items
    return items


# ---------------------------------------------------------------------- the scenarios

Fault = Callable[["Run"], Awaitable[float | None]]


@dataclass
class Run:
    """One scenario's stream, clients and workers; ``fault`` returns when the fault ended (monotonic)."""

    harness: Harness
    stream: str
    redis: Redis
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    poison_every: int = 0
    poison: list[str] = field(default_factory=list)
    landed: int = 0

    def start(self, name: str, **extra: str) -> None:
        self.workers[name] = self.harness.worker(self.stream, name, **extra)

    async def land(self, upto: int | None = None) -> None:
        """Land the day's payloads up to ``upto`` (all by default), after those landed already."""
        upto = len(self.harness.ids) if upto is None else upto
        self.poison += await self.harness.land(
            self.redis, self.stream, poison_every=self.poison_every, start=self.landed, stop=upto
        )
        self.landed = upto

    async def caught_up(self) -> None:
        """Until the workers analysed everything landed so far: the fault then hits mid-stream."""
        await self.harness.wait_done(self.redis, self.stream, expected=self.landed + len(self.poison))


async def scenario(
    harness: Harness,
    name: str,
    *,
    workers: int = 1,
    fault: Fault | None = None,
    poison_every: int = 0,
    store_backend: str = "sqlite",
    extra_env: dict[str, str] | None = None,
    store_factory: Callable[[], Awaitable[Store]] | None = None,
) -> Outcome:
    stream = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    redis = connect_redis(harness.settings(stream))  # the product's client: it rides out a restart
    try:
        run = Run(harness, stream, redis, poison_every=poison_every)
        # A fault lands the rest itself, mid-stream; without one the whole day is there at once.
        await run.land(len(harness.ids) // 2 if fault is not None else None)
        for n in range(workers):
            run.start(f"w{n}", **(extra_env or {}))
        ended = await fault(run) if fault is not None else None
        await run.land()
        poison = run.poison
        await harness.wait_done(redis, stream, expected=len(harness.ids) + len(poison))
        recovery = time.monotonic() - ended if ended is not None else None
        harness.stop_all()
        if store_factory is not None:
            store = await store_factory()
        else:
            from analyzer.store.factory import open_store

            store = await open_store(harness.settings(stream))
        try:
            out = await harness.outcome(name, stream, store, redis, poison)
        finally:
            await store.close()
        out.recovery_s = recovery
        return out
    finally:
        harness.stop_all()
        await redis.aclose()


async def kill_repeatedly(run: Run) -> float | None:
    """SIGKILL a random worker at random moments and start it again under its name (it resumes
    its own pending entries at once)."""
    rng = random.Random(11)
    ended = None
    kills = run.harness.sizes.kills
    total, first = len(run.harness.ids), run.landed
    for k in range(kills):
        await run.land(first + (total - first) * (k + 1) // (kills + 1))
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        name = rng.choice(sorted(run.workers))
        run.workers[name].send_signal(signal.SIGKILL)
        run.workers[name].wait()
        run.start(name)
        ended = time.monotonic()
    return ended


async def restart_redis(run: Run) -> float:
    """Stop Redis (SIGTERM: it writes its data) once the first half is analysed and while a worker
    is blocked reading; start it again on the same data, then land the second half."""
    await run.caught_up()
    run.harness.redis.stop()
    await asyncio.sleep(run.harness.sizes.redis_down_s)
    run.harness.redis.start()
    await run.land()
    return time.monotonic()


def lock_sqlite(seconds_of: Callable[[Sizes], float]) -> Fault:
    async def fault(run: Run) -> float:
        await run.caught_up()
        path = run.harness.workdir / f"{run.stream}.db"
        released = threading.Event()

        def hold() -> None:
            connection = sqlite3.connect(path, timeout=30)
            connection.execute("BEGIN EXCLUSIVE")
            released.wait()
            connection.rollback()
            connection.close()

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        await run.land()  # the second half arrives while the store is locked
        await asyncio.sleep(seconds_of(run.harness.sizes))
        released.set()
        holder.join()
        return time.monotonic()

    return fault


@contextlib.contextmanager
def cosmos_server() -> Iterator[tuple[str, subprocess.Popen[str]] | None]:
    """The local Cosmos-protocol server (``tests/store/cosmos_server.js``), or ``None`` without node."""
    node = shutil.which("node")
    if node is None or not COSMOS_PACKAGE.is_dir():
        yield None
        return
    process = subprocess.Popen(
        [node, str(COSMOS_CLI), "--host", "127.0.0.1", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    ready = re.compile(r"Ready to accept HTTPS connections at ([\d.]+):(\d+)")
    endpoint = None
    deadline = time.monotonic() + 20
    while endpoint is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := ready.search(line):
            endpoint = f"https://{match.group(1)}:{match.group(2)}/"
    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    try:
        yield (endpoint, process) if endpoint else None
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


def pause_process(process: subprocess.Popen[str], seconds_of: Callable[[Sizes], float]) -> Fault:
    """SIGSTOP the server (it keeps its data but answers nothing), then SIGCONT."""

    async def fault(run: Run) -> float:
        await run.caught_up()
        process.send_signal(signal.SIGSTOP)
        await run.land()  # the second half arrives while the store answers nothing
        await asyncio.sleep(seconds_of(run.harness.sizes))
        process.send_signal(signal.SIGCONT)
        return time.monotonic()

    return fault


async def out_of_order(harness: Harness) -> Outcome:
    """The Azure pattern: the trigger hands entries to ``/analyze`` out of order and misses some;
    the sweep does the rest. In process, through the same pipeline the API uses."""
    from analyzer.runtime.services import open_services
    from analyzer.runtime.sweep import sweep

    stream = "out-of-order"
    services = await open_services(harness.settings(stream))
    try:
        await harness.land(services.redis, stream)
        entries = [
            (i, {PAYLOAD_FIELD: orjson.dumps(d).decode()}) for i, d in zip(harness.ids, harness.documents, strict=True)
        ]
        rng = random.Random(5)
        delivered = [e for e in entries if rng.random() > 0.1]  # the trigger misses about 1 in 10
        rng.shuffle(delivered)
        started = time.monotonic()
        for first in range(0, len(delivered), 7):
            await services.pipeline.analyze_entries(delivered[first : first + 7], want_results=False)
        await sweep(services.redis, services.keys, services.store, services.pipeline, grace_s=0)
        # The consumer group is not used here: acknowledge nothing, read the outcome directly.
        out = await harness.outcome("out-of-order delivery + sweep", stream, services.store, services.redis, [])
        out.recovery_s = time.monotonic() - started
        out.note = "recovery = time to analyse all"
        return out
    finally:
        await services.close()


async def model_down(harness: Harness) -> Outcome:
    """Tier 3 pointed at a dead port: analysis goes on; the explainer keeps running and defers."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    llm = {"LLM_PROVIDER": "openai-compatible", "LLM_BASE_URL": dead, "LLM_MODEL": "none", "LLM_TIMEOUT_S": "1"}
    name = "model service down"
    stream = "model-service-down"

    async def fault(run: Run) -> float | None:
        explainer = run.harness.processes
        log = (run.harness.workdir / f"{stream}.explainer.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "analyzer.cli", "explain", "--consumer", "x0"],
            env=run.harness.env(stream, **llm),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        explainer.append(process)
        run.workers["explainer"] = process
        return None

    out = await scenario(harness, name, fault=fault, extra_env=llm)
    log_text = (harness.workdir / f"{stream}.explainer.log").read_text(errors="replace")
    out.note = "explainer crashed" if "Traceback" in log_text else "explainer up, contexts deferred"
    return out


# ---------------------------------------------------------------------- the suite


async def run_suite(quick: bool, workdir: Path | None = None, *, only: set[str] | None = None) -> list[Outcome]:
    sizes = Sizes.of(quick)
    base = Path(workdir or tempfile.mkdtemp(prefix="reliability-"))
    harness = Harness(sizes, base)
    harness.redis.start()
    outcomes: list[Outcome] = []

    async def add(name: str, make: Callable[[], Awaitable[Outcome]]) -> None:
        if only and not any(word in name for word in only) and harness.reference is not None:
            return
        started = time.monotonic()
        try:
            out = await make()
        except Exception as error:  # a scenario that breaks is a finding, not the end of the suite
            out = Outcome(name, note=f"FAILED: {type(error).__name__}: {error}"[:200], identical="no")
            out.lost = -1
        if name == "1 worker":
            harness.reference = out
        out.note = out.note or f"{time.monotonic() - started:.0f} s"
        outcomes.append(out)
        print(f"  {name}: {'ok' if out.ok else 'NOT OK'} ({out.note})", flush=True)

    try:
        await add("1 worker", lambda: scenario(harness, "1 worker"))
        await add("2 workers", lambda: scenario(harness, "2 workers", workers=2))
        await add("4 workers", lambda: scenario(harness, "4 workers", workers=4))
        await add("worker SIGKILL", lambda: scenario(harness, "worker SIGKILL", workers=2, fault=kill_repeatedly))
        await add("Redis restart", lambda: scenario(harness, "Redis restart", fault=restart_redis))
        await add(
            f"SQLite locked {sizes.store_short_s:g} s",
            lambda: scenario(
                harness, f"SQLite locked {sizes.store_short_s:g} s", fault=lock_sqlite(lambda s: s.store_short_s)
            ),
        )
        await add(
            f"SQLite locked {sizes.store_long_s:g} s",
            lambda: scenario(
                harness, f"SQLite locked {sizes.store_long_s:g} s", fault=lock_sqlite(lambda s: s.store_long_s)
            ),
        )
        with cosmos_server() as cosmos:
            if cosmos is None:
                outcomes.append(
                    Outcome("Cosmos server stopped", note="skipped: node or @vercel/cosmosdb-server missing")
                )
            else:
                endpoint, process = cosmos
                for label, seconds in (("short", lambda s: s.store_short_s), ("long", lambda s: s.store_long_s)):
                    await add(
                        f"Cosmos server stopped {seconds(sizes):g} s",
                        _cosmos_scenario(harness, endpoint, process, label, seconds),
                    )
        await add("model service down", lambda: model_down(harness))
        await add(
            "poison entries", lambda: scenario(harness, "poison entries", poison_every=max(5, sizes.payloads // 20))
        )
        await add("out-of-order delivery", lambda: out_of_order(harness))
    finally:
        harness.stop_all()
        harness.redis.close()
    return outcomes


def _cosmos_scenario(
    harness: Harness,
    endpoint: str,
    process: subprocess.Popen[str],
    label: str,
    seconds: Callable[[Sizes], float],
) -> Callable[[], Awaitable[Outcome]]:
    database = f"reliability-{label}-{os.getpid()}"
    env = {
        "STORE_BACKEND": "cosmos",
        "COSMOS_DB_ENDPOINT": endpoint,
        "COSMOS_DB_KEY": COSMOS_KEY,
        "COSMOS_DB_VERIFY_TLS": "false",
        "COSMOS_DB_CREATE_IF_MISSING": "true",
        "COSMOS_DB_DATABASE_NAME": database,
    }

    async def open_it() -> Store:
        from analyzer.store.cosmos import CosmosStore

        return await CosmosStore.open(
            endpoint=endpoint, database=database, key=COSMOS_KEY, verify_tls=False, create_if_missing=True
        )

    def make() -> Awaitable[Outcome]:
        return scenario(
            harness,
            f"Cosmos server stopped {seconds(harness.sizes):g} s",
            fault=pause_process(process, seconds),
            extra_env=env,
            store_factory=open_it,
        )

    return make


def table(outcomes: list[Outcome]) -> str:
    header = ("scenario", "landed", "stored", "lost", "duplicated", "dead-lettered", "recovery", "identical", "note")
    rows = [
        (
            o.scenario,
            str(o.landed),
            str(o.stored),
            str(o.lost),
            str(o.duplicated),
            str(o.dead_lettered),
            f"{o.recovery_s:.1f} s" if o.recovery_s is not None else "-",
            o.identical,
            o.note,
        )
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
