"""``evaluate`` on CSVs as real exports write them: delimiters, zones, headers with units, text cells.

Each test writes a small file the way a historian or spreadsheet would and checks what the command
prints, writes or refuses (one line, exit code 2, never a traceback).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.devtools.evaluate import CsvOptions, EvaluateInputError, read_labelled_csv
from analyzer.devtools.evaluate.timestamps import parse_times

runner = CliRunner()


@pytest.fixture(autouse=True)
def _tier2_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files: let tier 2 score after 30 samples and train the forest after 40 rows (without
    waiting for the rows to span most of a day)."""
    monkeypatch.setenv("STAT_MIN_HISTORY", "30")
    monkeypatch.setenv("STAT_IF_MIN_TRAINING_ROWS", "40")
    monkeypatch.setenv("STAT_IF_MIN_TRAINING_SPAN", "0")


def _export(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _european(path: Path, rows: int = 120) -> Path:
    """Semicolon-delimited, decimal comma, local times without a zone, units in the headers, text cells."""
    rng = np.random.default_rng(3)
    lines = ["Zeitstempel;Reactor temp (°C);Flow, m³/h;Status;anomaly"]
    start = datetime(2024, 1, 15, 0, 0)
    for k in range(rows):
        temp = f"{80 + rng.normal():.3f}".replace(".", ",")
        flow = "n/a" if k % 25 == 7 else ("" if k == 11 else f"{12 + rng.normal():.3f}".replace(".", ","))
        stamp = (start + timedelta(minutes=5 * k)).strftime("%d.%m.%Y %H:%M")
        lines.append(f"{stamp};{temp};{flow};Running;{int(k in (100, 101))}")
    return _export(path, lines)


_EUROPEAN = CsvOptions(decimal=",", timestamp_column="Zeitstempel", ignore_columns=("Status",))


def test_a_european_export_is_read_with_its_zone_names_and_missing_cells(tmp_path: Path) -> None:
    data = _european(tmp_path / "export.csv")
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(data),
            "--decimal",
            ",",
            "--timezone",
            "Europe/Berlin",
            "--timestamp-column",
            "Zeitstempel",
            "--ignore-column",
            "Status",
            "--predictions",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "delimiter ';'" in result.output
    assert "'%d.%m.%Y %H:%M, no zone: read as Europe/Berlin" in result.output.replace("'Zeitstempel': ", "'")
    assert "'Reactor temp (°C)' -> Reactor_temp_degC" in result.output
    assert "'Flow, m³/h' -> Flow_m3_per_h" in result.output
    # 5 cells 'n/a' (rows 7, 32, 57, 82, 107) and one empty cell
    assert "Flow_m3_per_h 6 ('n/a')" in result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # 15 January 2024 00:00 in Berlin is 23:00 UTC the day before (CET, +01:00)
    assert rows[0]["timestamp"] == "2024-01-14T23:00:00Z" and rows[12]["timestamp"] == "2024-01-15T00:00:00Z"
    assert len(rows) == 120 and sum(int(r["label"]) for r in rows) == 2


def test_local_times_around_daylight_saving_changes() -> None:
    times, _ = parse_times(
        ["2024-03-31 01:59", "2024-03-31 03:00", "2024-10-27 02:30", "2024-10-27 03:30"], "Europe/Berlin"
    )
    utc = [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in times]
    # spring: 03:00 CEST follows 01:59 CET one minute later; autumn: 02:30 happens twice, read as the first (CEST)
    assert utc == ["00:59", "01:00", "00:30", "02:30"]


def test_the_reader_sniffs_tabs_and_pipes_and_reads_epoch_times(tmp_path: Path) -> None:
    for delimiter in ("\t", "|"):
        lines = [delimiter.join(["time", "PI 101", "TI 7"])]
        lines += [delimiter.join([str(1_700_000_000 + 60 * k), str(k), str(2 * k)]) for k in range(10)]
        data = read_labelled_csv(_export(tmp_path / "x.csv", lines), None)
        assert data.names == ["PI_101", "TI_7"]
        assert data.times[1] - data.times[0] == 60.0
        assert data.notes is not None and data.notes.delimiter == delimiter
        assert data.notes.times_read_as == "epoch seconds (UTC)"
        assert not data.has_labels and not data.labels.any()


def test_rows_come_out_in_time_order_and_unreadable_times_are_dropped_and_counted(tmp_path: Path) -> None:
    lines = [
        "timestamp,T",
        "2025-01-01T00:02:00Z,3",
        "2025-01-01T00:00:00Z,1",
        "not a time,9",
        "2025-01-01T00:01:00Z,2",
    ]
    data = read_labelled_csv(_export(tmp_path / "x.csv", lines), None)
    assert data.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert data.notes is not None and data.notes.dropped_rows == 1 and data.notes.first_dropped_line == 4


def _fails(args: list[str]) -> str:
    result = runner.invoke(app, ["evaluate", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_column_without_a_single_number_names_the_row_and_column(tmp_path: Path) -> None:
    data = _european(tmp_path / "export.csv")
    line = _fails([str(data), "--decimal", ",", "--timestamp-column", "Zeitstempel"])
    assert "line 2, column 'Status'" in line and "'Running' is not a number" in line
    assert "--ignore-column 'Status'" in line


@pytest.mark.parametrize(
    ("lines", "extra", "expected"),
    [
        (["timestamp,T,anomaly", "2025-01-01,1,0"], ["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["timestamp,T", "2025-01-01,1"], [], "has no label column 'anomaly'"),
        (["when,T,anomaly", "yesterday,1,0", "today,2,0"], [], "line 2, column 'when': 'yesterday' is not a time"),
        (["timestamp,T,anomaly", "01/02/2024 10:00,1,0"], [], "read both day-first and month-first"),
        (["timestamp,T,anomaly", "2025-01-01,1,0,7"], [], "line 2 has 4 cells, the header has 3"),
        ([""], [], "empty file"),
        (["timestamp,T,anomaly", "2025-01-01,1,0"], ["--fit-rows", "5"], "--fit-rows 5: the file has 1 rows"),
        (["timestamp,T,anomaly", "2025-01-01,1,0"], ["--probation", "1.5"], "--probation is a share"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, lines: list[str], extra: list[str], expected: str
) -> None:
    data = _export(tmp_path / "bad.csv", lines)
    assert expected in _fails([str(data), *extra])


def test_missing_files_and_bad_settings_are_one_line_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "cannot read" in _fails([str(tmp_path / "nowhere.csv")])
    data = _export(tmp_path / "ok.csv", ["timestamp,T,anomaly", "2025-01-01,1,0"])
    assert "no entry for ok.csv" in _fails(
        [str(data), "--windows", str(_export(tmp_path / "w.json", ['{"other/x.csv": []}']))]
    )
    monkeypatch.setenv("STAT_Z_THRESHOLD", "-1")
    assert "tier 2 setting z_threshold" in _fails([str(data)])


def test_windows_file_and_probation_give_event_metrics(tmp_path: Path) -> None:
    """A level shift inside a labelled window, NAB style: windows file, no label column, 15 % probation."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(0)
    values = 10 + rng.normal(size=400)
    values[300:330] += 12  # the anomaly
    lines = ["timestamp,value"] + [
        f"{(start + timedelta(minutes=5 * k)).strftime('%Y-%m-%d %H:%M:%S')},{v:.4f}" for k, v in enumerate(values)
    ]
    folder = tmp_path / "data" / "plant"
    folder.mkdir(parents=True)
    data = _export(folder / "shift.csv", lines)
    window = [(start + timedelta(minutes=5 * k)).strftime("%Y-%m-%d %H:%M:%S.%f") for k in (290, 340)]
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"plant/shift.csv": [window]}), encoding="utf-8")
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["evaluate", str(data), "--windows", str(windows), "--probation", "0.15", "--predictions", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "after 60 probation rows" in result.output and "rows 340, anomalous 51" in result.output
    assert "windows detected 1 of 1" in result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["probation"]) for r in rows) == 60
    shifted = rows[300:330]
    assert all(r["final_status"] == "anomaly" for r in shifted[2:]), [r["caught_by"] for r in shifted]
    assert all("zscore" in r["caught_by"] for r in shifted if r["final_status"] == "anomaly")
    assert all(float(r["max_abs_z"]) > 5 for r in shifted)
    assert all(r["top_sensor"] == "value" for r in shifted)


def test_the_predictions_sidecar_documents_every_column(tmp_path: Path) -> None:
    data = _european(tmp_path / "export.csv")
    out = tmp_path / "run" / "pred.csv"
    args = ["evaluate", str(data), "--decimal", ",", "--ignore-column", "Status", "--predictions", str(out)]
    result = runner.invoke(app, [*args, "--timestamp-column", "Zeitstempel", "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "run" / "pred.columns.json").read_text("utf-8"))
    with out.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert [c["name"] for c in sidecar["columns"]] == header
    assert all(c["description"] for c in sidecar["columns"])
    assert sidecar["timezone"] == "Europe/Berlin" and "Europe/Berlin" in sidecar["times_read_as"]
    assert sidecar["statistical_settings"]["min_history"] == 30
    # the forest trained on these 120 rows, so its score is there for every row after the first model
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["if_score"] != "" and 0 <= float(rows[-1]["if_score"]) <= 1


def test_an_all_hourly_derived_catalogue_skips_the_forest_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column changes about hourly, so the derived catalogue has no forest feature.

    The forest used to be trained on zero columns and the command died with scikit-learn's error.
    """
    monkeypatch.setenv("STAT_IF_MIN_TRAINING_ROWS", "10")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    lines = ["timestamp,LAB,anomaly"] + [
        f"{(start + timedelta(minutes=k)).isoformat()},{k // 60},0" for k in range(3000)
    ]
    result = runner.invoke(app, ["evaluate", str(_export(tmp_path / "lab.csv", lines))])
    assert result.exit_code == 0, result.output
    assert "they are skipped" in result.output and "models trained 0" in result.output


def test_reader_options_reach_the_parser(tmp_path: Path) -> None:
    lines = ["Date/Time|PV|anomaly", "2024/01/31 13:00:00|1.5|0", "2024/01/31 13:01:00|#N/A|1"]
    data = read_labelled_csv(_export(tmp_path / "x.csv", lines), "anomaly", CsvOptions(delimiter="pipe"))
    assert data.names == ["PV"] and np.isnan(data.values[1, 0]) and data.labels.tolist() == [False, True]
    with pytest.raises(EvaluateInputError, match="--delimiter must be one character"):
        read_labelled_csv(tmp_path / "x.csv", "anomaly", CsvOptions(delimiter="::"))


async def test_the_driver_reports_progress_for_every_evaluated_row(tmp_path: Path) -> None:
    from analyzer.catalog.index import SensorIndex
    from analyzer.devtools.evaluate import derive_catalog, evaluate_data
    from analyzer.tiers.statistical import StatisticalSettings

    data = read_labelled_csv(_european(tmp_path / "export.csv", rows=150), "anomaly", _EUROPEAN)
    index = SensorIndex.from_catalog(derive_catalog(data.names, data.values, data.times))
    seen: list[int] = []
    evaluation = await evaluate_data(index, data, StatisticalSettings(), progress=seen.append)
    assert sum(seen) == 150 and len(seen) == 3  # batches of 64, 64, 22
    assert evaluation.predictions.status.shape == (150,)
