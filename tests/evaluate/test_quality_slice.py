"""``bench.quality``'s plumbing on a slice: two real NAB series and a short simulation.

The benchmark itself (every series, four seeds of three days) is ``make quality``; this keeps the
parts honest: the series are found and read, windows matched, probation applied, the pooled figures
add up, and the last line is the JSON of the totals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.devtools.evaluate import read_labelled_csv
from analyzer.devtools.evaluate.windows import probation_rows
from bench import quality

SLICE = Path(__file__).parent / "data" / "nab-slice"


def test_the_quality_table_on_two_real_series_and_a_short_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    totals = quality.main(["--nab-dir", str(SLICE), "--seeds", "3", "--days", "0.5"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == totals
    table = "\n".join(lines[:-1])
    for name in ("nab/realTraffic", "nab/realAWSCloudwatch", "nab (all)", "simulator"):
        assert f"| {name} |" in table
    nab = totals["nab"]
    assert isinstance(nab, dict)
    # the slice's windows.json lists 4 + 2 windows, none inside the 15 % probation
    assert nab["windows"] == 6 and nab["series"] == 2
    assert 0 <= nab["windows_detected"] <= 6
    # the evaluated span of each series starts after its 15 % probation
    expected = 0.0
    for path in sorted(SLICE.glob("data/*/*.csv")):
        times = read_labelled_csv(path, None).times
        expected += (times[-1] - times[probation_rows(len(times), 0.15)]) / 86_400
    assert nab["days"] == pytest.approx(expected, abs=0.01)
    simulator = totals["simulator"]
    assert isinstance(simulator, dict) and simulator["series"] == 1 and simulator["scored_series"] in (0, 1)
    kinds = totals["simulator_kinds"]
    assert isinstance(kinds, dict)
    assert sum(k["windows"] for k in kinds.values()) == simulator["windows"]


def test_a_missing_development_set_is_a_clear_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        quality.main(["--nab-dir", str(tmp_path), "--seeds"])
    assert stopped.value.code == 2
    assert "no NAB development set" in capsys.readouterr().err
