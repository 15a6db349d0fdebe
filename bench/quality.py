"""Detection quality on real and simulated data: ``python -m bench.quality`` (``make quality``).

A benchmark, not a test: it runs ``evaluate``'s pipeline (today's tiers 1+2, default ``STAT_*``
settings unless the environment says otherwise) over

* every series of the NAB development set (``--nab-dir``, default ``../shared/dev-data/nab-dev``
  beside the repository): catalogue derived from the data, truth = ``windows.json``, the first 15 %
  of each file learning only (NAB's probation);
* the simulator: ``--seeds`` (default 7, 11, 23, 5), ``--days`` each (default 3) at 10 s with 5 %
  of payloads in an anomaly, the shipped catalogue, truth = the injected episodes, the same 15 %
  probation;

and prints one table: per set, windows detected, false alarms per day, point-wise F1 and
false-alarm rate, median detection delay, and how many series tier 2 scored at all (a series where
no row got a z-score or a forest score is *silent*). Simulator rows per anomaly kind follow (their
false alarms are those of the whole simulator set). The last line is one JSON object with the
totals. Alarms are the alarm step's activations, opened or re-activated .. cleared (see ``evaluate.metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate import Evaluation, LabelledData, derive_catalog, evaluate_data, read_labelled_csv
from analyzer.devtools.evaluate.metrics import NO_EVENTS, EventMetrics, metrics
from analyzer.devtools.evaluate.report import duration
from analyzer.devtools.evaluate.windows import LabelledWindow, windows_from_file
from analyzer.devtools.simulator import simulate_plant
from analyzer.tiers.statistical import StatisticalSettings

DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "dev-data" / "nab-dev"
PROBATION = 0.15


@dataclass
class SetResult:
    """Pooled figures of one set (a NAB category, the simulator, or one simulated anomaly kind)."""

    name: str
    events: EventMetrics = NO_EVENTS
    truth: list[np.ndarray] = field(default_factory=list)
    flagged: list[np.ndarray] = field(default_factory=list)
    series: int = 0
    scored_series: int = 0
    #: Whether false alarms belong to this row (not for per-kind rows, whose alarms are the set's).
    own_alarms: bool = True
    #: Detector -> [alarms it took part in that overlap a labelled window, alarms that overlap none].
    by_detector: dict[str, list[int]] = field(default_factory=dict)

    def add(self, evaluation: Evaluation, events: EventMetrics | None = None) -> None:
        part = evaluation.scored
        self.events = self.events + (events if events is not None else evaluation.events)
        self.truth.append(evaluation.data.labels[part])
        self.flagged.append(evaluation.predictions.status[part])
        self.series += 1
        self._count_detectors(evaluation)
        scores = evaluation.predictions.scores
        self.scored_series += int(
            bool(np.isfinite(scores["max_abs_z"][part]).any() or np.isfinite(scores["if_score"][part]).any())
        )

    def _count_detectors(self, evaluation: Evaluation) -> None:
        """Which detectors raised each alarm (a run of anomalous rows) after probation."""
        status, caught = evaluation.predictions.status, evaluation.predictions.caught_by
        labels = evaluation.data.labels
        part = slice(evaluation.probation, len(status))
        flagged = status[part]
        starts = np.flatnonzero(flagged & ~np.r_[False, flagged[:-1]]) + evaluation.probation
        ends = np.flatnonzero(flagged & ~np.r_[flagged[1:], False]) + evaluation.probation
        for start, end in zip(starts, ends, strict=True):
            detectors = {d for row in range(start, end + 1) for d in caught[row]}
            true = bool(labels[start : end + 1].any())
            for detector in detectors:
                self.by_detector.setdefault(detector, [0, 0])[0 if true else 1] += 1

    def point(self) -> dict[str, float]:
        if not self.truth:
            return metrics(np.zeros(0, bool), np.zeros(0, bool))
        return metrics(np.concatenate(self.truth), np.concatenate(self.flagged))

    def figures(self) -> dict[str, object]:
        events = self.events
        figures: dict[str, object] = {
            "windows": events.windows,
            "windows_detected": events.detected,
            "median_delay_s": events.median_delay_s,
        }
        if self.own_alarms:  # per-kind rows share their set's alarms and rows
            point = self.point()
            figures |= {
                "false_alarms": events.false_alarms,
                "false_alarms_per_day": round(events.false_alarms_per_day, 3),
                "days": round(events.days, 2),
                "f1": round(point["f1"], 4),
                "false_alarm_rate": round(point["false_alarm_rate"], 5),
                "series": self.series,
                "scored_series": self.scored_series,
                "alarms_by_detector": {
                    d: {"in_window": a, "false": b} for d, (a, b) in sorted(self.by_detector.items())
                },
            }
        return figures


def nab_series(nab_dir: Path, only: list[str] | None) -> list[Path]:
    files = sorted((nab_dir / "data").glob("*/*.csv"))
    if only:
        files = [f for f in files if any(name in f.as_posix() for name in only)]
    return files


async def evaluate_nab(nab_dir: Path, settings: StatisticalSettings, only: list[str] | None = None) -> list[SetResult]:
    """One :class:`SetResult` per NAB category, each series evaluated on its own."""
    sets: dict[str, SetResult] = {}
    windows_file = nab_dir / "windows.json"
    for path in nab_series(nab_dir, only):
        data = read_labelled_csv(path, None)
        windows = windows_from_file(windows_file, path)
        index = SensorIndex.from_catalog(derive_catalog(data.names, data.values, data.times))
        evaluation = await evaluate_data(index, data, settings, windows=windows, probation=PROBATION)
        category = path.parent.name
        sets.setdefault(category, SetResult(f"nab/{category}")).add(evaluation)
    return list(sets.values())


def simulated(seed: int, days: float) -> tuple[LabelledData, list[LabelledWindow]]:
    """A simulated plant as evaluate's data, and its injected episodes as labelled windows."""
    catalog = load_catalog()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    plant = simulate_plant(catalog, start, int(days * 8640), seed=seed, anomaly_rate=0.05)
    times = plant.timestamps.astype("datetime64[ms]").astype(np.int64) / 1000.0
    labels = plant.row_kind != "normal"
    data = LabelledData(list(plant.sensor_names), times, plant.values, labels, plant.row_kind.astype(str))
    windows = [LabelledWindow(label.start.timestamp(), label.end.timestamp(), label.kind) for label in plant.labels]
    return data, windows


async def evaluate_simulator(seeds: list[int], days: float, settings: StatisticalSettings) -> list[SetResult]:
    """The simulator as one set, then one row per anomaly kind (windows of that kind only)."""
    index = SensorIndex.from_catalog(load_catalog())
    overall = SetResult("simulator")
    kinds: dict[str, SetResult] = {}
    for seed in seeds:
        data, windows = simulated(seed, days)
        evaluation = await evaluate_data(index, data, settings, windows=windows, probation=PROBATION)
        overall.add(evaluation)
        for kind, events in evaluation.events_by_kind.items():
            row = kinds.setdefault(kind, SetResult(f"simulator/{kind}", own_alarms=False))
            row.events = row.events + events
    return [overall, *(kinds[k] for k in sorted(kinds))]


def table(results: list[SetResult]) -> str:
    lines = [
        "| set | series scored | windows detected | false alarms / day | F1 (rows) | false-alarm rate (rows) "
        "| median delay |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    detectors = sorted({d for r in results for d in r.by_detector})
    for result in results:
        f = result.figures()
        scored = per_day = ""
        point = " | "
        if result.own_alarms:
            scored = f"{f['scored_series']} of {f['series']}"
            per_day = f"{f['false_alarms_per_day']:.2f} ({f['false_alarms']} in {f['days']} d)"
            point = f"{f['f1']:.3f} | {f['false_alarm_rate']:.4f}"
        lines.append(
            f"| {result.name} | {scored} | {f['windows_detected']} of {f['windows']} | {per_day} | {point} "
            f"| {duration(result.events.median_delay_s)} |"
        )
    if detectors:
        lines += [
            "",
            "alarms by detector (in a labelled window / false; an alarm raised by several counts for each):",
            "| set | " + " | ".join(detectors) + " |",
            "| --- | " + " | ".join("---" for _ in detectors) + " |",
        ]
        for result in results:
            if result.by_detector:
                cells = [result.by_detector.get(d, [0, 0]) for d in detectors]
                lines.append(f"| {result.name} | " + " | ".join(f"{a} / {b}" for a, b in cells) + " |")
    return "\n".join(lines)


def pooled(name: str, results: list[SetResult]) -> SetResult:
    total = SetResult(name)
    for result in results:
        total.events = total.events + result.events
        total.truth += result.truth
        total.flagged += result.flagged
        total.series += result.series
        total.scored_series += result.scored_series
        for detector, (true, false) in result.by_detector.items():
            counts = total.by_detector.setdefault(detector, [0, 0])
            counts[0] += true
            counts[1] += false
    return total


async def run(
    nab_dir: Path | None, seeds: list[int], days: float, only: list[str] | None = None
) -> tuple[str, dict[str, object]]:
    """The table and the totals (``nab_dir`` ``None`` or empty ``seeds`` leaves that part out)."""
    settings = StatisticalSettings()
    started = time.perf_counter()
    nab = await evaluate_nab(nab_dir, settings, only) if nab_dir is not None else []
    sim = await evaluate_simulator(seeds, days, settings) if seeds else []
    rows = list(nab)
    totals: dict[str, object] = {}
    if nab:
        nab_total = pooled("nab (all)", nab)
        rows.append(nab_total)
        totals["nab"] = nab_total.figures()
    rows += sim
    if sim:
        totals["simulator"] = sim[0].figures()
        totals["simulator_kinds"] = {r.name.split("/", 1)[1]: r.figures() for r in sim[1:]}
    totals["elapsed_s"] = round(time.perf_counter() - started, 1)
    return table(rows), totals


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB, help="the nab-dev folder (data/, windows.json)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 11, 23, 5], help="simulator seeds (none: skip)")
    parser.add_argument("--days", type=float, default=3.0, help="simulated days per seed")
    parser.add_argument("--series", nargs="*", default=None, help="only NAB series whose path contains one of these")
    parser.add_argument("--no-nab", action="store_true", help="leave the NAB series out")
    args = parser.parse_args(argv)
    nab_dir = None if args.no_nab else args.nab_dir
    if nab_dir is not None and not (nab_dir / "windows.json").is_file():
        print(
            f"no NAB development set at {nab_dir} (windows.json missing); give --nab-dir or --no-nab", file=sys.stderr
        )
        raise SystemExit(2)
    text, totals = asyncio.run(run(nab_dir, list(args.seeds), args.days, args.series))
    print(text)
    print(json.dumps(totals))
    return totals


if __name__ == "__main__":
    main()
