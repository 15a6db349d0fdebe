"""Tier 2's per-sensor status codes (``Tier2Scores.status``) and their names in stored results."""

from __future__ import annotations

from schemas.results import StatisticalStatus

ABSENT, NORMAL, ANOMALY, INSUFFICIENT, STUCK, NOT_UPDATED = 0, 1, 2, 3, 4, 5
STATUS_NAMES: dict[int, StatisticalStatus] = {
    NORMAL: "Normal",
    ANOMALY: "Anomaly",
    INSUFFICIENT: "insufficient_history",
    STUCK: "stuck",
    NOT_UPDATED: "not_updated",
}
