"""Forward Redis stream entries to the analyzer over HTTP; ask it to sweep the window.

Kept free of the Functions runtime so tests import and call it directly. The contract:

- ``POST {FASTAPI_ENDPOINT}/api/v1/analyze`` with ``{"entry_id": ..., "payload": {...}}`` and
  ``X-API-Key``. 200 = stored. 4xx = the payload is malformed: the analyzer dead-letters it itself,
  so it is never retried here. 5xx, timeouts and connection errors are transient: retried with
  exponential backoff, then the entry goes to the dead-letter stream ``{STREAM_KEY}:dead`` in the
  analyzer's one record format (``shared/dead_letters.py``, source ``function``) and the error is
  re-raised so the run is failed.
- ``POST {FASTAPI_ENDPOINT}/api/v1/sweep``: the analyzer analyses entries of the window that have
  no result, which covers the trigger's at-most-once delivery.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import redis
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .dead_letters import write_dead_letters

logger = logging.getLogger(__name__)

PAYLOAD_FIELD = "payload"
ANALYZE_PATH = "/api/v1/analyze"
SWEEP_PATH = "/api/v1/sweep"
REDIS_ENTRA_SCOPE = "https://redis.azure.com/.default"


class MalformedEntry(ValueError):
    """The trigger's entry is not ``{"Id": ..., "Values": {"payload": "<json object>"}}``."""


class TransientAnalyzerError(RuntimeError):
    """The analyzer answered 5xx or could not be reached in time."""


@dataclass(frozen=True)
class ForwarderConfig:
    """What the forwarder needs, from the function app's settings."""

    endpoint: str
    api_key: str
    stream_key: str = "sensors:readings"
    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ForwarderConfig:
        endpoint = env.get("FASTAPI_ENDPOINT", "").strip()
        api_key = env.get("ANALYZER_API_KEY", "").strip()
        if not endpoint:
            raise RuntimeError("FASTAPI_ENDPOINT is not set: nowhere to forward entries")
        if not api_key:
            raise RuntimeError("ANALYZER_API_KEY is not set: the analyzer would refuse every call")
        return cls(
            endpoint=endpoint.rstrip("/"),
            api_key=api_key,
            stream_key=env.get("STREAM_KEY", "sensors:readings"),
            timeout_s=float(env.get("FORWARD_TIMEOUT_S", "30")),
            attempts=max(1, int(env.get("FORWARD_ATTEMPTS", "4"))),
        )

    @property
    def dead_letter_key(self) -> str:
        return f"{self.stream_key}:dead"


def parse_entry(raw: str) -> tuple[str, dict[str, Any], str]:
    """Return ``(entry_id, payload object, payload JSON text)`` from the trigger's string.

    >>> raw = json.dumps({"Id": "1-0", "Values": {"payload": json.dumps({"timestamp": "t", "FI-101": 1.5})}})
    >>> parse_entry(raw)[:2]
    ('1-0', {'timestamp': 't', 'FI-101': 1.5})
    """
    try:
        entry = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise MalformedEntry(f"trigger input is not JSON: {error}") from error
    if not isinstance(entry, dict) or not isinstance(entry.get("Id"), str) or not entry["Id"]:
        raise MalformedEntry("trigger input has no string Id")
    values = entry.get("Values")
    text = values.get(PAYLOAD_FIELD) if isinstance(values, dict) else None
    if not isinstance(text, str):
        raise MalformedEntry(f"entry {entry['Id']} has no {PAYLOAD_FIELD!r} field")
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise MalformedEntry(f"entry {entry['Id']}: payload is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise MalformedEntry(f"entry {entry['Id']}: payload is not a JSON object")
    return entry["Id"], payload, text


def entry_lag_ms(entry_id: str, now_ms: int | None = None) -> int | None:
    """Milliseconds since the entry was added (its id is ``<ms>-<seq>``); None if not an id.

    >>> entry_lag_ms("1000-0", now_ms=4500)
    3500
    """
    head = entry_id.split("-", 1)[0]
    if not head.isdigit():
        return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0, now - int(head))


def _post(client: httpx.Client, config: ForwarderConfig, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST once; 5xx and transport failures become TransientAnalyzerError."""
    try:
        response = client.post(
            f"{config.endpoint}{path}", json=body, headers={"X-API-Key": config.api_key}, timeout=config.timeout_s
        )
    except httpx.TransportError as error:  # timeouts, refused connections, DNS, resets
        raise TransientAnalyzerError(f"{type(error).__name__}: {error}") from error
    if response.status_code >= 500:
        raise TransientAnalyzerError(f"analyzer answered {response.status_code}: {response.text[:300]}")
    return response


def _retrying(config: ForwarderConfig) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(TransientAnalyzerError),
        stop=stop_after_attempt(config.attempts),
        wait=wait_exponential(multiplier=config.backoff_s, max=30 * config.backoff_s),
        reraise=True,
    )


def forward_entry(
    raw: str,
    config: ForwarderConfig,
    *,
    client: httpx.Client | None = None,
    redis_factory: Callable[[], redis.Redis] | None = None,
) -> dict[str, Any] | None:
    """Forward one trigger entry; return the stored result, or None when the analyzer refused it (4xx)."""
    factory = redis_factory or redis_client_from_env
    try:
        entry_id, payload, text = parse_entry(raw)
    except MalformedEntry as error:
        # No stream fields to keep: the trigger's whole input is the payload of the record.
        dead_letter(
            factory, config, entry_id="", reason=str(error), fields={PAYLOAD_FIELD: raw if isinstance(raw, str) else ""}
        )
        raise
    own_client = client is None
    http = client or httpx.Client()
    try:
        response = _retrying(config)(_post, http, config, ANALYZE_PATH, {"entry_id": entry_id, "payload": payload})
    except TransientAnalyzerError as error:
        dead_letter(
            factory,
            config,
            entry_id=entry_id,
            reason=f"forward failed after {config.attempts} attempts: {error}",
            fields={PAYLOAD_FIELD: text},
            final=False,  # the sweep retries it
        )
        raise
    finally:
        if own_client:
            http.close()
    if 400 <= response.status_code < 500:
        # The analyzer judged the payload malformed and dead-lettered it itself: retrying cannot help.
        logger.warning("analyzer refused entry %s (%s): %s", entry_id, response.status_code, response.text[:300])
        return None
    response.raise_for_status()
    logger.info("forwarded entry %s lag_ms=%s", entry_id, entry_lag_ms(entry_id))
    return response.json()


def request_sweep(config: ForwarderConfig, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Ask the analyzer to analyse window entries without a result; raise if it keeps failing."""
    own_client = client is None
    http = client or httpx.Client()
    try:
        response = _retrying(config)(_post, http, config, SWEEP_PATH, {})
    finally:
        if own_client:
            http.close()
    response.raise_for_status()
    result = response.json()
    logger.info("sweep done: %s", json.dumps(result)[:500])
    return result


def dead_letter(
    factory: Callable[[], redis.Redis],
    config: ForwarderConfig,
    *,
    entry_id: str,
    reason: str,
    fields: Mapping[str, str],
    final: bool = True,
) -> None:
    """Record a failed entry on ``{stream}:dead``; a failure to do so is logged, never hidden.

    ``final=False`` (a forward that failed for a transient reason) keeps the id out of
    ``{stream}:dead:ids``, so the sweep still analyses the entry.
    """
    try:
        client = factory()
        try:
            write_dead_letters(
                client, config.dead_letter_key, [(entry_id, reason, fields)], source="function", final=final
            )
        finally:
            client.close()
    except redis.RedisError:
        logger.exception("could not dead-letter entry %s (reason: %s)", entry_id, reason)
        return
    logger.error("dead-lettered entry %s to %s: %s", entry_id, config.dead_letter_key, reason)


def redis_url_from_connection_string(value: str) -> str:
    """A ``redis://`` URL from either connection-string form (same rules as the analyzer's settings).

    >>> redis_url_from_connection_string("c.redis.azure.net:10000,password=p@ss,ssl=True,abortConnect=False")
    'rediss://:p%40ss@c.redis.azure.net:10000/0'
    """
    text = value.strip()
    if text.startswith(("redis://", "rediss://", "unix://")):
        return text
    endpoint, *options = (part.strip() for part in text.split(","))
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        host, port = endpoint, "6379"
    parsed = {}
    for option in filter(None, options):
        name, _, raw = option.partition("=")
        parsed[name.strip().lower()] = raw.strip()
    scheme = "rediss" if parsed.get("ssl", "false").lower() == "true" else "redis"
    password = parsed.get("password", "")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"{scheme}://{auth}{host}:{port}/0"


def redis_client_from_env(env: Mapping[str, str] = os.environ, credential: Any = None) -> redis.Redis:
    """Redis client from the trigger's connection setting, in either of its two forms.

    ``REDIS_CONNECTION_STRING`` (connection string) or, in Azure, the managed-identity form the
    trigger itself uses: ``REDIS_CONNECTION_STRING__redisHostName`` (host:port),
    ``__principalId`` (the identity's object id = the Redis user name) and, for a user-assigned
    identity, ``__clientId``; authenticated with an Entra token for that identity.
    """
    connection = env.get("REDIS_CONNECTION_STRING", "").strip()
    if connection:
        return redis.Redis.from_url(redis_url_from_connection_string(connection), socket_timeout=10)
    host_port = env.get("REDIS_CONNECTION_STRING__redisHostName", "").strip()
    if not host_port:
        raise RuntimeError("neither REDIS_CONNECTION_STRING nor REDIS_CONNECTION_STRING__redisHostName is set")
    host, _, port = host_port.rpartition(":")
    if not host:
        host, port = host_port, "10000"
    if credential is None:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=env.get("REDIS_CONNECTION_STRING__clientId") or None)
    username = env.get("REDIS_CONNECTION_STRING__principalId", "").strip()
    if not username:
        # The trigger's listener throws for the same reason (the extension's RedisUtilities).
        raise RuntimeError("REDIS_CONNECTION_STRING__principalId (the identity's object id) is not set")
    token = credential.get_token(REDIS_ENTRA_SCOPE).token
    return redis.Redis(host=host, port=int(port), username=username, password=token, ssl=True, socket_timeout=10)
