"""Write the JSON Schema of every contract model to ``schemas/json/``.

Run ``python -m schemas.generate`` after changing a model; ``tests/schemas`` fails while the
files and the models disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.alarms import AlarmEvent, AlarmRecord, ResolvedAlarm
from schemas.anomalies import ModifiedValue
from schemas.api import AnalyzeRequest, ErrorResponse, HealthResponse, IngestResponse, SweepResponse
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.llm import LLMContext, LLMDailyUsage
from schemas.page import PageConfigPublic
from schemas.payload import SensorPayload
from schemas.public import (
    AcceptedLimitsListPublic,
    AcceptedLimitsPublic,
    AcknowledgeCreate,
    AlarmEventPublic,
    AlarmReportPublic,
    AnomaliesBySensorPublic,
    AnomaliesBySeverityPublic,
    AnomaliesPerHourPublic,
    AnomaliesPublic,
    AnomalyConflictPublic,
    AnomalyPublic,
    ErrorPublic,
    HealthPublic,
    LimitsAccept,
    LimitSuggestionsPublic,
    MaintenanceWindowCreate,
    MaintenanceWindowPublic,
    MaintenanceWindowsPublic,
    ModificationCreate,
    ModificationPublic,
    ModificationsPublic,
    PrincipalPublic,
    ReadingEventPublic,
    ReadingSeriesPublic,
    ReopenCreate,
    ResolveCreate,
    ResolvedAnomaliesPublic,
    ResolvedAnomalyPublic,
    ResponseTimesPublic,
    ResultPublic,
    ResultsPerHourPublic,
    ResultsPublic,
    SensorLivePublic,
    SensorsLivePublic,
    ShelveCreate,
    StreamResetPublic,
    UnshelveCreate,
)
from schemas.results import AnalysisResult, HeuristicBlock, MLBlock, StatisticalBlock

JSON_DIR = Path(__file__).parent / "json"

MODELS: dict[str, type[BaseModel]] = {
    "sensor_payload": SensorPayload,
    "sensor_spec": SensorSpec,
    "sensor_catalog": SensorCatalog,
    "heuristic_block": HeuristicBlock,
    "statistical_block": StatisticalBlock,
    "ml_block": MLBlock,
    "llm_context": LLMContext,
    "llm_daily_usage": LLMDailyUsage,
    "anomaly_result": AnalysisResult,
    "unresolved_anomaly": AlarmRecord,
    "resolved_anomaly": ResolvedAlarm,
    "alarm_event": AlarmEvent,
    "modified_value": ModifiedValue,
    "analyze_request": AnalyzeRequest,
    "ingest_response": IngestResponse,
    "sweep_response": SweepResponse,
    "health_response": HealthResponse,
    "error_response": ErrorResponse,
    # The dashboard API's public models (schemas/public.py).
    "public_error": ErrorPublic,
    "public_health": HealthPublic,
    "public_principal": PrincipalPublic,
    "public_sensor_live": SensorLivePublic,
    "public_sensors_live": SensorsLivePublic,
    "public_reading_series": ReadingSeriesPublic,
    "public_reading_event": ReadingEventPublic,
    "public_alarm_event": AlarmEventPublic,
    "public_stream_reset": StreamResetPublic,
    "public_result": ResultPublic,
    "public_results": ResultsPublic,
    "public_results_per_hour": ResultsPerHourPublic,
    "public_modification_create": ModificationCreate,
    "public_modification": ModificationPublic,
    "public_modifications": ModificationsPublic,
    "public_resolved_anomaly": ResolvedAnomalyPublic,
    "public_resolved_anomalies": ResolvedAnomaliesPublic,
    "public_anomaly": AnomalyPublic,
    "public_anomalies": AnomaliesPublic,
    "public_anomaly_conflict": AnomalyConflictPublic,
    "public_acknowledge_create": AcknowledgeCreate,
    "public_shelve_create": ShelveCreate,
    "public_unshelve_create": UnshelveCreate,
    "public_resolve_create": ResolveCreate,
    "public_reopen_create": ReopenCreate,
    "public_anomalies_per_hour": AnomaliesPerHourPublic,
    "public_anomalies_by_sensor": AnomaliesBySensorPublic,
    "public_anomalies_by_severity": AnomaliesBySeverityPublic,
    "public_response_times": ResponseTimesPublic,
    "public_alarm_report": AlarmReportPublic,
    "public_maintenance_window_create": MaintenanceWindowCreate,
    "public_maintenance_window": MaintenanceWindowPublic,
    "public_maintenance_windows": MaintenanceWindowsPublic,
    "public_limit_suggestions": LimitSuggestionsPublic,
    "public_limits_accept": LimitsAccept,
    "public_accepted_limits": AcceptedLimitsPublic,
    "public_accepted_limits_list": AcceptedLimitsListPublic,
    # What the dashboard page reads before signing in (schemas/page.py).
    "page_config": PageConfigPublic,
}


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(mode="validation"), indent=2, sort_keys=True) + "\n"


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    expected = {f"{name}.schema.json" for name in MODELS}
    for stale in JSON_DIR.glob("*.schema.json"):
        if stale.name not in expected:
            stale.unlink()
    for name, model in MODELS.items():
        (JSON_DIR / f"{name}.schema.json").write_text(render(model))
    print(f"wrote {len(MODELS)} schemas to {JSON_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
