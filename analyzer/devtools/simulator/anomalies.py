"""Planned, labelled anomalies injected into simulated readings.

Five kinds, each a thing that goes wrong in a real plant:

``spike``
    one to three readings far off (a transmitter glitch, a bumped impulse line);
``drift``
    a slow ramp over 10 to 30 minutes away from the true value (calibration drift, fouling);
``stuck``
    the value freezes for 5 to 30 minutes (a frozen transmitter or a dead communication link);
``limit_breach``
    the value sits past one alarm limit (High, High-High, Low or Low-Low) for 2 to 10 minutes;
``broken_correlation``
    of a pair that moves together, the second moves against the first for 10 to 30 minutes,
    while each stays inside its normal band (a failing flow element, a bypass left open).

Episodes never overlap, so each payload has one kind: ``normal`` or the episode's kind. The gap
after an episode is exponential, its mean chosen so that the expected share of payloads inside an
episode is ``share``. Episodes are planned lazily, one at a time, so a plant generated in one go
and the same plant generated chunk by chunk get the same ones.
Hourly (laboratory) sensors are never the target: their values change only on the hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from analyzer.devtools.simulator.profiles import CORRELATED_PAIRS, DRIVERS, Profile
from schemas.catalog import SensorSpec

KINDS: Final = ("spike", "drift", "stuck", "limit_breach", "broken_correlation")
_KIND_WEIGHTS: Final = (0.3, 0.15, 0.15, 0.25, 0.15)
#: Duration range of each kind, in seconds.
_DURATION_S: Final = {
    "spike": (10, 30),
    "drift": (600, 1800),
    "stuck": (300, 1800),
    "limit_breach": (120, 600),
    "broken_correlation": (600, 1800),
}
_MIN_GAP_S: Final = 60
_SHOWCASE_READINGS: Final = 4
# Which limit a breach crosses, when the sensor has it.
_LIMIT_WEIGHTS: Final = {"high": 0.35, "high_high": 0.25, "low": 0.25, "low_low": 0.15}


@dataclass
class Episode:
    """One planned anomaly, in row numbers counted from the simulation start.

    ``sensors`` index the catalogue; ``magnitude`` is in spreads (signed where it has a direction);
    ``limit`` names the crossed limit of a ``limit_breach`` and ``seed`` its jitter; ``anchor`` is
    state captured at the first row (the frozen value of ``stuck``, the driver value of
    ``broken_correlation``).
    """

    kind: str
    sensors: tuple[int, ...]
    start: int
    length: int
    magnitude: float
    limit: str | None = None
    anchor: float | None = None
    seed: int = 0

    @property
    def end(self) -> int:
        """One past the last row."""
        return self.start + self.length


class AnomalyPlanner:
    """Plans episodes lazily and writes them into chunks of readings.

    Parameters
    ----------
    specs, profiles
        The catalogue's sensors and their behaviour, in column order.
    rng
        The planner's own generator, so the anomaly rate does not change the normal readings.
    share
        Expected share of payloads inside an anomaly, in [0, 1); 0 disables injection.
    interval_s
        Seconds between payloads.
    showcase, showcase_from
        Kinds to plan in this order, a minute apart and at their shortest, from row
        ``showcase_from`` on (the local demo shows each kind within its first half hour live).
    """

    def __init__(
        self,
        specs: list[SensorSpec],
        profiles: list[Profile],
        rng: np.random.Generator,
        share: float,
        interval_s: int,
        showcase: tuple[str, ...] = (),
        showcase_from: int = 0,
    ) -> None:
        unknown = [k for k in showcase if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown anomaly kinds {unknown}; the kinds are {', '.join(KINDS)}")
        self._showcase = list(showcase)
        self._showcase_from = showcase_from
        if not 0.0 <= share < 1.0:
            raise ValueError(f"anomaly rate is the share of payloads inside an anomaly, in [0, 1); got {share}")
        self.share = share
        self.interval_s = interval_s
        self._min_gap = max(1, round(_MIN_GAP_S / interval_s))
        mean_length = sum(
            weight * max(1.0, (low + high) / 2 / interval_s)
            for weight, (low, high) in zip(_KIND_WEIGHTS, (_DURATION_S[k] for k in KINDS), strict=True)
        )
        # share = length / (length + min gap + mean gap)
        self._mean_gap = max(0.0, mean_length * (1 - share) / share - self._min_gap) if share else np.inf
        self._rng = rng
        self._specs = specs
        self._profiles = profiles
        index = {spec.name: i for i, spec in enumerate(specs)}
        self._fast = [i for i, spec in enumerate(specs) if spec.update_interval_s != 3600]
        self._limited = [i for i in self._fast if any(_limits(specs[i]).values())]
        self._pairs = [
            (index[a], index[b], DRIVERS.index(driver))
            for a, b, driver in CORRELATED_PAIRS
            if a in index and b in index and index[a] in self._fast and index[b] in self._fast
        ]
        self._planned: list[Episode] = []
        self._next_free = 0

    def episodes_in(self, row0: int, n_rows: int) -> list[Episode]:
        """Episodes overlapping rows ``row0 .. row0 + n_rows - 1``, planning ahead as needed."""
        if (self.share > 0 or self._showcase) and self._fast:
            while self._next_free < row0 + n_rows and (self.share > 0 or self._showcase):
                episode = self._plan_next()
                self._planned.append(episode)
                self._next_free = episode.end + self._min_gap
        self._planned = [e for e in self._planned if e.end > row0]  # forget what is past
        return [e for e in self._planned if e.start < row0 + n_rows]

    def _plan_next(self) -> Episode:
        rng = self._rng
        showcased = bool(self._showcase) and (self.share == 0 or self._next_free >= self._showcase_from)
        if showcased:
            kind = self._showcase.pop(0)
            start = max(self._next_free, self._showcase_from) + self._min_gap
        else:
            start = self._next_free + int(rng.exponential(self._mean_gap))
            if self._showcase and start >= self._showcase_from:
                start = self._next_free  # leave room: the showcase starts at its row
                self._next_free = self._showcase_from
                return self._plan_next()
            kind = str(rng.choice(KINDS, p=_KIND_WEIGHTS))
        if kind == "limit_breach" and not self._limited:
            kind = "spike"
        if kind == "broken_correlation" and not self._pairs:
            kind = "drift"
        low_s, high_s = _DURATION_S[kind]
        # A showcased anomaly is as short as its kind allows, but never shorter than the alarm
        # on-delay the shipped policy applies to statistical alarms (a one-reading spike is filtered
        # by design, and the demo should show what the product raises).
        seconds = max(low_s, _SHOWCASE_READINGS * self.interval_s) if showcased else rng.uniform(low_s, high_s)
        length = max(1, round(seconds / self.interval_s))
        sign = float(rng.choice((-1.0, 1.0)))
        if kind == "limit_breach":
            sensor = int(rng.choice(self._limited))
            present = [name for name, value in _limits(self._specs[sensor]).items() if value is not None]
            weights = np.array([_LIMIT_WEIGHTS[name] for name in present])
            limit = str(rng.choice(present, p=weights / weights.sum()))
            seed = int(rng.integers(2**32))
            return Episode(kind, (sensor,), start, length, rng.uniform(0.1, 0.4), limit=limit, seed=seed)
        if kind == "broken_correlation":
            first, second, _ = self._pairs[int(rng.integers(len(self._pairs)))]
            return Episode(kind, (first, second), start, length, 1.0)
        sensor = int(rng.choice(self._fast))
        magnitude = {"spike": rng.uniform(1.2, 2.5), "drift": rng.uniform(1.0, 2.0), "stuck": 0.0}[kind]
        return Episode(kind, (sensor,), start, length, sign * magnitude)

    def inject(self, episodes: list[Episode], row0: int, values: np.ndarray, drivers: np.ndarray) -> np.ndarray:
        """Write ``episodes`` into ``values`` (rows from ``row0``) in place; return each row's kind."""
        n_rows = values.shape[0]
        row_kind = np.full(n_rows, "normal", dtype="<U18")
        for episode in episodes:
            lo, hi = max(episode.start, row0) - row0, min(episode.end, row0 + n_rows) - row0
            if lo >= hi:
                continue
            row_kind[lo:hi] = episode.kind
            sensor = episode.sensors[-1]
            spread = self._profiles[sensor].spread
            if episode.kind == "spike":
                values[lo:hi, sensor] += episode.magnitude * spread
            elif episode.kind == "drift":
                done = (np.arange(lo, hi) + row0 - episode.start + 1) / episode.length
                values[lo:hi, sensor] += episode.magnitude * spread * done
            elif episode.kind == "stuck":
                if episode.anchor is None:
                    episode.anchor = float(values[lo, sensor])
                values[lo:hi, sensor] = episode.anchor
            elif episode.kind == "limit_breach":
                values[lo:hi, sensor] = self._breach_values(episode)[
                    lo + row0 - episode.start : hi + row0 - episode.start
                ]
            else:  # broken_correlation: the second sensor mirrors its share of the shared driver
                driver = next(d for a, b, d in self._pairs if (a, b) == episode.sensors)
                if episode.anchor is None:
                    episode.anchor = float(drivers[lo, driver])
                gain = self._profiles[sensor].gains.get(DRIVERS[driver], 0.0)
                moved = np.clip(drivers[lo:hi, driver], -1.0, 1.0) - episode.anchor
                values[lo:hi, sensor] -= 2.0 * gain * spread * moved
        return row_kind

    def _breach_values(self, episode: Episode) -> np.ndarray:
        """Readings past the breached limit by ``magnitude`` spreads (+-30 %), never past the next one."""
        sensor = episode.sensors[0]
        assert episode.limit is not None
        limits = _limits(self._specs[sensor])
        limit = limits[episode.limit]
        assert limit is not None
        upward = episode.limit in ("high", "high_high")
        offset = episode.magnitude * self._profiles[sensor].spread
        beyond = {"high": "high_high", "low": "low_low"}.get(episode.limit)
        if beyond is not None and limits[beyond] is not None:
            offset = min(offset, 0.7 * abs(limits[beyond] - limit))  # type: ignore[operator]
        # The episode's own generator: the same readings however the simulation is chunked.
        noise = np.random.default_rng(episode.seed).standard_normal(episode.length)
        jitter = 1.0 + 0.3 * np.clip(noise, -2.0, 2.0) / 2.0
        return limit + (1.0 if upward else -1.0) * offset * jitter


def _limits(spec: SensorSpec) -> dict[str, float | None]:
    return {"low_low": spec.low_low, "low": spec.low, "high": spec.high, "high_high": spec.high_high}
