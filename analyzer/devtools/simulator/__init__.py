"""A simulated crude distillation unit: realistic readings with injected, labelled anomalies.

:func:`simulate_plant` makes a batch of payloads as arrays, :func:`iter_payloads` turns them into
the JSON objects the landing receives, :func:`iter_live` produces payloads endlessly for
real-time mode, :func:`write_csv` / :func:`read_csv` keep a simulation on disk with its labels,
and :func:`iter_csv_payloads` replays any CSV of readings.
"""

from analyzer.devtools.simulator.anomalies import KINDS
from analyzer.devtools.simulator.csvio import (
    CsvReadError,
    iter_csv_payloads,
    label_from_dict,
    label_to_dict,
    labels_path,
    read_csv,
    write_csv,
)
from analyzer.devtools.simulator.plant import (
    AnomalyLabel,
    PlantModel,
    SimulatedPlant,
    format_timestamp,
    iter_live,
    iter_payloads,
    simulate_plant,
)

__all__ = [
    "KINDS",
    "AnomalyLabel",
    "CsvReadError",
    "PlantModel",
    "SimulatedPlant",
    "format_timestamp",
    "iter_csv_payloads",
    "iter_live",
    "iter_payloads",
    "label_from_dict",
    "label_to_dict",
    "labels_path",
    "read_csv",
    "simulate_plant",
    "write_csv",
]
