"""Answers reused for identical situations within a time window (Redis, with a TTL).

Two events are the same situation when they have the same *fingerprint*: the provider and
model, the alarm's key (tier, sensors, kind), priority and event, and per involved sensor the
band its last value is in (below Low-Low ... above High-High), its trend direction and its
z-score rounded to a whole number; the peak deviation to one significant digit; and which other
sensors moved together, and which way. Times, counts and exact values are left out: a sensor
chattering around its High limit, or an alarm that opens again an hour later in the same state,
reuses the answer instead of paying for the same words again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.tiers.llm.evidence import AlarmEvidence, SensorEvidence
from schemas.llm import ContextAnswer, ProviderName

FINGERPRINT_VERSION = 1


def band(sensor: SensorEvidence) -> str | None:
    """Where the sensor's last value sits against its limits.

    >>> from analyzer.tiers.llm.evidence import SensorEvidence, Trend
    >>> t = Trend(samples=1, span_min=0, first=9, last=9, min=9, max=9, slope_per_h=None, direction="steady",
    ...           beyond_alarm_min=0, beyond_trip_min=0, unchanged_min=0, since_last_min=0)
    >>> band(SensorEvidence(name="T", catalogued=True, limits={"high": 5.0, "high_high": 10.0}, trend=t))
    'high'
    """
    if sensor.trend is None:
        return None
    value, limits = sensor.trend.last, sensor.limits
    for name in ("high_high", "low_low", "high", "low"):
        limit = limits.get(name)
        if limit is not None and (value > limit if name.startswith("high") else value < limit):
            return name
    return "normal"


def situation(evidence: AlarmEvidence, provider: str, model: str) -> dict[str, object]:
    """What the fingerprint is made of (see the module docstring)."""
    alarm = evidence.alarm
    return {
        "v": FINGERPRINT_VERSION,
        "provider": provider,
        "model": model,
        "key": alarm.key,
        "kind": alarm.kind,
        "priority": alarm.priority,
        "event": alarm.event,
        "deviation": None if alarm.peak_deviation is None else f"{alarm.peak_deviation:.1g}",
        "sensors": [
            [s.name, band(s), s.trend.direction if s.trend else None, None if s.z_score is None else round(s.z_score)]
            for s in evidence.sensors
        ],
        "moved": sorted([m.name, m.direction] for m in evidence.moved_together),
    }


def fingerprint(evidence: AlarmEvidence, provider: str, model: str) -> str:
    text = json.dumps(situation(evidence, provider, model), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: ContextAnswer
    provider: ProviderName
    model: str
    generated_at: datetime


class AnswerCache:
    """``{stream}:llm:cache:{fingerprint}`` -> the answer, kept ``ttl_s`` seconds (0 = off)."""

    def __init__(self, redis: Redis, keys: RedisKeys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl_s = ttl_s

    async def get(self, fp: str) -> CachedAnswer | None:
        if self.ttl_s <= 0:
            return None
        raw = await self._redis.get(self._keys.llm_cache(fp))
        if raw is None:
            return None
        try:
            stored = json.loads(raw)
            return CachedAnswer(
                answer=ContextAnswer.model_validate(stored["answer"]),
                provider=stored["provider"],
                model=stored["model"],
                generated_at=datetime.fromisoformat(stored["generated_at"]),
            )
        except (ValueError, KeyError, TypeError, ValidationError):
            # Written by an older version with another answer shape: a miss, and it will be replaced.
            return None

    async def put(self, fp: str, answer: ContextAnswer, provider: str, model: str, generated_at: datetime) -> None:
        if self.ttl_s <= 0:
            return
        document = {
            "answer": answer.model_dump(mode="json"),
            "provider": provider,
            "model": model,
            "generated_at": generated_at.isoformat(),
        }
        await self._redis.set(self._keys.llm_cache(fp), json.dumps(document), ex=self.ttl_s)
