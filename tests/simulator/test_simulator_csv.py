"""Simulations on disk with their labels, and replay of any CSV of readings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from analyzer.devtools.simulator import (
    CsvReadError,
    SimulatedPlant,
    iter_csv_payloads,
    iter_payloads,
    labels_path,
    read_csv,
    simulate_plant,
    write_csv,
)
from schemas.catalog import SensorCatalog
from tests.simulator.simulated_days import START


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, catalog: SensorCatalog) -> tuple[SimulatedPlant, Path]:
    plant = simulate_plant(catalog, START, 2000, seed=8, anomaly_rate=0.3)
    path = tmp_path_factory.mktemp("sim") / "day.csv"
    assert write_csv(plant, path) == path
    assert labels_path(path).exists()
    return plant, path


def test_round_trip_keeps_everything(written: tuple[SimulatedPlant, Path]) -> None:
    plant, path = written
    back = read_csv(path)
    assert back.sensor_names == plant.sensor_names
    assert np.array_equal(back.timestamps, plant.timestamps)
    assert np.array_equal(back.values, plant.values, equal_nan=True)
    assert list(back.row_kind) == list(plant.row_kind)
    assert back.labels == plant.labels and len(plant.labels) >= 3


def test_csv_columns_and_labels_file(written: tuple[SimulatedPlant, Path]) -> None:
    plant, path = written
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert next(iter(rows[0])) == "timestamp" and list(rows[0])[-2:] == ["anomaly", "anomaly_kind"]
    assert rows[0]["timestamp"] == "2026-11-23T00:00:00Z"
    assert [r["anomaly"] == "1" for r in rows] == list(plant.anomalous)
    assert {r["anomaly_kind"] for r in rows} == set(plant.row_kind)
    assert any(value == "" for r in rows for value in r.values())  # absent readings are empty cells
    labels = json.loads(labels_path(path).read_text())
    assert labels_path(path) == path.with_name("day.labels.json")
    assert {"kind", "sensors", "start", "end"} <= set(labels[0])
    assert labels[0]["start"].endswith("Z")


def test_replay_yields_the_simulated_payloads(written: tuple[SimulatedPlant, Path]) -> None:
    plant, path = written
    assert list(iter_csv_payloads(path)) == list(iter_payloads(plant))


def _write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_replay_of_a_foreign_csv(tmp_path: Path) -> None:
    path = _write_text(
        tmp_path,
        "time,TI-101,PI-102,label\n"
        "2026-11-23T10:00:00+01:00,351.2,1.2,ok\n"
        "2026-11-23 09:00:10,,1.25,ok\n"
        "1795428020,352,1.3e0,bad\n"
        "\n",
    )
    payloads = list(iter_csv_payloads(path, label_columns=("label",), timestamp_column="time"))
    assert payloads == [
        {"timestamp": "2026-11-23T09:00:00Z", "TI-101": 351.2, "PI-102": 1.2},
        {"timestamp": "2026-11-23T09:00:10Z", "PI-102": 1.25},
        {"timestamp": "2026-11-23T10:00:20Z", "TI-101": 352.0, "PI-102": 1.3},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "timestamp,TI-101\n2026-11-23T10:00:00Z,1\n2026-11-23T10:00:10Z,abc\n",
            r"line 3, column 'TI-101': 'abc' is not a number",
        ),
        ("timestamp,TI-101\n2026-11-23T10:00:00Z,nan\n", r"line 2, column 'TI-101': 'nan' is not a finite number"),
        ("timestamp,TI-101\nyesterday,1\n", r"line 2, column 'timestamp': 'yesterday' is not an ISO 8601"),
        ("timestamp,TI-101\n2026-11-23T10:00:00Z,1,2\n", r"line 2: 3 cells, the header has 2"),
        ("time,TI-101\n2026-11-23T10:00:00Z,1\n", r"line 1: no 'timestamp' column \(columns: time, TI-101\)"),
        ("timestamp,TI-101,TI-101\n", r"line 1: duplicate columns TI-101"),
        ("", r"empty file"),
    ],
)
def test_bad_csv_names_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = _write_text(tmp_path, text)
    with pytest.raises(CsvReadError, match=expected) as raised:
        list(iter_csv_payloads(path))
    assert str(path) in str(raised.value)


def test_missing_csv_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CsvReadError, match="cannot open") as raised:
        iter_csv_payloads(tmp_path / "gone.csv")
    assert "gone.csv" in str(raised.value)


def test_read_csv_without_labels_file_is_all_normal(tmp_path: Path) -> None:
    path = _write_text(tmp_path, "timestamp,TI-101\n2026-11-23T10:00:00Z,1.5\n2026-11-23T10:00:10Z,\n")
    plant = read_csv(path)
    assert plant.labels == [] and list(plant.row_kind) == ["normal", "normal"]
    assert plant.values.shape == (2, 1) and np.isnan(plant.values[1, 0])
