"""Find or start a Redis for ``sensor-analyzer run``.

In order: ``REDIS_CONNECTION_STRING`` if set; a Redis answering on 127.0.0.1:6379; a
``redis-server`` started on a free loopback port (nothing persisted); an embedded
Redis-protocol server (fakeredis's TCP server) in a thread. The last needs nothing installed but
keeps everything in this process's memory.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import redis

from analyzer.settings import LOCAL_REDIS_URL, Settings


@dataclass(frozen=True)
class LocalRedis:
    url: str
    kind: str


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_answers(url: str, timeout_s: float = 0.5) -> bool:
    """True when a Redis at ``url`` answers PING."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s) as client:
            return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def _wait_until_answers(url: str, deadline_s: float = 10.0) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if redis_answers(url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer within {deadline_s:g} s")


class StartedRedis(NamedTuple):
    url: str
    port: int
    pid: int


@contextlib.contextmanager
def started_redis_server(binary: str) -> Iterator[StartedRedis]:
    """A ``redis-server`` on a free loopback port that keeps nothing on disk; stopped on exit."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory(prefix="sensor-analyzer-redis-") as workdir:
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*command, "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            _wait_until_answers(url)
            yield StartedRedis(url, port, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextlib.contextmanager
def local_redis(settings: Settings) -> Iterator[LocalRedis]:
    """Yield a Redis to use; stops whatever it started on exit."""
    if settings.redis_connection_string is not None:
        yield LocalRedis(settings.redis_url, "REDIS_CONNECTION_STRING")
        return
    if redis_answers(LOCAL_REDIS_URL):
        yield LocalRedis(LOCAL_REDIS_URL, "redis on 127.0.0.1:6379")
        return
    binary = shutil.which("redis-server")
    if binary:
        with started_redis_server(binary) as started:
            yield LocalRedis(started.url, f"redis-server started on port {started.port} (pid {started.pid})")
        return
    from fakeredis import TcpFakeServer

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        _wait_until_answers(url)
        yield LocalRedis(url, f"embedded Redis-protocol server (fakeredis) on port {port}")
    finally:
        server.shutdown()
        server.server_close()


class PersistentRedis:
    """A ``redis-server`` on a free loopback port with persistence on (AOF, fsync every second), that
    can be stopped and started again on the same port and data: the fault suite's Redis restarts."""

    def __init__(self, binary: str | None = None, *, workdir: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = found
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="sensor-analyzer-redis-")
        self.workdir = workdir or (self._tmp.name if self._tmp else "")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.workdir]
        command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait_until_answers(self.url)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (Redis writes its data and exits) or, with ``kill``, SIGKILL."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> PersistentRedis:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
