"""The sensor catalogue: load and validate the plant's sensors from a JSON file.

The shipped catalogue, ``plant.json`` beside this module, describes a crude distillation unit
with its utilities: 100 sensors, 8 of them core (present in every payload), the rest a mix of
10-second process readings and hourly laboratory results. ``SENSOR_CATALOG`` points elsewhere.

>>> catalog = load_catalog()
>>> len(catalog.sensors), len(catalog.core_names)
(100, 8)
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.catalog import SensorCatalog

__all__ = ["CatalogError", "load_catalog", "parse_catalog"]


class CatalogError(ValueError):
    """The sensor catalogue is missing, is not JSON, or does not validate.

    The message names the file and, where it applies, the line or the sensor.
    """


def load_catalog(path: Path | str | None = None) -> SensorCatalog:
    """Read and validate a sensor catalogue.

    Parameters
    ----------
    path
        The catalogue file. ``None`` reads the settings' ``sensor_catalog``
        (environment variable ``SENSOR_CATALOG``, default the shipped ``plant.json``).
        Nothing is cached: every call reads the file again.

    Returns
    -------
    SensorCatalog
        The validated catalogue.

    Raises
    ------
    CatalogError
        The file is missing or unreadable (the message names the path), is not valid JSON
        (names the path, line and column), or fails validation (names the sensor and the problem,
        e.g. limits out of order or duplicate names).
    """
    if path is None:
        from analyzer.settings import Settings  # read fresh so tests can change SENSOR_CATALOG

        path = Settings().sensor_catalog  # type: ignore[call-arg]  # all fields have defaults
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"sensor catalogue not found: {path} (set SENSOR_CATALOG to a valid file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"sensor catalogue {path} could not be read: {exc}") from exc
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str = "<string>") -> SensorCatalog:
    """Validate a catalogue given as JSON text; ``source`` names it in error messages.

    >>> parse_catalog('{"plant": "p", "sensors": [{"name": "TI-1", "unit": "degC", '
    ...               '"description": "t", "low": 5, "high": 1}]}')
    Traceback (most recent call last):
    ...
    analyzer.catalog.CatalogError: sensor catalogue <string> is invalid:
    sensors[0] (TI-1): sensor TI-1: alarm limits out of order: low=5 must be below high=1 ...
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"sensor catalogue {source} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    try:
        return SensorCatalog.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(error, raw) for error in exc.errors())
        raise CatalogError(f"sensor catalogue {source} is invalid: {problems}") from None


def _describe(error: ErrorDetails, raw: object) -> str:
    """One validation error as ``sensors[3] (TI-101): message``, naming the sensor where known."""
    loc = error["loc"]
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        return message
    where = ""
    if len(loc) >= 2 and loc[0] == "sensors" and isinstance(loc[1], int):
        where = f"sensors[{loc[1]}]"
        name = _sensor_name(raw, loc[1])
        if name:
            where += f" ({name})"
        rest = ".".join(str(part) for part in loc[2:])
        if rest:
            where += f".{rest}"
    else:
        where = ".".join(str(part) for part in loc)
    return f"{where}: {message}"


def _sensor_name(raw: object, index: int) -> str | None:
    if isinstance(raw, dict):
        sensors = raw.get("sensors")
        if isinstance(sensors, list) and 0 <= index < len(sensors) and isinstance(sensors[index], dict):
            name = sensors[index].get("name")
            return name if isinstance(name, str) else None
    return None
