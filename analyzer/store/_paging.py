"""Opaque, tamper-evident continuation tokens shared by both stores.

A token carries a store-specific position (a keyset ``[time, id]`` in SQLite, the SDK's own
continuation in Cosmos DB) plus a fingerprint of the query's filters, and is signed with an
HMAC. A token that was altered, truncated, issued by another store, or sent with different
filters is refused with :class:`InvalidContinuationError` instead of silently paging wrong.

The HMAC guards integrity, not secrecy: the position inside is only base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from analyzer.store.protocol import InvalidContinuationError

_MAC_BYTES = 16


def query_fingerprint(query: BaseModel) -> str:
    """A short digest of a query's filters (not its page size or continuation)."""
    filters = query.model_dump(mode="json", exclude={"limit", "continuation"})
    filters["kind"] = type(query).__name__
    return hashlib.sha256(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    """Signs and checks continuation tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("continuation secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, query: BaseModel, position: Any) -> str:
        body = orjson.dumps({"q": query_fingerprint(query), "p": position})
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def decode(self, query: BaseModel, token: str) -> Any:
        """The position inside ``token``; raises :class:`InvalidContinuationError` if it is not ours."""
        body_text, sep, mac_text = token.partition(".")
        if not sep or not body_text or not mac_text:
            raise InvalidContinuationError("continuation token is malformed")
        try:
            body = _unb64(body_text)
            mac = _unb64(mac_text)
        except (binascii.Error, ValueError) as exc:
            raise InvalidContinuationError("continuation token is not valid base64url") from exc
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidContinuationError("continuation token was altered or issued by another store")
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # pragma: no cover - only with a forged MAC
            raise InvalidContinuationError("continuation token is not valid JSON") from exc
        if not isinstance(decoded, dict) or decoded.get("q") != query_fingerprint(query):
            raise InvalidContinuationError("continuation token belongs to a query with other filters")
        return decoded.get("p")


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: a sort key that ignores the UTC offset a time was written in.

    >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
