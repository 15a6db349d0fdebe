"""Throwaway experiment (not product code): would the new tier 2 numerics change nab-dev detection?

``python -m bench.experiments.tier2_ideas [--nab-dir DIR] [--only NAME ...]``

A per-sensor prototype built only from ``behaviour`` and ``calibration`` (no Redis, no decision, no
alarms): a trailing window of protected samples, z against its centre and spread, a young-window
Student-t factor, a resolution floor, a stuck rule relative to the sensor's longest baseline run,
persistence, and baseline protection. Each :class:`Rule` is one set of choices; every NAB series
(univariate) is streamed through every rule and scored with ``evaluate``'s event metrics (alarms =
runs of flagged rows, 15 % probation). The simulator part fits the PCA monitor on the first day
and reports, per anomaly kind, what T^2 and Q would add to today's tiers. Results go to stdout;
the conclusions are in the report of the branch that added this file.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate import evaluate_data, read_labelled_csv
from analyzer.devtools.evaluate.metrics import NO_EVENTS, EventMetrics, alarm_episodes, event_metrics, metrics
from analyzer.devtools.evaluate.windows import label_rows, probation_rows, windows_from_file
from analyzer.tiers.statistical import StatisticalSettings
from analyzer.tiers.statistical.behaviour import BehaviourState, effective_samples, young_window_factor
from analyzer.tiers.statistical.calibration import gaussian_threshold, scaled_chi2_threshold, threshold
from analyzer.tiers.statistical.pca import carry_forward, fit_pca
from bench.quality import DEFAULT_NAB, PROBATION, simulated


@dataclass(frozen=True)
class Rule:
    name: str
    window_s: float = 86_400.0
    robust: bool = False
    min_samples: int = 10
    young: str = "t"  # "t" (Student-t on n), "t_eff" (on the effective n), "none"
    floor: str = "resolution"  # "resolution", "relative" (0.1 % of the centre, today), "none"
    z_confirm: float = 3.5
    persistence: int = 3
    z_immediate: float = 5.0
    z_clear: float = 3.0
    stuck_factor: float | None = 2.0
    stuck_min_samples: int = 5
    protection: str = "frozen"  # "frozen", "exclude" (today), "none"
    #: Protect only once the window spans its full length (a young baseline learns everything).
    mature_only: bool = False
    calibrate: float | None = None  # per-row target: the z threshold from the window's own |z|
    #: Target in false alarms per sensor per week, turned into a per-row rate by the sample interval.
    weekly: float | None = None
    #: Calibrate on every scored |z| of the window span (flagged rows included), not the protected window.
    calibrate_all: bool = False


MAD = 1.482602218505602
_FACTORS: dict[tuple[float, float], float] = {}


def factor_for(size: float, z: float) -> float:
    key = (round(size, 1), z)
    if key not in _FACTORS:
        _FACTORS[key] = float(young_window_factor(key[0], z))
    return _FACTORS[key]


def run_rule(rule: Rule, times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: flagged, and whether the row was scored at all."""
    window: deque[tuple[float, float]] = deque()
    pending: list[tuple[float, float]] = []
    history: deque[tuple[float, float]] = deque()  # (time, |z|) of every scored row in the window span
    state = BehaviourState.empty(1)
    flagged = np.zeros(len(times), dtype=bool)
    scored = np.zeros(len(times), dtype=bool)
    streak, open_condition = 0, False
    last_value, run_samples, run_start = np.nan, 0, 0.0
    for k, (t, v) in enumerate(zip(times, values, strict=True)):
        if np.isnan(v):
            continue
        if v == last_value:
            run_samples += 1
        else:
            run_samples, run_start = 1, t
        last_value = v
        was_open = open_condition
        frozen = was_open and rule.protection == "frozen"
        while window and not frozen and window[0][0] < t - rule.window_s:
            window.popleft()
        n = len(window)
        beyond = stuck = False
        z = 0.0
        if n >= rule.min_samples:
            scored[k] = True
            past = np.fromiter((x for _, x in window), float, n)
            if rule.robust:
                centre = float(np.median(past))
                spread = MAD * float(np.median(np.abs(past - centre)))
            else:
                centre, spread = float(past.mean()), float(past.std(ddof=1))
            floor = 0.0
            if rule.floor == "resolution" and np.isfinite(state.resolution[0]):
                floor = float(state.resolution[0])
            elif rule.floor == "relative":
                floor = 1e-3 * abs(centre)
            spread = max(spread, floor, 1e-12)
            z = abs(v - centre) / spread
            size = float(effective_samples(n, state.lag1())[0]) if rule.young == "t_eff" else float(n)
            size = max(size, rule.min_samples)  # scored: the factor stays finite
            factor = 1.0 if rule.young == "none" else factor_for(size, rule.z_confirm)
            confirm = rule.z_confirm * factor
            target = rule.calibrate
            if rule.weekly is not None:
                interval = float(state.sample_interval()[0])
                target = rule.weekly * interval / 604_800 if np.isfinite(interval) else None
            if target is not None:
                seen = (
                    np.fromiter((s for _, s in history), float)
                    if rule.calibrate_all
                    else np.abs(past - centre) / spread
                )
                limit = threshold(seen, min(target, 0.5))
                if limit.certified:
                    confirm = max(limit.value, rule.z_confirm)
            immediate = max(rule.z_immediate * factor, confirm)
            clear = rule.z_clear * factor
            if was_open:
                beyond = z >= clear
            else:
                streak = streak + 1 if z >= confirm else 0
                beyond = z >= confirm and (streak >= rule.persistence or z >= immediate)
            if rule.stuck_factor is not None and state.samples[0] >= rule.min_samples:
                longest_s, longest_n = float(state.longest_run_s[0]), int(state.longest_run_samples[0])
                stuck = run_samples >= max(rule.stuck_factor * longest_n, rule.stuck_min_samples) and (
                    t - run_start >= rule.stuck_factor * longest_s
                )
        flagged[k] = beyond or stuck
        if scored[k]:
            history.append((t, z))
            while history[0][0] < t - rule.window_s:
                history.popleft()
        open_condition = bool(flagged[k])
        if was_open and not open_condition:
            streak = 0
        mature = bool(window) and window[-1][0] - window[0][0] >= 0.9 * rule.window_s
        learn = rule.protection == "none" or not flagged[k] or (rule.mature_only and not mature)
        if learn:
            window.append((t, v))
            pending.append((t, v))
        if len(pending) >= 32:  # the behaviour state is folded per micro-batch, as a worker would
            state = state.fold(np.array([p[0] for p in pending]), np.array([[p[1]] for p in pending]))
            pending.clear()
    return flagged, scored


def off_delay(alarms: list[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    """Alarms closer than ``gap_s`` merged, as an alarm's off-delay would keep them one episode."""
    merged: list[tuple[float, float]] = []
    for start, end in alarms:
        if merged and start - merged[-1][1] < gap_s:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass
class Tally:
    events: EventMetrics = NO_EVENTS
    truth: list[np.ndarray] | None = None
    flags: list[np.ndarray] | None = None
    merged: EventMetrics = NO_EVENTS
    silent: int = 0
    per_series_fa_week: list[float] | None = None

    def __post_init__(self) -> None:
        self.truth, self.flags, self.per_series_fa_week = [], [], []


def nab_experiment(nab_dir: Path, rules: list[Rule], only: list[str] | None) -> None:
    files = sorted((nab_dir / "data").glob("*/*.csv"))
    if only:
        files = [f for f in files if any(o in f.as_posix() for o in only)]
    series = []
    for path in files:
        data = read_labelled_csv(path, None)
        windows = windows_from_file(nab_dir / "windows.json", path)
        series.append((path, data.times, data.values[:, 0], windows))
    print(
        "| rule | windows detected | false alarms / day | ... with a 1 h off-delay | series under 1 FA/week "
        "| F1 rows | silent | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rule in rules:
        started = time.perf_counter()
        tally = Tally()
        assert tally.truth is not None and tally.flags is not None and tally.per_series_fa_week is not None
        for _, times, values, windows in series:
            flagged, scored = run_rule(rule, times, values)
            p = probation_rows(len(times), PROBATION)
            span = (float(times[p]), float(times[-1]))
            alarms = alarm_episodes(times, flagged)
            events = event_metrics(alarms, [w.interval for w in windows], span=span)
            tally.events = tally.events + events
            tally.merged = tally.merged + event_metrics(
                off_delay(alarms, 3600.0), [w.interval for w in windows], span=span
            )
            tally.truth.append(label_rows(times, windows)[p:])
            tally.flags.append(flagged[p:])
            tally.silent += int(not scored[p:].any())
            tally.per_series_fa_week.append(7 * events.false_alarms_per_day)
        point = metrics(np.concatenate(tally.truth), np.concatenate(tally.flags))
        quiet = sum(f < 1 for f in tally.per_series_fa_week)
        e = tally.events
        print(
            f"| {rule.name} | {e.detected} of {e.windows} | {e.false_alarms_per_day:.2f} "
            f"| {tally.merged.false_alarms_per_day:.2f} | {quiet} of {len(series)} "
            f"| {point['f1']:.3f} | {tally.silent} | {time.perf_counter() - started:.0f} |"
        )


SEVEN_DAYS = 7 * 86_400.0
RULES = [
    Rule("A: mean/std 24 h, n>=10 + t factor, floor=resolution, 3.5 x3 or 5, stuck 2x longest run, frozen"),
    Rule("  A + robust median/MAD", robust=True),
    Rule("  A + t factor on the effective n (lag-1)", young="t_eff"),
    Rule("  A without the young-window factor", young="none"),
    Rule("  A with min samples 30", min_samples=30),
    Rule("  A with floor 0.1 % of the centre (today)", floor="relative"),
    Rule("  A without floor", floor="none"),
    Rule("  A, protection excludes flagged readings only (today)", protection="exclude"),
    Rule("  A without protection", protection="none"),
    Rule("  A without stuck", stuck_factor=None),
    Rule("  A with persistence 1", persistence=1),
    Rule("  A with confirm 4.5, immediate 6", z_confirm=4.5, z_immediate=6.0, z_clear=3.5),
    Rule("  A with a 7 d window", window_s=SEVEN_DAYS),
    Rule("B: A + protection only once the window spans its length (mature)", mature_only=True),
    Rule("  B with a 7 d window", mature_only=True, window_s=SEVEN_DAYS),
    Rule("  B, 7 d, confirm 4.5 / immediate 6", mature_only=True, window_s=SEVEN_DAYS, z_confirm=4.5, z_immediate=6.0),
    Rule("  B, 7 d, no immediate (persistence always)", mature_only=True, window_s=SEVEN_DAYS, z_immediate=np.inf),
    Rule(
        "C: B, 7 d, threshold calibrated to 1 FA/week on every scored |z| of the span",
        mature_only=True,
        window_s=SEVEN_DAYS,
        weekly=1.0,
        calibrate_all=True,
    ),
    Rule("  C calibrated on the protected window instead", mature_only=True, window_s=SEVEN_DAYS, weekly=1.0),
]


async def simulator_experiment(seeds: list[int], days: float, target: float, persistence: int) -> None:
    """PCA on each seed's first day, scored on the rest, beside today's tiers.

    Protocol (what the measurements showed to be necessary): training rows = the first day's rows
    today's tiers call normal, absent cells carried forward; fitted on their first two thirds and
    calibrated on the last third (in-sample thresholds let Q fire all day on new days); Q and T^2
    limits by the moment-matched scaled chi-square at ``target`` per row; per-sensor residuals
    against a Bonferroni Gaussian threshold over the features. Each detector alarms after
    ``persistence`` consecutive rows.
    """
    index = SensorIndex.from_catalog(load_catalog())
    features = [i for i, s in enumerate(load_catalog().sensors) if s.update_interval_s != 3600]
    names = tuple(index.names[i] for i in features)
    detectors = ("today", "T2", "Q", "residual z", "today + residual z", "today + T2/Q/residual z")
    combos = dict.fromkeys(detectors, NO_EVENTS)
    per_kind: dict[str, dict[str, list[int]]] = {c: {} for c in combos}
    day = int(86_400 / 10)
    for seed in seeds:
        data, windows = simulated(seed, days)
        evaluation = await evaluate_data(index, data, StatisticalSettings(), windows=windows, probation=PROBATION)
        values = data.values[:, features]
        normal_rows = np.flatnonzero(~evaluation.predictions.status[:day])
        filled = carry_forward(values[:day])
        fit_rows, held_out = normal_rows[normal_rows < 2 * day // 3], normal_rows[normal_rows >= 2 * day // 3]
        monitor = fit_pca(filled[fit_rows], names).with_held_out(filled[held_out])
        own = monitor.score(filled[held_out])
        t2_limit, q_limit = scaled_chi2_threshold(own.t2, target), scaled_chi2_threshold(own.q, target)
        scores = monitor.score(values)
        residual = np.nan_to_num(np.abs(monitor.residual_z(values))).max(axis=1)
        flags = {
            "today": evaluation.predictions.status,
            "T2": persistent(np.nan_to_num(scores.t2) > t2_limit, persistence),
            "Q": persistent(np.nan_to_num(scores.q) > q_limit, persistence),
            "residual z": persistent(residual > gaussian_threshold(target, len(names)), persistence),
        }
        flags["today + residual z"] = flags["today"] | flags["residual z"]
        flags["today + T2/Q/residual z"] = flags["today + residual z"] | flags["T2"] | flags["Q"]
        span = (float(data.times[day]), float(data.times[-1]))
        for combo, flagged in flags.items():
            alarms = alarm_episodes(data.times, flagged)
            combos[combo] = combos[combo] + event_metrics(alarms, [w.interval for w in windows], span=span)
            for kind in sorted({w.kind for w in windows}):
                m = event_metrics(alarms, [w.interval for w in windows if w.kind == kind], span=span)
                tally = per_kind[combo].setdefault(kind, [0, 0])
                tally[0] += m.detected
                tally[1] += m.windows
        print(f"seed {seed}: PCA on {monitor.n_samples} rows x {len(names)} sensors, {monitor.n_components} components")
    kinds = sorted(per_kind["today"])
    print(f"\nscored on days 2..{days:g}; limits at {target}/row; persistence {persistence} rows")
    print("| detector | " + " | ".join(kinds) + " | windows | false alarms / day |")
    print("| --- | " + " | ".join("---" for _ in kinds) + " | --- | --- |")
    for combo, events in combos.items():
        cells = " | ".join(f"{per_kind[combo][k][0]} of {per_kind[combo][k][1]}" for k in kinds)
        print(f"| {combo} | {cells} | {events.detected} of {events.windows} | {events.false_alarms_per_day:.2f} |")


def persistent(flags: np.ndarray, rows: int) -> np.ndarray:
    """True where ``flags`` held for the last ``rows`` rows in a row."""
    run = np.zeros(len(flags), dtype=np.int64)
    for k in range(len(flags)):
        run[k] = (run[k - 1] + 1 if k else 1) if flags[k] else 0
    return run >= rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.tier2_ideas")
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--rules", nargs="*", type=int, default=None, help="indices into RULES")
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 11, 23, 5])
    parser.add_argument("--skip-nab", action="store_true")
    parser.add_argument("--target", type=float, default=1e-5)
    parser.add_argument("--persistence", type=int, default=3)
    args = parser.parse_args()
    if not args.skip_nab:
        rules = RULES if args.rules is None else [RULES[i] for i in args.rules]
        nab_experiment(args.nab_dir, rules, args.only)
    if args.seeds:
        asyncio.run(simulator_experiment(args.seeds, 3.0, args.target, args.persistence))


if __name__ == "__main__":
    main()
