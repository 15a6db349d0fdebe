"""The ``offline`` provider: an explanation written from the tier 1 and 2 evidence, no model.

It is the local default and the fallback whenever a model cannot answer, so it says what a
careful operator would read off the trends, in words: which limit, how far beyond it, for how
long, where the value is heading and how fast, which other sensors moved with it, what the
catalogue says the sensor measures and on which equipment, and what to check first for that
kind of alarm. It is deterministic (same evidence, same text) and marked ``provider: offline``.

What it cannot do is reason about the plant: its causes are the usual ones for the kind of
alarm and the kind of measurement (temperature, pressure, flow, level, analyser, ...; read from
the ISA tag letters, ``TI-101`` is a temperature), ordered by what the evidence shows (sensors
moving together point to the process, a lone sensor to its instrument). Its confidence is
therefore never ``high``: ``medium`` where the kind of alarm points at the cause directly
(limit breaches, flatline, stale, out of range), ``low`` where it does not (z-score, rate of
change, the plant-wide models).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from analyzer.tiers.llm.evidence import AlarmEvidence, MovedSensor, SensorEvidence
from analyzer.tiers.llm.types import CallUsage, Explanation
from schemas.llm import (
    CAUSES_MAX,
    CHECKS_MAX,
    EQUIPMENT_MAX,
    ITEM_MAX,
    SUMMARY_MAX,
    Confidence,
    ContextAnswer,
    ProviderName,
)

OFFLINE_MODEL = "offline-rules-v1"

LIMIT_LABEL = {"high": "High", "high_high": "High-High", "low": "Low", "low_low": "Low-Low"}
#: Equipment tags in catalogue descriptions: ``H-101``, ``P-101A/B``, ``E-101`` (of ``E-101/E-102``).
EQUIPMENT_TAG = re.compile(r"\b[A-Z]{1,2}-\d{3}[A-Z]?(?:/[A-Z]\b(?!-))?")
#: Up to two plain words before a tag name the equipment: "Crude heater H-101".
EQUIPMENT_NAME = re.compile(r"((?:\b[A-Za-z]+\s+){0,2})(\b[A-Z]{1,2}-\d{3}[A-Z]?(?:/[A-Z]\b(?!-))?)")

#: What the tag's letters say it measures (ISA-5.1 first letters; ``PD`` is differential pressure).
MEASURES = {
    "PD": "differential pressure",
    "T": "temperature",
    "P": "pressure",
    "F": "flow",
    "L": "level",
    "A": "analyser",
    "I": "motor current",
    "V": "vibration",
    "S": "speed",
}

#: The usual process causes of a value too high or too low, by measurement.
PROCESS_CAUSES: dict[tuple[str, str], list[str]] = {
    ("temperature", "high"): [
        "more heat input (fuel, steam, reaction) or less flow through the equipment than its duty",
        "loss of cooling: cooling medium flow, a fouled or bypassed exchanger, a failed fan",
    ],
    ("temperature", "low"): [
        "less heat input (fuel, steam) or more flow than the heat duty matches",
        "a burner, steam trap or heating-medium problem, or colder feed",
    ],
    ("pressure", "high"): [
        "an outlet restriction or a control valve closing (check its output and position)",
        "more vapour load or less condensing/cooling than the load (overhead systems)",
    ],
    ("pressure", "low"): [
        "a control, relief or vent valve opening, or a leak",
        "less feed or vapour load, or a pump or compressor losing performance",
    ],
    ("differential pressure", "high"): [
        "fouling or a blockage (plugged exchanger, filter or strainer; trays flooding)",
        "more throughput than usual",
    ],
    ("differential pressure", "low"): [
        "less throughput or a bypass opened",
        "damaged internals, or a leak across the equipment",
    ],
    ("flow", "high"): [
        "a control valve opening further or a setpoint change",
        "lower pressure downstream, or a bypass opened",
    ],
    ("flow", "low"): [
        "a control valve closing, or a plugged strainer or filter",
        "a pump problem: cavitation, a trip of the running pump, worn impeller",
    ],
    ("level", "high"): [
        "outflow lower than inflow: level control valve, pump or a downstream restriction",
        "more feed than is drawn off (risk of carry-over or overflow)",
    ],
    ("level", "low"): [
        "outflow higher than inflow, or the feed was lost",
        "a level control valve stuck open (risk of losing the pump's suction)",
    ],
    ("analyser", "high"): [
        "a real change in composition (feed quality, combustion air, reaction conditions)",
        "the analyser's sample system, conditioning or calibration",
    ],
    ("analyser", "low"): [
        "a real change in composition (feed quality, combustion air, reaction conditions)",
        "the analyser's sample system, conditioning or calibration",
    ],
    ("motor current", "high"): [
        "the machine working harder: more flow, denser fluid, or mechanical binding",
        "an electrical problem on the motor or its supply",
    ],
    ("motor current", "low"): [
        "loss of load: closed valve, dry running or gas in the pump, broken coupling",
        "the motor stopped or tripped",
    ],
    ("vibration", "high"): [
        "bearing wear, misalignment or imbalance",
        "cavitation or operation far from the machine's design point",
    ],
    ("vibration", "low"): ["the machine stopped or the probe lost contact", "a sensor or wiring fault"],
    ("speed", "high"): ["the governor or speed controller raising speed for more load", "a control fault"],
    ("speed", "low"): ["more load than the driver can carry, or a control fault", "the machine slowing to a stop"],
}
GENERIC_CAUSES = {
    "high": ["the process moving above its operating window (a load, feed or setpoint change)"],
    "low": ["the process moving below its operating window (a load, feed or setpoint change)"],
}

CONFIDENCE: dict[str, Confidence] = {
    "high": "medium",
    "high_high": "medium",
    "low": "medium",
    "low_low": "medium",
    "flatline": "medium",
    "stale": "medium",
    "out_of_range": "medium",
    "zscore": "low",
    "rate_of_change": "low",
    "forest": "low",
    "pca": "low",
}


def measures(sensor: SensorEvidence) -> str | None:
    """What a sensor measures, from its tag's first letters (``TI-101`` -> temperature).

    >>> from analyzer.tiers.llm.evidence import SensorEvidence
    >>> measures(SensorEvidence(name="PDI-301", catalogued=True)), measures(SensorEvidence(name="x", catalogued=False))
    ('differential pressure', None)
    """
    if not sensor.catalogued:
        return None
    letters = re.match(r"[A-Z]+", sensor.name)
    if not letters:
        return None
    for prefix in ("PD", letters.group()[0]):
        if letters.group().startswith(prefix) and prefix in MEASURES:
            return MEASURES[prefix]
    return None


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _qty(value: float | None, unit: str | None) -> str:
    return f"{_num(value)} {unit}".rstrip() if unit else _num(value)


def _minutes(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.1f} h"
    return f"{value:g} min"


def name_of(sensor: SensorEvidence) -> str:
    """A sensor as the operator reads it; a name not in the catalogue is quoted and marked."""
    if not sensor.catalogued:
        return f'"{sensor.name}" (not in the catalogue)'
    return f"{sensor.name} ({sensor.description}, {sensor.unit})"


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at a sentence end where one is close enough.

    >>> fit("One two. Three four five.", 16)
    'One two.'
    >>> fit("abcdefghij", 5)
    'abcd…'
    """
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind(". ")
    return cut[: end + 1] if end >= limit // 3 else cut[: limit - 1] + "…"


def equipment(descriptions: Iterable[str]) -> list[str]:
    """Equipment named in catalogue descriptions, each once, with up to two words before its tag.

    >>> equipment(["Crude heater H-101 fuel gas flow", "H-101 stack temperature", "Cold train E-101/E-102 dP"])
    ['Crude heater H-101', 'Cold train E-101', 'E-102']
    """
    found: dict[str, str] = {}
    for text in descriptions:
        for words, tag in EQUIPMENT_NAME.findall(text):
            if tag not in found:
                found[tag] = f"{words}{tag}".strip()
    return list(found.values())


def trend_text(sensor: SensorEvidence) -> str:
    trend = sensor.trend
    if trend is None:
        return f"No recent history of {sensor.name} was available."
    unit = sensor.unit or ""
    parts = [
        f"Over the last {_minutes(trend.span_min)} {sensor.name} went from {_qty(trend.first, unit)} to "
        f"{_qty(trend.last, unit)} (range {_num(trend.min)} to {_num(trend.max)})"
    ]
    if trend.slope_per_h is not None:
        parts.append(f"{trend.direction} at {trend.slope_per_h:+g} {unit}/h".replace(" /h", "/h"))
    else:
        parts.append(trend.direction)
    text = ", ".join(parts)
    if trend.beyond_alarm_min > 0:
        text += f"; {_minutes(trend.beyond_alarm_min)} beyond its alarm limits"
        if trend.beyond_trip_min > 0:
            text += f", {_minutes(trend.beyond_trip_min)} of it beyond the trip limits"
    return text + "."


def _moved_phrase(moved: MovedSensor) -> str:
    return f"{moved.name} ({moved.description}) {moved.direction} {moved.shift_sigma:g} sigma"


def moved_text(evidence: AlarmEvidence) -> str:
    if evidence.moved_together:
        listed = ", ".join(_moved_phrase(m) for m in evidence.moved_together)
        return f"Other sensors that moved in the last 15 min: {listed}."
    if evidence.window_min > 0:
        return "No other catalogued sensor moved noticeably in the last 15 min."
    return "No plant-wide history was available to see which other sensors moved."


def _limits_text(sensor: SensorEvidence) -> str:
    shown = [f"{LIMIT_LABEL[n]} {_num(v)}" for n, v in sensor.limits.items()]
    return ", ".join(shown) if shown else "no alarm limits in the catalogue"


def _event_text(evidence: AlarmEvidence) -> str:
    alarm = evidence.alarm
    if alarm.event == "escalated":
        return f"The alarm was escalated to {alarm.priority} priority."
    return f"New {alarm.priority}-priority alarm."


def _direction(kind: str) -> str:
    return "high" if kind.startswith("high") else "low"


def _limit_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    side = _direction(alarm.kind)
    limit = sensor.limits.get(alarm.kind)
    word = "above" if side == "high" else "below"
    unit = sensor.unit
    summary = (
        f"{_event_text(evidence)} {name_of(sensor)} is {word} its {LIMIT_LABEL[alarm.kind]} limit"
        f"{' of ' + _qty(limit, unit) if limit is not None else ''}: last {_qty(alarm.last_value, unit)}, "
        f"peak {_qty(alarm.peak_value, unit)} ({_qty(alarm.peak_deviation, unit)} beyond the limit), "
        f"for {_minutes(alarm.duration_min)} ({alarm.readings} readings). {trend_text(sensor)}"
    )
    trip = f"{side}_{side}"
    if alarm.kind == side and trip in sensor.limits and alarm.last_value is not None:
        gap = abs(sensor.limits[trip] - alarm.last_value)
        summary += (
            f" The {LIMIT_LABEL[trip]} trip limit {_qty(sensor.limits[trip], unit)} is {_num(round(gap, 4))} away."
        )
    summary += f" {moved_text(evidence)}"
    kind = measures(sensor)
    causes = list(PROCESS_CAUSES.get((kind or "", side), GENERIC_CAUSES[side]))
    instrument = f"an instrument fault on {sensor.name} (drift, calibration), if no related measurement confirms it"
    if evidence.moved_together:
        names = ", ".join(m.name for m in evidence.moved_together[:3])
        causes.insert(0, f"a process change seen by several instruments: {names} moved at the same time")
        causes.append(instrument)
    else:
        causes.append(instrument)
    checks = [f"Confirm the reading with a related or redundant measurement, or a local gauge, for {sensor.name}."]
    if evidence.moved_together:
        checks.append(
            f"Look at {', '.join(m.name for m in evidence.moved_together[:3])} alongside it: what moved first?"
        )
    checks.append(
        f"Check the controller acting on this part of the process: setpoint, output and valve position ({word} normal)."
    )
    checks.append("Check for recent operating changes: feed or rate change, equipment switched, setpoint changed.")
    if alarm.kind in {"high_high", "low_low"}:
        checks.insert(
            0, f"{LIMIT_LABEL[alarm.kind]} is a trip limit: follow the alarm response procedure for {sensor.name} now."
        )
    return summary, causes, checks


def _zscore_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    z = sensor.z_score
    side = "above" if (z or 0) >= 0 else "below"
    summary = (
        f"{_event_text(evidence)} {name_of(sensor)} is unusual against its last 24 h: "
        f"{'z = ' + _num(z) + ', ' if z is not None else ''}peak |z| {_num(alarm.peak_deviation)}, "
        f"{side} its usual value, last {_qty(alarm.last_value, sensor.unit)}, for {_minutes(alarm.duration_min)}."
    )
    if sensor.trend is None or sensor.trend.beyond_alarm_min == 0:
        summary += (
            f" It is still within its alarm limits ({_limits_text(sensor)}), so this is an early warning, not a breach."
        )
    summary += f" {trend_text(sensor)} {moved_text(evidence)}"
    side_word = "high" if side == "above" else "low"
    causes = [
        "a real but gradual process change (feed quality, throughput, ambient conditions, operating mode)",
        f"instrument drift or a calibration shift on {sensor.name}",
    ]
    kind = measures(sensor)
    if kind and (kind, side_word) in PROCESS_CAUSES:
        causes.insert(1, PROCESS_CAUSES[(kind, side_word)][0])
    if not evidence.moved_together:
        causes.reverse()  # alone, the instrument is the likelier story
    checks = [
        f"Compare {sensor.name} with related measurements: do they show the same change?",
        "Check for recent operating changes (rate, feed, setpoints) that explain a new level.",
        f"If nothing else moved, check {sensor.name}'s calibration record and recent maintenance.",
    ]
    return summary, causes, checks


def _flatline_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    minutes = (
        alarm.peak_deviation
        if alarm.peak_deviation is not None
        else (sensor.trend.unchanged_min if sensor.trend else None)
    )
    summary = (
        f"{_event_text(evidence)} {name_of(sensor)} has not changed from {_qty(alarm.last_value, sensor.unit)} "
        f"for {_minutes(minutes or 0)}. A live process measurement normally shows some noise; a value frozen this "
        "long usually means the instrument or its data path, not the process."
    )
    if sensor.core:
        summary += " It is a core measurement: control loops and other alarms using it are blind while it is frozen."
    summary += f" {moved_text(evidence)}"
    causes = [
        "the transmitter has failed or frozen and the control system holds its last value",
        "a blocked, frozen or closed impulse line or isolation valve (pressure, level, flow transmitters)",
        "a communication fault upstream that keeps repeating the last good value",
        "the process is genuinely at rest (equipment stopped or bypassed)",
    ]
    checks = [
        f"Compare {sensor.name} with a local gauge or a redundant transmitter.",
        "Check the transmitter's status and diagnostics, its impulse lines and isolation valves (blocked, frozen, "
        "closed).",
        "Check the tag's quality flag and the data link (gateway, historian) for a held value.",
    ]
    return summary, causes, checks


def _stale_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    since = (
        alarm.peak_deviation
        if alarm.peak_deviation is not None
        else (sensor.trend.since_last_min if sensor.trend else None)
    )
    summary = (
        f"{_event_text(evidence)} No new value of {name_of(sensor)} has arrived for {_minutes(since or 0)}; "
        f"the last was {_qty(alarm.last_value, sensor.unit)}."
    )
    if evidence.others_reporting:
        summary += (
            f" {evidence.others_reporting} other sensors kept arriving on the stream in the last 5 min, so the fault is"
            " specific to this tag (instrument, I/O card, tag mapping) rather than the whole data feed."
        )
    elif evidence.window_min > 0:
        summary += " No other sensor arrived in the last 5 min either: the whole data feed may have stopped."
    causes = [
        "communication: the link from this instrument or its I/O to the control system or data feed",
        "the instrument or its I/O card is offline or powered down",
        "the tag was removed or renamed in the data feed's mapping",
    ]
    checks = [
        f"Check the data link and quality status of {sensor.name} in the control system.",
        "Check whether other tags from the same I/O card, controller or gateway also stopped updating.",
        "Check the instrument locally (power, display) and any recent changes to the feed's tag list.",
    ]
    return summary, causes, checks


def _rate_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    unit = sensor.unit or ""
    summary = (
        f"{_event_text(evidence)} {name_of(sensor)} changed faster than it normally can: up to "
        f"{_num(alarm.peak_deviation)} {unit}/min, last {_qty(alarm.last_value, unit)}. {trend_text(sensor)} "
        f"{moved_text(evidence)}"
    )
    upset = "a process upset: a trip, a valve moving suddenly, a feed or load change"
    fault = f"an instrument fault on {sensor.name}: a spike, loose wiring, a signal dropout or a transmitter reset"
    causes = [upset, fault] if evidence.moved_together else [fault, upset]
    checks = [
        "Look at the trend around the jump: a step and back points to the instrument, a sustained move to the process.",
        f"Compare {sensor.name} with related measurements at the same moment.",
        "Check the event log for trips, valve movements or operator actions at that time.",
    ]
    return summary, causes, checks


def _range_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm, sensor = evidence.alarm, evidence.primary
    summary = (
        f"{_event_text(evidence)} {name_of(sensor)} reads {_qty(alarm.last_value, sensor.unit)}, outside what the "
        f"instrument can plausibly measure (by {_qty(alarm.peak_deviation, sensor.unit)}). That is almost always a "
        f"signal or instrument fault, not the process. {moved_text(evidence)}"
    )
    causes = [
        "a failed transmitter or a signal outside its live range (open or short circuit in the loop)",
        "a wrong range, scaling or unit in the configuration (after maintenance or a change)",
        "a data feed error (wrong tag mapped to this name)",
    ]
    checks = [
        f"Check the transmitter status and the loop signal of {sensor.name}.",
        "Check recent configuration or maintenance changes to its range and scaling.",
        "Use a redundant or local measurement until it is fixed; do not act on this value.",
    ]
    return summary, causes, checks


def _model_answer(evidence: AlarmEvidence) -> tuple[str, list[str], list[str]]:
    alarm = evidence.alarm
    model = "IsolationForest" if alarm.kind == "forest" else "PCA"
    top = evidence.sensors[:4]
    driving = "; ".join(
        f"{name_of(s)}"
        + (f" contribution {_num(s.contribution)}" if s.contribution is not None else "")
        + (f", z {_num(s.z_score)}" if s.z_score is not None else "")
        + (f", {s.trend.direction}, last {_num(s.trend.last)}" if s.trend else "")
        for s in top
    )
    summary = (
        f"{_event_text(evidence)} The plant-wide {model} model flags an unusual combination of readings "
        f"for {_minutes(alarm.duration_min)} (peak {_num(alarm.peak_deviation)}: {alarm.deviation_meaning}). "
        f"Driving it most: {driving}. Each may be within its own limits: what changed is how they relate. "
        f"{moved_text(evidence)}"
    )
    causes = []
    directions = [(s.name, s.trend.direction) for s in top if s.trend]
    if directions:
        first, first_way = directions[0]
        other = next(((name, way) for name, way in directions if way != first_way), None)
        if other is not None:
            causes.append(
                f"the usual relation between {first} and {other[0]} broke: {first} is {first_way} while "
                f"{other[0]} is {other[1]}"
            )
    if not causes and len(top) > 1:
        names = ", ".join(s.name for s in top)
        causes.append(f"the usual relation between {names} changed: they moved the same way, but not as usual")
    causes += [
        "an unusual but legitimate operating mode (start-up, rate change, feed switch) the model has not learned",
        "one instrument drifting away from the physically related ones",
    ]
    names = ", ".join(s.name for s in top)
    checks = [
        f"Compare the trends of {names} side by side around {alarm.opened_at}.",
        "Check for an operating change that explains a new combination of values.",
        "If one sensor disagrees with physically related ones, suspect that instrument (drift, calibration).",
    ]
    return summary, causes, checks


WRITERS = {
    "high": _limit_answer,
    "high_high": _limit_answer,
    "low": _limit_answer,
    "low_low": _limit_answer,
    "zscore": _zscore_answer,
    "flatline": _flatline_answer,
    "stale": _stale_answer,
    "rate_of_change": _rate_answer,
    "out_of_range": _range_answer,
    "forest": _model_answer,
    "pca": _model_answer,
}


def offline_answer(evidence: AlarmEvidence) -> ContextAnswer:
    """The offline explanation of one alarm event (deterministic)."""
    summary, causes, checks = WRITERS[evidence.alarm.kind](evidence)
    # Equipment of the alarm's own sensors only: a sensor that merely moved at the same time may
    # sit on unrelated equipment.
    descriptions = [s.description for s in evidence.sensors if s.description]
    return ContextAnswer(
        summary=fit(summary, SUMMARY_MAX),
        likely_causes=[fit(c[0].upper() + c[1:], ITEM_MAX) for c in causes[:CAUSES_MAX]],
        affected_equipment=[fit(e, ITEM_MAX) for e in equipment(descriptions)[:EQUIPMENT_MAX]],
        recommended_checks=[fit(c, ITEM_MAX) for c in checks[:CHECKS_MAX]],
        suggested_severity=evidence.alarm.priority,
        confidence=CONFIDENCE[evidence.alarm.kind],
    )


class OfflineExplainer:
    """The ``offline`` provider: :func:`offline_answer`, as an :class:`~analyzer.tiers.llm.providers.Explainer`."""

    provider: ProviderName = "offline"
    model: str = OFFLINE_MODEL

    async def explain(self, evidence: AlarmEvidence) -> Explanation:
        started = time.perf_counter()
        answer = offline_answer(evidence)
        usage = CallUsage(latency_ms=(time.perf_counter() - started) * 1000)
        return Explanation(answer=answer, provider="offline", model=OFFLINE_MODEL, usage=usage, offline=True)

    async def aclose(self) -> None:
        return None
