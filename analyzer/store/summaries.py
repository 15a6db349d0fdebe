"""Result summaries (:class:`~analyzer.store.protocol.ResultSummary`): an analysis without the
tiers' per-sensor blocks, only the entries of the sensors its verdict flagged
(``anomalous_sensors``) that the tier found anomalous. A stored analysis is ~25 kB of JSON, almost all
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

_SCALARS = ("id", "timestamp", "analyzed_at", "final_status", "severity_level", "overall_confidence")
_STRUCTURES = (("anomalous_sensors", "[]"), ("alarm_ids", "[]"), ("raw_data", "{}"), ("corrections", "{}"))


def _flagged_sql(tier: str) -> str:
    entry = f"'$.{tier}.results.\"' || a.value || '\"'"
    return (
        f"json(COALESCE((SELECT json_group_object(a.value, json(json_extract(d.doc, {entry}))) "
        f"FROM json_each(json_extract(d.doc, '$.anomalous_sensors')) AS a "
        f"WHERE json_extract(d.doc, {entry} || '.status') = 'Anomaly'), '{{}}'))"
    )


_ML_TOP_SQL = (
    "json(COALESCE(CASE WHEN json_extract(d.doc, '$.ml.results.status') = 'Anomaly' THEN "
    "(SELECT json_group_object(key, value) FROM (SELECT key, value "
    f"FROM json_each(json_extract(d.doc, '$.ml.results.values')) ORDER BY value DESC, key LIMIT {TOP_CONTRIBUTORS})) "
    "END, '{}'))"
)

#: One SQL expression over the stored document ``d.doc``, giving the summary as JSON. Scalar
#: ``json_extract`` calls share one parse of the document (SQLite caches it), while ``json_each``
#: runs only over small extracted parts (the flagged sensors, the ML contributions): about 0.2 ms
#: per analysis instead of ~2 ms for building the full model. Only the sensors in
#: ``anomalous_sensors`` are looked up in the tiers' blocks.
SQLITE_SUMMARY = (
    "json_object("
    + ", ".join(f"'{name}', json_extract(d.doc, '$.{name}')" for name in _SCALARS)
    + ", "
    + ", ".join(f"'{name}', json(COALESCE(json_extract(d.doc, '$.{name}'), '{empty}'))" for name, empty in _STRUCTURES)
    + f", 'heuristic_flagged', {_flagged_sql('heuristic')}"
    + f", 'statistical_flagged', {_flagged_sql('statistical')}"
    + ", 'ml', CASE WHEN json_type(d.doc, '$.ml') = 'object' THEN json_object("
    + "'score', json_extract(d.doc, '$.ml.results.score'), "
    + "'threshold', json_extract(d.doc, '$.ml.results.threshold'), "
    + "'status', json_extract(d.doc, '$.ml.results.status'), "
    + f"'top', {_ML_TOP_SQL}) END)"
)


def summary_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary of a stored analysis given as its JSON object (what :data:`SQLITE_SUMMARY` builds)."""
    summary: dict[str, Any] = {name: doc.get(name) for name in _SCALARS}
    summary.update({name: doc.get(name) or ([] if empty == "[]" else {}) for name, empty in _STRUCTURES})
    flagged = doc.get("anomalous_sensors") or []
    summary["heuristic_flagged"] = _flagged(doc.get("heuristic"), flagged)
    summary["statistical_flagged"] = _flagged(doc.get("statistical"), flagged)
    ml = doc.get("ml")
    if ml:
        results = ml["results"]
        ranked = (
            sorted(results["values"].items(), key=lambda item: (-item[1], item[0]))[:TOP_CONTRIBUTORS]
            if results["status"] == "Anomaly"
            else []
        )
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


def _flagged(block: dict[str, Any] | None, sensors: list[str]) -> dict[str, Any]:
    """The block's entries of the flagged sensors that this tier found anomalous."""
    if not block:
        return {}
    results = block["results"]
    return {s: results[s] for s in sensors if s in results and results[s].get("status") == "Anomaly"}
