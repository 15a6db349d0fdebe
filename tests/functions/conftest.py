"""A real local HTTP server that mimics the analyzer's analyze and sweep routes, and real Redis."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

REPO_ROOT = Path(__file__).resolve().parents[2]
# The function app's root is importable as the namespace package ``functions``.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from fake_analyzer import API_KEY, FakeAnalyzer  # noqa: E402


@pytest.fixture
def analyzer() -> Iterator[FakeAnalyzer]:
    fake = FakeAnalyzer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            fake.requests.append({"path": self.path, "body": body, "api_key": self.headers.get("X-API-Key")})
            behaviour = fake.next_behaviour()
            if behaviour == "hang":
                time.sleep(1.0)
                behaviour = 200
            if self.headers.get("X-API-Key") != API_KEY:
                status, answer = 401, {"detail": "bad API key"}
            elif behaviour == 200 and self.path == "/api/v1/analyze":
                status, answer = 200, {"id": body["entry_id"], "final_status": "normal"}
            elif behaviour == 200 and self.path == "/api/v1/sweep":
                status, answer = 200, {"analysed": 2, "skipped": 0}
            elif isinstance(behaviour, int) and behaviour < 500:
                status, answer = behaviour, {"detail": "payload is malformed"}
            else:
                status, answer = int(behaviour), {"detail": "internal error"}
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield client
    client.close()


@pytest.fixture
def stream_key(redis_client: redis.Redis) -> Iterator[str]:
    key = f"test:functions:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(key, f"{key}:dead", f"{key}:dead:ids")
