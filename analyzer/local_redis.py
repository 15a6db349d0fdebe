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

import redis

from analyzer.settings import LOCAL_REDIS_URL, Settings


@dataclass(frozen=True)
class LocalRedis:
    url: str
    kind: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str, timeout_s: float = 0.5) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s) as client:
            return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def _wait_until_answers(url: str, deadline_s: float = 10.0) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if _answers(url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer within {deadline_s:g} s")


@contextlib.contextmanager
def local_redis(settings: Settings) -> Iterator[LocalRedis]:
    """Yield a Redis to use; stops whatever it started on exit."""
    if settings.redis_connection_string is not None:
        yield LocalRedis(settings.redis_url, "REDIS_CONNECTION_STRING")
        return
    if _answers(LOCAL_REDIS_URL):
        yield LocalRedis(LOCAL_REDIS_URL, "redis on 127.0.0.1:6379")
        return
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    binary = shutil.which("redis-server")
    if binary:
        with tempfile.TemporaryDirectory(prefix="sensor-analyzer-redis-") as workdir:
            command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
            process = subprocess.Popen([*command, "--dir", workdir], stdout=subprocess.DEVNULL)
            try:
                _wait_until_answers(url)
                yield LocalRedis(url, f"redis-server started on port {port} (pid {process.pid})")
            finally:
                process.terminate()
                process.wait(timeout=10)
        return
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        _wait_until_answers(url)
        yield LocalRedis(url, f"embedded Redis-protocol server (fakeredis) on port {port}")
    finally:
        server.shutdown()
        server.server_close()
