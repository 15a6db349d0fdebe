"""A small OpenAI-compatible HTTP server for the tests: a real aiohttp app on a free loopback
port, in its own thread and event loop, so the real ``openai`` SDK (its HTTP client, timeouts,
error classes, parsing) talks to it over a socket.

It serves chat completions on both URL shapes:

* OpenAI-compatible: ``POST /v1/chat/completions`` (``base_url = server.openai_base_url``);
* Azure OpenAI: ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``
  (``azure_endpoint = server.url``).

Every request is recorded (:attr:`ModelServer.received`). What it answers is scripted: queue
replies with :meth:`ModelServer.script`; when the queue is empty it gives :attr:`default`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from analyzer.devtools.local_redis import free_port

VALID_ANSWER: dict[str, Any] = {
    "summary": "Heater H-101 outlet temperature is climbing past its High limit with fuel gas flow rising.",
    "likely_causes": ["Fuel gas flow controller opened further", "Lower crude charge through the heater"],
    "affected_equipment": ["H-101"],
    "recommended_checks": ["Check FIC on fuel gas and the pass flows", "Compare with the pass outlet temperatures"],
    "suggested_severity": "high",
    "confidence": "medium",
}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body["messages"])


class Reply:
    """Something the server answers."""


@dataclass
class Answer(Reply):
    """A chat completion whose message content is ``content`` (a string, or JSON of a dict)."""

    content: str | dict[str, Any] = field(default_factory=lambda: dict(VALID_ANSWER))
    prompt_tokens: int = 420
    completion_tokens: int = 95
    finish_reason: str = "stop"
    with_usage: bool = True


@dataclass
class Status(Reply):
    """An error response: ``status`` with ``headers`` and an OpenAI-style error body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted error"


@dataclass
class Hang(Reply):
    """Answer only after ``seconds`` (longer than the client's timeout)."""

    seconds: float = 3.0


@dataclass
class RawBody(Reply):
    """A 200 response whose body is ``text`` as is (e.g. not JSON at all)."""

    text: str


class ModelServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.default: Reply = Answer()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="model-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def start(self) -> ModelServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        try:
            body: Any = json.loads(text)
        except json.JSONDecodeError:
            body = text
        with self._lock:
            self.received.append(
                Received(
                    request.method, request.path, dict(request.query), dict(request.headers), body, time.monotonic()
                )
            )
        reply = self._next()
        if isinstance(reply, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=reply.seconds)
            reply = Answer()
        if isinstance(reply, Status):
            error = {"error": {"message": reply.message, "type": "scripted", "code": str(reply.status)}}
            return web.json_response(error, status=reply.status, headers=reply.headers)
        if isinstance(reply, RawBody):
            return web.Response(text=reply.text, content_type="application/json")
        assert isinstance(reply, Answer)
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        model = body.get("model", "unknown") if isinstance(body, dict) else "unknown"
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.received)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.with_usage:
            completion["usage"] = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
        return web.json_response(completion)
