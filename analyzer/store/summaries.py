"""Result summaries (:class:`~analyzer.store.protocol.ResultSummary`): an analysis without the
tiers' per-sensor blocks, only what they flagged. A stored analysis is ~25 kB of JSON, almost all
of it the per-sensor blocks, and parsing them dominates a history page; so SQLite builds the
summary in SQL (:data:`SQLITE_SUMMARY`, its C JSON parser is ~20x faster than building models) and
Cosmos DB from the documents it returns (:func:`summary_document`). Both give the same summary; the
store tests compare them.
"""

from __future__ import annotations

from typing import Any

from analyzer.store.protocol import ResultSummary
from schemas.results import AnalysisResult

#: ML findings name this many of the sensors that drive the score most.
TOP_CONTRIBUTORS = 3
_DROPPED = ("heuristic", "statistical", "ml", "unknown_sensors", "source_entry_id", "day")

#: One SQL expression over the stored document ``d.doc``, giving the summary as JSON.
SQLITE_SUMMARY = f"""json_set(
    json_remove(d.doc, {", ".join(f"'$.{name}'" for name in _DROPPED)}),
    '$.heuristic_flagged', json((SELECT json_group_object(key, json(value))
        FROM json_each(d.doc, '$.heuristic.results') WHERE json_extract(value, '$.status') = 'Anomaly')),
    '$.statistical_flagged', json(COALESCE((SELECT json_group_object(key, json(value))
        FROM json_each(d.doc, '$.statistical.results') WHERE json_extract(value, '$.status') = 'Anomaly'), '{{}}')),
    '$.ml', CASE WHEN json_type(d.doc, '$.ml') = 'object' THEN json_object(
        'score', json_extract(d.doc, '$.ml.results.score'),
        'threshold', json_extract(d.doc, '$.ml.results.threshold'),
        'status', json_extract(d.doc, '$.ml.results.status'),
        'top', json((SELECT json_group_object(key, value) FROM (SELECT key, value
            FROM json_each(d.doc, '$.ml.results.values') ORDER BY value DESC, key LIMIT {TOP_CONTRIBUTORS})))
    ) END
)"""


def summary_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary of a stored analysis given as its JSON object (what :data:`SQLITE_SUMMARY` builds)."""
    summary = {key: value for key, value in doc.items() if key not in _DROPPED and key in ResultSummary.model_fields}
    summary["heuristic_flagged"] = _flagged(doc.get("heuristic"))
    summary["statistical_flagged"] = _flagged(doc.get("statistical"))
    ml = doc.get("ml")
    if ml:
        results = ml["results"]
        ranked = sorted(results["values"].items(), key=lambda item: (-item[1], item[0]))[:TOP_CONTRIBUTORS]
        summary["ml"] = {
            "score": results["score"],
            "threshold": results["threshold"],
            "status": results["status"],
            "top": dict(ranked),
        }
    else:
        summary["ml"] = None
    return summary


def summarize(result: AnalysisResult) -> ResultSummary:
    return ResultSummary.model_validate(summary_document(result.model_dump(mode="json")))


def _flagged(block: dict[str, Any] | None) -> dict[str, Any]:
    if not block:
        return {}
    return {sensor: entry for sensor, entry in block["results"].items() if entry.get("status") == "Anomaly"}
