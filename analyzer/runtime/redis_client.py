"""The Redis client every process builds from its settings (analyzer, worker, dashboard API).

Kept apart from :mod:`analyzer.runtime.services` so a process that needs only Redis (the dashboard
API) does not import the tiers (and scikit-learn) to get it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analyzer.runtime.redis_auth import AsyncTokenSource
from analyzer.settings import Settings


def connect_redis(settings: Settings, *, token_source: AsyncTokenSource | None = None) -> Redis:
    """A Redis client that returns ``str`` (:func:`binary_client` derives a binary one from it).

    With ``REDIS_ENTRA_AUTH`` it authenticates with the identity's Entra ID token
    (:mod:`analyzer.runtime.redis_auth`); the caller closes the credential with :func:`close_redis`.
    """
    # A connection the server closed (a Redis restart) is retried on a fresh one, twice, with a short
    # backoff, instead of failing the first command after every restart. A longer outage still
    # raises ConnectionError; the consumers back off and the APIs answer 503.
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "socket_connect_timeout": 5,
    }
    if settings.redis_entra_auth:
        from azure.identity.aio import DefaultAzureCredential

        from analyzer.runtime.redis_auth import EntraIdCredentialProvider

        options["credential_provider"] = EntraIdCredentialProvider(token_source or DefaultAzureCredential())
    return Redis.from_url(settings.redis_url, **options)


async def close_redis(redis: Redis) -> None:
    """Close the client and, with Entra ID authentication, its credential."""
    provider = redis.connection_pool.connection_kwargs.get("credential_provider")
    await redis.aclose()
    if provider is not None and hasattr(provider, "close"):
        await provider.close()


def binary_client(redis: Redis) -> Redis:
    """A second client on the same server whose replies are bytes (the fold's state is binary)."""
    pool = redis.connection_pool
    binary_pool = ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "decode_responses": False}
    )
    return Redis(connection_pool=binary_pool)
