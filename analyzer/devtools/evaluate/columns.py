"""Column headers of real exports mapped to valid sensor names.

A sensor name must match ``^[A-Za-z0-9_.\\-]+$`` and be at most 64 characters (the catalogue's
rule). Historian exports name columns ``"Reactor temp (°C)"`` or ``"Flow, m³/h"``; such a header
becomes a valid name by keeping its letters, digits, ``_``, ``.`` and ``-``, spelling out the few
unit symbols that carry meaning (``°`` -> ``deg``, ``%`` -> ``pct``, ``/`` -> ``_per_``), folding
accents to ASCII and joining the rest with ``_``. A header that is already valid is kept as it is;
two headers that map to the same name get ``_2``, ``_3``, ... in column order.

>>> sensor_names(["TI-101", "Reactor temp (°C)", "Flow, m³/h", "Flow m3 h", "%"])
['TI-101', 'Reactor_temp_degC', 'Flow_m3_per_h', 'Flow_m3_h', 'pct']
>>> len(sensor_name("x" * 70 + " y"))
64
>>> sensor_names(["a b", "a_b", "", "é"])
['a_b', 'a_b_2', 'column_3', 'e']
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 64
VALID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SYMBOLS = {"°": "deg", "%": "pct", "/": "_per_", "²": "2", "³": "3", "µ": "u", "μ": "u", "Ω": "ohm"}
_INVALID_RUN = re.compile(r"[^A-Za-z0-9_.\-]+")


def is_valid(name: str) -> bool:
    return len(name) <= MAX_LENGTH and bool(VALID.match(name))


def sensor_name(header: str) -> str:
    """One header as a valid sensor name (possibly empty when nothing usable is left).

    >>> sensor_name("  Pump 3 vibration [mm/s] ")
    'Pump_3_vibration_mm_per_s'
    """
    text = header.strip()
    if is_valid(text):
        return text
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _INVALID_RUN.sub("_", text)
    text = re.sub(r"_+", "_", text).strip("_")
    return text[:MAX_LENGTH].rstrip("_")


def sensor_names(headers: list[str]) -> list[str]:
    """Valid, unique sensor names for ``headers``, in order (see the module docstring)."""
    names: list[str] = []
    taken: set[str] = set()
    for position, header in enumerate(headers, start=1):
        base = sensor_name(header) or f"column_{position}"
        name, suffix = base, 2
        while name in taken:
            tail = f"_{suffix}"
            name = base[: MAX_LENGTH - len(tail)] + tail
            suffix += 1
        taken.add(name)
        names.append(name)
    return names
