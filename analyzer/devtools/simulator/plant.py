"""The simulated plant: daily cycles, shared drivers, noise, hourly laboratory results, anomalies.

Every reading is ``nominal + spread * (gains . drivers + wander * own + noise * e)`` (see
:mod:`analyzer.devtools.simulator.profiles`). The drivers are plant-wide: ambient temperature and product
demand follow the clock (UTC is taken as plant time), crude charge follows demand plus operator
moves, heater firing and crude quality wander slowly. Sensors that share a driver are correlated
(charge flow, exchanger pressure drops, pump current and vibration; heater outlet and column
temperatures; ambient and cooler outlets). Hourly sensors hold the value sampled at the first
payload of each hour. A few variable sensors are missing from a payload now and then; core and
hourly sensors never are.

The model is stepped chunk by chunk with its random state carried over, so a day generated in one
call equals the same day generated in pieces (what :func:`iter_live` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from analyzer.devtools.simulator.anomalies import AnomalyPlanner, Episode
from analyzer.devtools.simulator.profiles import DRIVERS, profile_for
from schemas.catalog import SensorCatalog

DEFAULT_ANOMALY_RATE: Final = 0.05
DEFAULT_MISSING_RATE: Final = 0.02
# Time constants (s) of the random parts of the drivers, in DRIVERS order, then of each sensor's own wander.
_DRIVER_TAU_S: Final = (3 * 3600.0, 2 * 3600.0, 240.0, 900.0, 4 * 3600.0)
_WANDER_TAU_S: Final = 1200.0


@dataclass(frozen=True)
class AnomalyLabel:
    """One injected anomaly: what kind, on which sensors, first and last payload (inclusive).

    From :meth:`PlantModel.advance`, an anomaly still going on at the end of the chunk is labelled
    with its true start and the last payload so far; the next chunk labels it again with the same
    start and a later end.

    ``detail`` says more where it helps scoring: the crossed limit of a ``limit_breach``
    (``high``, ``high_high``, ``low``, ``low_low``), the direction of a ``spike`` or ``drift``
    (``up``/``down``), or which sensor of a ``broken_correlation`` pair was decoupled.
    """

    kind: str
    sensors: tuple[str, ...]
    start: datetime
    end: datetime
    detail: str = ""


@dataclass(frozen=True)
class SimulatedPlant:
    """Payloads as arrays.

    Attributes
    ----------
    timestamps
        ``datetime64[ms]`` (UTC), one per payload.
    values
        ``(n_payloads, n_sensors)`` float64; NaN where a sensor is absent from the payload.
    sensor_names
        Column order of ``values`` (the catalogue's order).
    labels
        The injected anomalies.
    row_kind
        Per payload, ``"normal"`` or the kind of the anomaly it belongs to.
    """

    timestamps: np.ndarray
    values: np.ndarray
    sensor_names: list[str]
    labels: list[AnomalyLabel]
    row_kind: np.ndarray

    @property
    def anomalous(self) -> np.ndarray:
        """Boolean per payload: inside a labelled anomaly."""
        return np.asarray(self.row_kind != "normal")

    def column(self, sensor: str) -> np.ndarray:
        """The readings of one sensor (NaN where absent)."""
        return np.asarray(self.values[:, self.sensor_names.index(sensor)])


class PlantModel:
    """A plant that can be stepped forward: :meth:`advance` returns the next payloads.

    Parameters
    ----------
    catalog
        The sensors to simulate, in column order.
    start
        Time of the first payload (naive means UTC).
    seed
        Seed of the numpy generators: the same seed gives the same plant.
    anomaly_rate
        Expected share of payloads inside an injected anomaly, in [0, 1) (0 for none). The default
        0.05 gives about seven episodes a day. The normal readings do not depend on it.
    missing_rate
        Chance that a variable (non-core, 10 s) sensor is absent from a payload.
    interval_s
        Seconds between payloads.
    showcase, showcase_from
        Anomaly kinds to inject one after another a minute apart from payload ``showcase_from`` on
        (see ``AnomalyPlanner``).

    Examples
    --------
    >>> from datetime import datetime
    >>> from analyzer.catalog import load_catalog
    >>> model = PlantModel(load_catalog(), datetime(2026, 11, 23), seed=1)
    >>> first, second = model.advance(360), model.advance(360)
    >>> second.timestamps[0]
    np.datetime64('2026-11-23T01:00:00.000')
    """

    def __init__(
        self,
        catalog: SensorCatalog,
        start: datetime,
        *,
        seed: int = 0,
        anomaly_rate: float = DEFAULT_ANOMALY_RATE,
        missing_rate: float = DEFAULT_MISSING_RATE,
        interval_s: int = 10,
        showcase: tuple[str, ...] = (),
        showcase_from: int = 0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if not 0.0 <= missing_rate < 1.0:
            raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
        self.specs = list(catalog.sensors)
        self.sensor_names = [spec.name for spec in self.specs]
        self.interval_s = interval_s
        self.missing_rate = missing_rate
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self._start_ms = round(start.timestamp() * 1000)
        self._row = 0

        profiles = [profile_for(spec) for spec in self.specs]
        self._nominal = np.array([p.nominal for p in profiles])
        self._spread = np.array([p.spread for p in profiles])
        self._gains = np.array([[p.gains.get(d, 0.0) for d in DRIVERS] for p in profiles])
        self._noise = np.array([p.noise for p in profiles])
        self._wander = np.array([p.wander for p in profiles])
        # One decimal finer than the noise, like a transmitter's displayed resolution.
        self._decimals = np.clip(1 - np.floor(np.log10(self._spread * self._noise)), 0, 6).astype(int)
        self._hourly = np.array([spec.update_interval_s == 3600 for spec in self.specs])
        self._variable = np.array([not spec.core and spec.update_interval_s != 3600 for spec in self.specs])

        tau = np.concatenate([_DRIVER_TAU_S, np.full(len(self.specs), _WANDER_TAU_S)])
        self._phi = np.exp(-interval_s / tau)
        self._innovation = np.sqrt(1.0 - self._phi**2)

        driver_seq, sensor_seq, missing_seq, anomaly_seq = np.random.SeedSequence(seed).spawn(4)
        self._driver_rng = np.random.default_rng(driver_seq)
        self._sensor_rng = np.random.default_rng(sensor_seq)
        self._missing_rng = np.random.default_rng(missing_seq)
        self._state = self._driver_rng.standard_normal(tau.size)  # stationary start
        self._held_hour: int | None = None
        self._held = np.full(int(self._hourly.sum()), np.nan)
        self._planner = AnomalyPlanner(
            self.specs, profiles, np.random.default_rng(anomaly_seq), anomaly_rate, interval_s, showcase, showcase_from
        )

    def advance(self, n_payloads: int) -> SimulatedPlant:
        """Generate the next ``n_payloads`` payloads."""
        if n_payloads < 0:
            raise ValueError(f"n_payloads must be >= 0, got {n_payloads}")
        row0, n = self._row, n_payloads
        epoch_ms = self._start_ms + (row0 + np.arange(n, dtype=np.int64)) * self.interval_s * 1000
        latent = self._step_random_parts(n)
        drivers = _drivers(epoch_ms / 1000.0, latent[:, : len(DRIVERS)])
        own = latent[:, len(DRIVERS) :]
        noise = self._sensor_rng.standard_normal((n, len(self.specs)))
        values = self._nominal + self._spread * (drivers @ self._gains.T + self._wander * own + self._noise * noise)
        self._hold_hourly(values, epoch_ms)

        episodes = self._planner.episodes_in(row0, n)
        row_kind = self._planner.inject(episodes, row0, values, drivers)
        for column in np.unique(self._decimals):
            selected = self._decimals == column
            values[:, selected] = np.round(values[:, selected], int(column))

        absent = (self._missing_rng.random((n, len(self.specs))) < self.missing_rate) & self._variable
        for episode in episodes:  # labelled readings stay visible
            lo, hi = max(episode.start - row0, 0), min(episode.end - row0, n)
            absent[lo:hi, list(episode.sensors)] = False
        values[absent] = np.nan

        timestamps = epoch_ms.astype("datetime64[ms]")
        labels = [self._label(e, row0, n) for e in episodes if e.start < row0 + n and e.end > row0]
        self._row += n
        for array in (timestamps, values, row_kind):
            array.flags.writeable = False
        return SimulatedPlant(timestamps, values, list(self.sensor_names), labels, row_kind)

    def _time_of(self, row: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self._start_ms + row * self.interval_s * 1000)

    def _step_random_parts(self, n: int) -> np.ndarray:
        """AR(1) processes (unit variance) for the drivers and each sensor's wander, state carried over."""
        shocks = self._driver_rng.standard_normal((n, self._state.size)) * self._innovation
        out = np.empty_like(shocks)
        state, phi = self._state, self._phi
        for i in range(n):  # a recurrence; one vector step per payload is cheap (~1 us)
            state = phi * state + shocks[i]
            out[i] = state
        self._state = state
        return out

    def _hold_hourly(self, values: np.ndarray, epoch_ms: np.ndarray) -> None:
        """Hourly sensors keep the value sampled at the first payload of each hour."""
        if not self._hourly.any() or values.shape[0] == 0:
            return
        hour = epoch_ms // 3_600_000
        previous = np.concatenate([[self._held_hour if self._held_hour is not None else hour[0] - 1], hour[:-1]])
        new_hour = hour != previous
        source = np.maximum.accumulate(np.where(new_hour, np.arange(hour.size), -1))
        hourly = values[:, self._hourly]
        held = np.where(source[:, None] >= 0, hourly[np.maximum(source, 0)], self._held)
        values[:, self._hourly] = held
        self._held, self._held_hour = held[-1].copy(), int(hour[-1])

    def _label(self, episode: Episode, row0: int, n: int) -> AnomalyLabel:
        # The true start (maybe in an earlier chunk); the end so far (maybe continued in a later chunk).
        last = min(episode.end, row0 + n) - 1
        if episode.kind == "limit_breach":
            detail = episode.limit or ""
        elif episode.kind == "broken_correlation":
            detail = f"{self.sensor_names[episode.sensors[1]]} decoupled"
        elif episode.kind in ("spike", "drift"):
            detail = "up" if episode.magnitude > 0 else "down"
        else:
            detail = ""
        return AnomalyLabel(
            kind=episode.kind,
            sensors=tuple(self.sensor_names[i] for i in episode.sensors),
            start=self._time_of(episode.start),
            end=self._time_of(last),
            detail=detail,
        )


def _drivers(epoch_s: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """The plant-wide drivers (columns in DRIVERS order), each within -1..1."""
    hour = (epoch_s % 86_400) / 3600.0
    day = 2 * np.pi / 24.0
    ambient = np.tanh(0.85 * np.cos(day * (hour - 15.0)) + 0.25 * latent[:, 0])
    demand = np.tanh(0.7 * np.cos(day * (hour - 14.0)) + 0.2 * np.cos(2 * day * (hour - 9.0)) + 0.25 * latent[:, 1])
    feed = np.tanh(0.6 * demand + 0.45 * latent[:, 2])
    heat = np.tanh(0.2 * feed + 0.6 * latent[:, 3])
    quality = np.tanh(0.8 * latent[:, 4])
    return np.column_stack([ambient, demand, feed, heat, quality])


def _to_datetime(timestamp: np.datetime64) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        milliseconds=int(timestamp.astype("datetime64[ms]").astype(np.int64))
    )


def simulate_plant(
    catalog: SensorCatalog,
    start: datetime,
    n_payloads: int,
    *,
    seed: int = 0,
    anomaly_rate: float = DEFAULT_ANOMALY_RATE,
    missing_rate: float = DEFAULT_MISSING_RATE,
    interval_s: int = 10,
) -> SimulatedPlant:
    """Simulate ``n_payloads`` payloads from ``start``, one every ``interval_s`` seconds.

    Parameters are those of :class:`PlantModel`.

    Examples
    --------
    >>> from datetime import datetime
    >>> from analyzer.catalog import load_catalog
    >>> plant = simulate_plant(load_catalog(), datetime(2026, 11, 23), 8640, seed=7, anomaly_rate=0.2)
    >>> plant.values.shape
    (8640, 100)
    >>> sorted({str(kind) for kind in plant.row_kind})
    ['broken_correlation', 'drift', 'limit_breach', 'normal', 'spike', 'stuck']
    """
    model = PlantModel(
        catalog, start, seed=seed, anomaly_rate=anomaly_rate, missing_rate=missing_rate, interval_s=interval_s
    )
    return model.advance(n_payloads)


def format_timestamp(timestamp: np.datetime64) -> str:
    """ISO 8601 in UTC with ``Z``; milliseconds only when there are any.

    >>> format_timestamp(np.datetime64("2026-11-23T10:00:00.000"))
    '2026-11-23T10:00:00Z'
    """
    text = str(np.datetime_as_string(timestamp, unit="ms"))
    return (text[:-4] if text.endswith(".000") else text) + "Z"


def iter_payloads(plant: SimulatedPlant) -> Iterator[dict[str, object]]:
    """The payloads as the landing receives them: ``{"timestamp": "...Z", sensor: value, ...}``.

    Absent sensors are left out.

    >>> from datetime import datetime
    >>> from analyzer.catalog import load_catalog
    >>> payload = next(iter_payloads(simulate_plant(load_catalog(), datetime(2026, 11, 23, 10), 1)))
    >>> payload["timestamp"], type(payload["FI-101"])
    ('2026-11-23T10:00:00Z', <class 'float'>)
    """
    names = plant.sensor_names
    for timestamp, row in zip(plant.timestamps, plant.values.tolist(), strict=True):
        payload: dict[str, object] = {"timestamp": format_timestamp(timestamp)}
        payload.update((name, value) for name, value in zip(names, row, strict=True) if value == value)
        yield payload


def iter_live(
    catalog: SensorCatalog,
    *,
    seed: int = 0,
    start: datetime | None = None,
    anomaly_rate: float = DEFAULT_ANOMALY_RATE,
    missing_rate: float = DEFAULT_MISSING_RATE,
    interval_s: int = 10,
    chunk_payloads: int = 360,
) -> Iterator[dict[str, object]]:
    """Endless payloads for real-time mode; the caller paces them (one per ``interval_s``).

    ``start`` defaults to now, rounded down to the interval. The plant is generated
    ``chunk_payloads`` at a time with the same model as :func:`simulate_plant`, so the payloads
    equal those of ``simulate_plant`` with the same arguments. Use :class:`PlantModel` directly to
    get the labels as well.

    >>> from datetime import datetime
    >>> from analyzer.catalog import load_catalog
    >>> live = iter_live(load_catalog(), seed=3, start=datetime(2026, 11, 23, 10))
    >>> [next(live)["timestamp"] for _ in range(2)]
    ['2026-11-23T10:00:00Z', '2026-11-23T10:00:10Z']
    """
    if chunk_payloads <= 0:
        raise ValueError(f"chunk_payloads must be positive, got {chunk_payloads}")
    if start is None:
        now = datetime.now(UTC).timestamp()
        start = datetime.fromtimestamp(now - now % interval_s, tz=UTC)
    model = PlantModel(
        catalog, start, seed=seed, anomaly_rate=anomaly_rate, missing_rate=missing_rate, interval_s=interval_s
    )
    while True:
        yield from iter_payloads(model.advance(chunk_payloads))
