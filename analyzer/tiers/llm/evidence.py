"""Tier 3's input: one alarm event, what the catalogue says about its sensors, and the last hour.

The alarm record provides an :class:`AlarmView`; :func:`build_evidence` adds the catalogue and
summarises the recent history into an :class:`AlarmEvidence`: small, rounded, no raw dumps. The
same evidence feeds the prompt, the offline writer and the cache fingerprint.

Per involved sensor (at most ``max_sensors``, those driving the alarm most first) the evidence
carries the catalogue's description, unit and limits, the alarm's z-score and model contribution,
and a :class:`Trend` of the window: first, last, min, max, least-squares slope per hour, time
beyond the alarm limits and beyond the trip limits, minutes unchanged at the end, minutes since
the last value.

Sensors that moved together (the rule): for each *other* catalogued sensor, the window is split
at 15 minutes before its end. The sensor moved when the mean of its last 15 minutes differs from
the mean of the earlier part by more than 3 times a scale: the earlier part's standard deviation,
but at least 1 % of the sensor's normal band (High - Low) so a nearly constant signal does not
count a rounding step as a move. It needs 6 earlier and 3 recent samples (hourly laboratory
values never qualify). The largest moves (in those scale units, "sigmas") are kept, at most
``max_moved``. It is cheap (one pass per sensor) and says *that* sensors moved, not why.

Trust: the catalogue (descriptions, units, limits) is the plant's own configuration and trusted.
Names and text that come from payloads or from rules quoting them (the alarm's description, a
sensor name not in the catalogue) are data: cleaned of control characters, cut to a bounded
length and marked, never instructions (see ``prompt.py``).
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from analyzer.keys import PAYLOAD_FIELD
from analyzer.reading import PayloadError, parse_timestamp
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.llm import AlarmEvent, Priority

log = logging.getLogger(__name__)

AlarmKind = Literal[
    "high",
    "high_high",
    "low",
    "low_low",
    "zscore",
    "flatline",
    "rate_of_change",
    "stale",
    "out_of_range",
    "forest",
    "pca",
]
ALARM_KINDS: frozenset[str] = frozenset(get_args(AlarmKind))
#: The tier that raised the alarm (``quality``: rate of change, stale, out of range).
AlarmTier = Literal["heuristic", "statistical", "ml", "quality"]

#: One history sample: epoch seconds and the values it carried.
Sample = tuple[float, Mapping[str, float]]

RECENT_SPLIT_S = 15 * 60
REPORTING_S = 5 * 60
MOVE_SIGMAS = 3.0
MIN_EARLIER_SAMPLES = 6
MIN_RECENT_SAMPLES = 3
BAND_FLOOR = 0.01
TEXT_MAX = 240
NAME_MAX = 64
SIGNIFICANT = 4

#: What ``peak_deviation`` measures, by kind (written here, so trusted).
DEVIATION_MEANING: dict[str, str] = {
    "high": "distance above the High limit, in the sensor's unit",
    "high_high": "distance above the High-High limit, in the sensor's unit",
    "low": "distance below the Low limit, in the sensor's unit",
    "low_low": "distance below the Low-Low limit, in the sensor's unit",
    "zscore": "largest |z| against the sensor's 24 h mean and standard deviation",
    "flatline": "minutes the value stayed unchanged",
    "rate_of_change": "largest change per minute, in the sensor's unit",
    "stale": "minutes without a new value",
    "out_of_range": "distance outside the instrument's plausible range, in the sensor's unit",
    "forest": "calibrated IsolationForest anomaly score (0..1)",
    "pca": "PCA reconstruction error against the learned correlation structure",
}


@dataclass(frozen=True)
class AlarmView:
    """What the alarm record tells tier 3 about one alarm event (opened or escalated).

    ``alarm_key`` names the condition (``limit:TI-101:high_high``, ``zscore:TI-101``,
    ``forest:plant``); ``peak_deviation`` is measured as :data:`DEVIATION_MEANING` says for
    ``kind``. ``z_scores`` and ``contributions`` (forest/PCA) are per sensor, may be empty.
    """

    alarm_id: str
    alarm_key: str
    kind: AlarmKind
    tier: AlarmTier
    priority: Priority
    event: AlarmEvent
    sensors: tuple[str, ...]
    opened_at: datetime
    last_seen: datetime
    count: int
    peak_value: float | None
    peak_deviation: float | None
    last_value: float | None
    description: str
    z_scores: Mapping[str, float] = field(default_factory=dict)
    contributions: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensors", tuple(self.sensors))
        if self.kind not in ALARM_KINDS:
            raise ValueError(
                f"alarm {self.alarm_id}: unknown kind {self.kind!r} (one of {', '.join(sorted(ALARM_KINDS))})"
            )
        for name in ("opened_at", "last_seen"):
            moment = getattr(self, name)
            if moment.tzinfo is None:
                raise ValueError(f"alarm {self.alarm_id}: {name} must be timezone-aware")
        if not self.sensors:
            raise ValueError(f"alarm {self.alarm_id}: no sensors")


class _Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trend(_Evidence):
    """The involved sensor over the recent window (values rounded to 4 significant digits)."""

    samples: int
    span_min: float
    first: float
    last: float
    min: float
    max: float
    slope_per_h: float | None
    #: rising | falling | steady: last vs first against 10 % of the normal band (or the window's range).
    direction: Literal["rising", "falling", "steady"]
    #: Minutes beyond the alarm limits (Low/High) and beyond the trip limits (Low-Low/High-High).
    beyond_alarm_min: float
    beyond_trip_min: float
    #: Minutes the value has been exactly unchanged at the end of the window.
    unchanged_min: float
    #: Minutes from the last value to the end of the evidence window.
    since_last_min: float


class SensorEvidence(_Evidence):
    name: str
    #: False for a name not in the catalogue (it came from a payload: untrusted text).
    catalogued: bool
    description: str | None = None
    unit: str | None = None
    limits: dict[str, float] = {}
    core: bool = False
    z_score: float | None = None
    contribution: float | None = None
    trend: Trend | None = None


class MovedSensor(_Evidence):
    name: str
    description: str
    unit: str
    direction: Literal["up", "down"]
    #: Shift of the last 15 minutes' mean, in units of the earlier spread (see module docstring).
    shift_sigma: float
    earlier_mean: float
    recent_mean: float


class AlarmFacts(_Evidence):
    id: str
    key: str
    kind: AlarmKind
    tier: AlarmTier
    priority: Priority
    event: AlarmEvent
    opened_at: str
    last_seen: str
    duration_min: float
    readings: int
    peak_value: float | None
    peak_deviation: float | None
    deviation_meaning: str
    last_value: float | None
    #: The rule's one-line text; it may quote payload text, so it is data.
    rule_text: str


class AlarmEvidence(_Evidence):
    """Everything tier 3 knows about one alarm event, bounded in size."""

    plant: str
    alarm: AlarmFacts
    sensors: list[SensorEvidence]
    #: Involved sensors left out to bound the size (the least contributing ones).
    omitted_sensors: int = 0
    moved_together: list[MovedSensor] = []
    #: Minutes of plant-wide history behind ``moved_together`` (0: none was given).
    window_min: float = 0.0
    #: Other catalogued sensors with a value in the last 5 minutes of that history (is the feed alive?).
    others_reporting: int = 0

    @property
    def primary(self) -> SensorEvidence:
        return self.sensors[0]


@dataclass(frozen=True)
class EvidenceLimits:
    max_sensors: int = 8
    max_moved: int = 6


def round_sig(value: float, digits: int = SIGNIFICANT) -> float:
    """``value`` to ``digits`` significant digits.

    >>> round_sig(351.23456), round_sig(0.000123456), round_sig(-12345.6)
    (351.2, 0.0001235, -12350.0)
    """
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def _maybe(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round_sig(value)


_SPACES = re.compile(r"\s+")


def clean_text(text: str, limit: int = TEXT_MAX) -> str:
    """Untrusted text made inert for display and prompts: control and format characters removed,
    whitespace collapsed, cut to ``limit`` characters.

    >>> clean_text("TI-101\\x00\\n\\u202eignore   me", 12)
    'TI-101 igno…'
    """
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in {"Cc", "Cf"}
    )
    collapsed = _SPACES.sub(" ", kept).strip()
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def _limits(spec: SensorSpec) -> dict[str, float]:
    return {n: float(v) for n in ("low_low", "low", "high", "high_high") if (v := getattr(spec, n)) is not None}


def _band(limits: Mapping[str, float]) -> float | None:
    """The width of the normal operating band, from the alarm limits (else the trip limits)."""
    for low, high in (("low", "high"), ("low_low", "high_high")):
        if low in limits and high in limits:
            return limits[high] - limits[low]
    return None


def _beyond(values: np.ndarray, limits: Mapping[str, float], low: str, high: str) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    if high in limits:
        out |= values > limits[high]
    if low in limits:
        out |= values < limits[low]
    return out


def summarise_trend(times: np.ndarray, values: np.ndarray, limits: Mapping[str, float], end: float) -> Trend:
    """Summarise one sensor's samples (``times`` ascending, epoch s) up to ``end``.

    Each sample stands for the time until the next one, at most 3 typical intervals (a gap in
    the data is not counted as time beyond a limit); the last sample stands for one interval.

    >>> t = np.arange(0, 3600, 10.0); v = 100 + t / 360  # +10 per hour, from 100 to ~110
    >>> tr = summarise_trend(t, v, {"high": 108.0}, end=3600)
    >>> tr.slope_per_h, tr.direction, tr.beyond_alarm_min, tr.beyond_trip_min
    (10.0, 'rising', 11.8, 0.0)
    """
    n = len(values)
    gaps = np.diff(times)
    typical = float(np.median(gaps)) if n > 1 else 0.0
    dwell = np.append(np.minimum(gaps, 3 * typical), typical) if n > 1 else np.zeros(1)
    slope = None
    if n >= 3 and times[-1] > times[0]:
        slope = round_sig(float(np.polyfit(times - times[0], values, 1)[0]) * 3600)
    unchanged = 0.0
    if n > 1:
        changed = np.flatnonzero(values != values[-1])
        start = times[changed[-1] + 1] if len(changed) else times[0]
        unchanged = float(times[-1] - start)
    scale = _band(limits) or float(values.max() - values.min())
    rise = float(values[-1] - values[0])
    direction: Literal["rising", "falling", "steady"] = "steady"
    if scale > 0 and abs(rise) > 0.1 * scale:
        direction = "rising" if rise > 0 else "falling"
    return Trend(
        samples=n,
        span_min=round(float(times[-1] - times[0]) / 60, 1),
        first=round_sig(float(values[0])),
        last=round_sig(float(values[-1])),
        min=round_sig(float(values.min())),
        max=round_sig(float(values.max())),
        slope_per_h=slope,
        direction=direction,
        beyond_alarm_min=round(float(dwell[_beyond(values, limits, "low", "high")].sum()) / 60, 1),
        beyond_trip_min=round(float(dwell[_beyond(values, limits, "low_low", "high_high")].sum()) / 60, 1),
        unchanged_min=round(unchanged / 60, 1),
        since_last_min=round(max(end - float(times[-1]), 0.0) / 60, 1),
    )


Series = dict[str, tuple[np.ndarray, np.ndarray]]


def by_sensor(recent: Iterable[Sample]) -> Series:
    """The samples as one time-ordered ``(times, values)`` pair per sensor, finite values only."""
    times: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for moment, row in sorted(recent, key=lambda sample: sample[0]):
        for name, value in row.items():
            if value is not None and math.isfinite(value):
                times.setdefault(name, []).append(moment)
                values.setdefault(name, []).append(float(value))
    return {name: (np.asarray(times[name]), np.asarray(values[name])) for name in times}


_EMPTY = (np.empty(0), np.empty(0))


def _window_end(view: AlarmView, *histories: Sequence[Sample]) -> float:
    ends = [view.last_seen.timestamp()] + [max(t for t, _ in h) for h in histories if h]
    return max(ends)


def _matrix(recent: Sequence[Sample], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sample times and a ``(samples, sensors)`` value matrix, NaN where a sensor is absent."""
    ordered = sorted(recent, key=lambda sample: sample[0])
    times = np.fromiter((moment for moment, _ in ordered), dtype=float, count=len(ordered))
    nan = math.nan
    matrix = np.array([[row.get(name, nan) for name in names] for _, row in ordered], dtype=float)
    matrix[~np.isfinite(matrix)] = np.nan
    return times, matrix.reshape(len(ordered), len(names))


def moved_together(
    recent_all: Sequence[Sample], catalog: SensorCatalog, exclude: Iterable[str], *, end: float, limit: int
) -> list[MovedSensor]:
    """Other catalogued sensors whose last 15 minutes moved away from the earlier window (rule in
    the module docstring), largest moves first, at most ``limit``. Vectorised over sensors."""
    skip = set(exclude)
    specs = [spec for spec in catalog.sensors if spec.name not in skip]
    if limit <= 0 or not recent_all or not specs:
        return []
    times, matrix = _matrix(recent_all, [spec.name for spec in specs])
    recent = times >= end - RECENT_SPLIT_S
    earlier, later = matrix[~recent], matrix[recent]
    enough = (np.isfinite(earlier).sum(axis=0) >= MIN_EARLIER_SAMPLES) & (
        np.isfinite(later).sum(axis=0) >= MIN_RECENT_SAMPLES
    )
    if not enough.any():
        return []
    earlier, later = earlier[:, enough], later[:, enough]
    candidates = [spec for spec, ok in zip(specs, enough, strict=True) if ok]
    earlier_mean, later_mean = np.nanmean(earlier, axis=0), np.nanmean(later, axis=0)
    floors = np.array([BAND_FLOOR * (_band(_limits(spec)) or 0.0) for spec in candidates])
    scale = np.maximum(np.maximum(np.nanstd(earlier, axis=0), floors), 1e-9)
    shift = (later_mean - earlier_mean) / scale
    found = [
        MovedSensor(
            name=spec.name,
            description=spec.description,
            unit=spec.unit,
            direction="up" if shift[k] > 0 else "down",
            shift_sigma=round_sig(float(abs(shift[k])), 3),
            earlier_mean=round_sig(float(earlier_mean[k])),
            recent_mean=round_sig(float(later_mean[k])),
        )
        for k, spec in enumerate(candidates)
        if abs(shift[k]) > MOVE_SIGMAS
    ]
    found.sort(key=lambda m: (-m.shift_sigma, m.name))
    return found[:limit]


def _ranked(view: AlarmView) -> list[str]:
    """Involved sensors, the ones driving the alarm most first (contribution, then |z|)."""
    order = {name: i for i, name in enumerate(view.sensors)}
    return sorted(
        dict.fromkeys(view.sensors),
        key=lambda s: (-abs(view.contributions.get(s, 0.0)), -abs(view.z_scores.get(s, 0.0)), order[s]),
    )


def build_evidence(
    view: AlarmView,
    catalog: SensorCatalog,
    recent: Sequence[Sample],
    recent_all: Sequence[Sample] = (),
    *,
    limits: EvidenceLimits | None = None,
) -> AlarmEvidence:
    """The evidence for one alarm event.

    ``recent`` is the last hour of the involved sensors, ``recent_all`` the last hour of every
    sensor (for the sensors that moved together; it may be the same samples). Both as
    ``(epoch_s, {sensor: value})``, in any order.
    """
    limits = limits or EvidenceLimits()
    specs = catalog.by_name()
    end = _window_end(view, recent, recent_all)
    ranked = _ranked(view)
    chosen = ranked[: limits.max_sensors]
    involved = by_sensor((t, {n: row[n] for n in chosen if n in row}) for t, row in recent)
    sensors: list[SensorEvidence] = []
    for name in chosen:
        spec = specs.get(name)
        sensor_limits = _limits(spec) if spec else {}
        times, values = involved.get(name, _EMPTY)
        sensors.append(
            SensorEvidence(
                name=name if spec else clean_text(name, NAME_MAX),
                catalogued=spec is not None,
                description=spec.description if spec else None,
                unit=spec.unit if spec else None,
                limits=sensor_limits,
                core=spec.core if spec else False,
                z_score=_maybe(view.z_scores.get(name)),
                contribution=_maybe(view.contributions.get(name)),
                trend=summarise_trend(times, values, sensor_limits, end) if len(values) else None,
            )
        )
    return AlarmEvidence(
        plant=catalog.plant,
        alarm=AlarmFacts(
            id=clean_text(view.alarm_id, 200),
            key=clean_text(view.alarm_key, 200),
            kind=view.kind,
            tier=view.tier,
            priority=view.priority,
            event=view.event,
            opened_at=_iso(view.opened_at),
            last_seen=_iso(view.last_seen),
            duration_min=round(max((view.last_seen - view.opened_at).total_seconds(), 0.0) / 60, 1),
            readings=view.count,
            peak_value=_maybe(view.peak_value),
            peak_deviation=_maybe(view.peak_deviation),
            deviation_meaning=DEVIATION_MEANING[view.kind],
            last_value=_maybe(view.last_value),
            rule_text=clean_text(view.description),
        ),
        sensors=sensors,
        omitted_sensors=len(ranked) - len(chosen),
        moved_together=moved_together(recent_all, catalog, view.sensors, end=end, limit=limits.max_moved),
        window_min=round((end - min(t for t, _ in recent_all)) / 60, 1) if recent_all else 0.0,
        others_reporting=_reporting(recent_all, specs, set(view.sensors), since=end - REPORTING_S),
    )


def _reporting(recent_all: Sequence[Sample], specs: Mapping[str, SensorSpec], exclude: set[str], since: float) -> int:
    seen: set[str] = set()
    for moment, values in recent_all:
        if moment >= since:
            seen.update(name for name in values if name in specs and name not in exclude)
    return len(seen)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_NUMERIC_TYPES = (int, float)


def _numeric_values(document: dict[str, Any], wanted: set[str] | None) -> dict[str, float]:
    """The finite numbers of one payload (``wanted`` names only, if given). The hot loop of
    :func:`read_recent` (an hour is ~72,000 values): exact ``type`` checks, no call per value.

    >>> _numeric_values({"timestamp": "t", "A": 1, "B": True, "C": float("nan"), "D": 2.5, "E": "x"}, None)
    {'A': 1.0, 'D': 2.5}
    """
    values: dict[str, float] = {}
    finite = math.isfinite
    for name, value in document.items():
        # type(...) in ..., not isinstance: a bool is an int subclass and not a reading.
        numeric = type(value) in _NUMERIC_TYPES and finite(value)
        if numeric and name != "timestamp" and (wanted is None or name in wanted):
            values[name] = float(value)
    return values


async def read_recent(
    redis: Redis,
    stream_key: str,
    sensors: Iterable[str] | None,
    *,
    window_s: float = 3600,
    now: datetime | float | None = None,
    max_entries: int = 720,
) -> list[tuple[float, dict[str, float]]]:
    """The last ``window_s`` of the stream: ``(epoch_s, {sensor: value})`` in time order.

    Entries are chosen by stream id (entry time) between ``now - window_s`` and ``now``; at most
    ``max_entries``, the newest ones (read newest first with XREVRANGE, so the cap keeps the end
    of the window, the part that matters). ``sensors`` keeps only those names (``None``: all
    numeric fields). Entries that are not valid payloads are skipped: the worker dead-letters them.
    """
    now_s = time.time() if now is None else now.timestamp() if isinstance(now, datetime) else float(now)
    newest = str(int(now_s * 1000))
    oldest = str(max(int((now_s - window_s) * 1000), 0))
    wanted = None if sensors is None else set(sensors)
    reply = await redis.xrevrange(stream_key, max=newest, min=oldest, count=max_entries) or []
    history: list[tuple[float, dict[str, float]]] = []
    skipped = 0
    for _entry_id, entry_fields in reply:
        fields: dict[Any, Any] = dict(entry_fields or {})
        raw = fields.get(PAYLOAD_FIELD, fields.get(PAYLOAD_FIELD.encode()))
        try:
            document = orjson.loads(raw) if raw is not None else None
            if not isinstance(document, dict) or "timestamp" not in document:
                raise PayloadError("not a payload")
            moment = parse_timestamp(document["timestamp"]).timestamp()
        except (orjson.JSONDecodeError, PayloadError, TypeError):
            skipped += 1
            continue
        history.append((moment, _numeric_values(document, wanted)))
    if skipped:
        log.warning("tier 3 evidence: skipped %d stream entries that are not payloads in %s", skipped, stream_key)
    history.sort(key=lambda sample: sample[0])
    return history
