"""Timestamps of real exports: ISO 8601, epoch numbers or a common local form, zone or not.

A column is read in one of these ways, chosen once for the whole column:

* ``--time-format`` given: that :func:`~datetime.datetime.strptime` format for every cell;
* every cell a number: epoch seconds (milliseconds when beyond the year 9999, as the payloads);
* else ISO 8601 (``2014-04-01 00:00:00``, ``2014-04-01T00:00:00.5+02:00``, ``...Z``);
* else the first of a few common export forms (``2024/01/31 13:00:00``, ``31.01.2024 13:00``,
  ``31-Jan-2024 13:00:00``, ``31/01/2024 13:00``, ``01/31/2024 1:00:00 PM``, ...) that reads the
  most of the first and last 500 cells (at least half). Day-first and month-first slashes are told
  apart by the data (a day above 12); when both read as many cells the column is ambiguous and
  ``--time-format`` must say which.

A time without a zone is local time in ``timezone`` (default UTC). Around a daylight-saving
change, a wall-clock time that happens twice is read as the first of the two, and one that never
happens is shifted by the gap (:mod:`zoneinfo`'s ``fold=0`` rule). Times with a zone or an offset
keep it. A cell that cannot be read is NaN (the caller counts and drops the row).

>>> times, how = parse_times(["2014-04-01 00:00:00", "2014-04-01 00:05:00"], "Europe/Berlin")
>>> times.tolist(), how
([1396303200.0, 1396303500.0], 'ISO 8601, no zone: read as Europe/Berlin')
>>> parse_times(["31.01.2024 13:00", "bad"], "UTC")[1]
'%d.%m.%Y %H:%M, no zone: read as UTC'
>>> float(parse_times(["1700000000000"], "UTC")[0][0])
1700000000.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

#: Forms tried after ISO 8601, in order; the slash forms differ only in day/month order.
COMMON_FORMATS: tuple[str, ...] = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d-%b-%Y %H:%M:%S",
    "%d-%b-%y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
)
_SAMPLE = 500
_LAST_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z


class TimeFormatError(ValueError):
    """The column's times are ambiguous or the zone is unknown; the message says what to pass."""


def zone(name: str) -> tzinfo:
    """The zone called ``name`` (IANA, e.g. ``Europe/Berlin``, or ``UTC``)."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeFormatError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Berlin") from None


def parse_times(cells: Sequence[str], timezone: str = "UTC", time_format: str | None = None) -> tuple[np.ndarray, str]:
    """Epoch seconds per cell (NaN where unreadable) and a sentence saying how they were read."""
    local = zone(timezone)
    texts = [cell.strip() for cell in cells]
    filled = [t for t in texts if t]
    sample = filled[:_SAMPLE] + filled[-_SAMPLE:]
    if time_format is not None:
        reader: Callable[[str], datetime] = _strptime(time_format)
        how = time_format
    elif sample and all(_is_number(t) for t in sample):
        numbers = np.array([_number(t) for t in texts])
        return np.where(np.abs(numbers) > _LAST_EPOCH_S, numbers / 1000.0, numbers), "epoch seconds (UTC)"
    elif not sample or sum(_reads(datetime.fromisoformat, t) for t in sample) * 2 >= len(sample):
        reader, how = datetime.fromisoformat, "ISO 8601"
    else:
        common = _common_format(sample)
        # No form fits: read as ISO 8601 anyway, so the unreadable cells are NaN for the caller.
        how = common or "ISO 8601"
        reader = _strptime(common) if common else datetime.fromisoformat
    epoch = np.full(len(texts), np.nan)
    naive = False
    for row, text in enumerate(texts):
        if not text:
            continue
        try:
            moment = reader(text)
        except (ValueError, OverflowError):
            continue
        if moment.tzinfo is None:
            naive = True
            moment = moment.replace(tzinfo=local)
        epoch[row] = moment.timestamp()
    return epoch, f"{how}, no zone: read as {timezone}" if naive else f"{how} with zone"


def _common_format(sample: list[str]) -> str | None:
    """The common form that reads the most sampled cells (at least half of them), if any."""
    counts = {f: sum(_reads(_strptime(f), t) for t in sample) for f in COMMON_FORMATS}
    best = max(counts.values(), default=0)
    if best == 0 or best * 2 < len(sample):
        return None
    first = next(f for f in COMMON_FORMATS if counts[f] == best)
    swapped = first.replace("%d/%m", "%m/%d") if "%d/%m" in first else None
    if swapped is not None and counts.get(swapped) == best:
        raise TimeFormatError(
            f"times like {sample[0]!r} read both day-first and month-first; "
            f"say which with --time-format ('{first}' or '{swapped}')"
        )
    return first


def _strptime(form: str) -> Callable[[str], datetime]:
    return lambda text: datetime.strptime(text, form)


def _reads(reader: Callable[[str], datetime], text: str) -> bool:
    try:
        reader(text)
    except (ValueError, OverflowError):
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _number(text: str) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan
