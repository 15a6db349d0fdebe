"""Live alarms as JSON, the form they take in Redis (``{stream}:alarms``: alarm key -> JSON)."""

from __future__ import annotations

from typing import Any

import orjson

from analyzer.alarms.step import Alarm, Phase
from schemas.alarms import AlarmKind, AlarmRecord


def dump_alarm(alarm: Alarm) -> bytes:
    return orjson.dumps(
        {
            "key": alarm.key,
            "kind": alarm.kind.value,
            "sensors": list(alarm.sensors),
            "group": alarm.group,
            "phase": int(alarm.phase),
            "run": alarm.run,
            "run_since": alarm.run_since,
            "last_entry_id": alarm.last_entry_id,
            "record": alarm.record.model_dump(mode="json") if alarm.record is not None else None,
        }
    )


def load_alarm(raw: bytes | str) -> Alarm:
    data: dict[str, Any] = orjson.loads(raw)
    record = data.get("record")
    return Alarm(
        key=data["key"],
        kind=AlarmKind(data["kind"]),
        sensors=tuple(data["sensors"]),
        group=data["group"],
        phase=Phase(int(data["phase"])),
        run=int(data["run"]),
        run_since=float(data["run_since"]),
        last_entry_id=data.get("last_entry_id"),
        record=AlarmRecord.model_validate(record) if record is not None else None,
    )
