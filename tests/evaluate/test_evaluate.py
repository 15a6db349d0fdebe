"""``sensor-analyzer evaluate``: metrics on a hand-made labelled CSV, per kind, predictions, catalogue."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.devtools.evaluate import derive_catalog, metrics, per_kind, read_labelled_csv
from schemas.catalog import SensorCatalog, SensorSpec

runner = CliRunner()

#: Ten readings 10 s apart. T's High limit is 90: rows 2, 3 (labelled) and 5 (not labelled) breach
#: it; row 7 is labelled but within limits. So TP = 2, FP = 1, FN = 1, TN = 6.
T_VALUES = [50, 51, 95, 96, 52, 95, 50, 49, 51, 50]
LABELS = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0]
KINDS = ["", "", "limit_breach", "limit_breach", "", "", "", "drift", "", ""]


@pytest.fixture(autouse=True)
def _tier2_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten rows are far from tier 2's warm-up: only tier 1 can flag, so the counts are known."""
    monkeypatch.setenv("STAT_MIN_HISTORY", "100000")
    monkeypatch.setenv("STAT_IF_MIN_TRAINING_ROWS", "100000")


def _write(path: Path, *, label: str = "anomaly", kinds: bool = True) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "T", "P", label, *(["anomaly_kind"] if kinds else [])])
        for k, (t, flag, kind) in enumerate(zip(T_VALUES, LABELS, KINDS, strict=True)):
            p = "" if k == 4 else f"{2.0 + 0.01 * k}"  # P is absent from one row
            stamp = f"2025-01-01T00:{k // 6:02d}:{(k % 6) * 10:02d}Z"
            writer.writerow([stamp, t, p, flag, *([kind] if kinds else [])])
    return path


def _catalog(path: Path) -> Path:
    catalog = SensorCatalog(
        plant="test",
        sensors=[
            SensorSpec(name="T", unit="C", description="t", core=True, low=10, high=90),
            SensorSpec(name="P", unit="bar", description="p"),
        ],
    )
    path.write_text(catalog.model_dump_json(), encoding="utf-8")
    return path


def test_metrics_on_a_hand_made_csv(tmp_path: Path) -> None:
    data = _write(tmp_path / "day.csv")
    result = runner.invoke(app, ["evaluate", str(data), "--catalog", str(_catalog(tmp_path / "cat.json"))])
    assert result.exit_code == 0, result.output
    assert "rows 10, anomalous 3" in result.output
    # precision 2/3, recall 2/3, F1 2/3, false-alarm 1/7, missed-alarm 1/3
    assert "| 0.667 | 0.667 | 0.667 | 0.1429 | 0.333 |" in result.output
    assert "| limit_breach | 2 | 1.000 | 1 | 1.00 |" in result.output
    assert "| drift | 1 | 0.000 | 1 | 0.00 |" in result.output


def test_metric_and_per_kind_functions() -> None:
    truth = np.array(LABELS, dtype=bool)
    predicted = np.array([t >= 90 for t in T_VALUES])
    m = metrics(truth, predicted)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["false_alarm_rate"] == pytest.approx(1 / 7) and m["missed_alarm_rate"] == pytest.approx(1 / 3)
    kinds = np.array(["normal", "spike", "normal", "spike", "spike", "normal", "normal", "stuck", "stuck", "normal"])
    caught = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    report = per_kind(kinds, caught)
    assert report["spike"] == {"rows": 3.0, "recall": pytest.approx(1 / 3), "events": 2.0, "events_detected": 0.5}
    assert report["stuck"]["events"] == 1.0 and report["stuck"]["events_detected"] == 0.0
    assert "normal" not in report


def test_predictions_file_has_one_row_per_reading_with_the_right_columns(tmp_path: Path) -> None:
    data = _write(tmp_path / "day.csv")
    out = tmp_path / "predictions.csv"
    cat = _catalog(tmp_path / "cat.json")
    result = runner.invoke(app, ["evaluate", str(data), "--catalog", str(cat), "--predictions", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # the columns scripts read come first, unchanged; new ones are only appended
    assert list(rows[0])[:6] == ["timestamp", "final_status", "severity", "if_score", "max_abs_z", "label"]
    assert len(rows) == 10
    assert [r["final_status"] for r in rows] == ["anomaly" if t >= 90 else "normal" for t in T_VALUES]
    assert [int(r["label"]) for r in rows] == LABELS
    assert rows[2]["severity"] == "high" and rows[0]["severity"] == ""
    assert rows[0]["timestamp"] == "2025-01-01T00:00:00Z" and rows[9]["timestamp"] == "2025-01-01T00:01:30Z"
    assert all(r["if_score"] == "" for r in rows)  # no model: no score, not a made-up one


def test_catalogue_is_derived_from_the_csv_when_none_is_given(tmp_path: Path) -> None:
    data = _write(tmp_path / "day.csv", kinds=False)
    result = runner.invoke(app, ["evaluate", str(data)])
    assert result.exit_code == 0, result.output
    # a derived catalogue has no limits: nothing to flag in ten rows, every label is missed
    assert "rows 10, anomalous 3" in result.output and "| 0.000 | 0.000 | 0.000 | 0.0000 | 1.000 |" in result.output
    labelled = read_labelled_csv(data, "anomaly")
    assert labelled.names == ["T", "P"]
    catalog = derive_catalog(labelled.names, labelled.values, labelled.times)
    specs = {s.name: s for s in catalog.sensors}
    assert specs["T"].core and not specs["P"].core  # P is absent from one row
    assert specs["T"].high is None and specs["T"].update_interval_s == 10


def test_hourly_columns_are_recognised_when_deriving() -> None:
    times = 1_700_000_000.0 + 10.0 * np.arange(2160)  # 6 hours
    fast = np.random.default_rng(0).normal(size=2160)
    lab = np.repeat(np.arange(6, dtype=float), 360)  # changes once an hour
    catalog = derive_catalog(["F", "LAB"], np.column_stack([fast, lab]), times)
    assert [s.update_interval_s for s in catalog.sensors] == [10, 3600]


def test_a_missing_label_column_is_a_clear_error(tmp_path: Path) -> None:
    data = _write(tmp_path / "day.csv", label="is_bad")
    result = runner.invoke(app, ["evaluate", str(data), "--label-column", "anomaly"])
    assert result.exit_code != 0
    text = re.sub(r"[\s│]+", " ", result.output)  # the error box wraps the message
    assert "has no label column 'anomaly'" in text and "--label-column" in text and "is_bad" in text


def test_fit_rows_learns_first_and_evaluates_the_rest(tmp_path: Path) -> None:
    data = _write(tmp_path / "day.csv")
    cat = _catalog(tmp_path / "cat.json")
    result = runner.invoke(app, ["evaluate", str(data), "--catalog", str(cat), "--fit-rows", "4"])
    assert result.exit_code == 0, result.output
    assert "rows 6, anomalous 1" in result.output  # rows 4..9: only row 7 is labelled
