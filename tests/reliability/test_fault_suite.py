"""The fault suite's shortened run (``python -m bench.reliability --quick``): every scenario against
real worker processes, a redis-server of its own with persistence, SQLite and the Cosmos-protocol
server; 0 lost, 0 duplicated and identical verdicts everywhere. About 2 minutes on a shared 2-core
machine, most of it worker start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.reliability.suite import COSMOS_PACKAGE, run_suite, table

ONCE = ["1 worker", "2 workers", "4 workers", "worker SIGKILL", "Redis restart", "model service down"]
ONCE += ["poison entries", "out-of-order delivery"]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="the suite starts its own redis-server")
async def test_every_fault_scenario_loses_nothing_doubles_nothing_and_agrees(tmp_path: Path) -> None:
    outcomes = await run_suite(quick=True, workdir=tmp_path)
    report = table(outcomes)
    cosmos = shutil.which("node") is not None and COSMOS_PACKAGE.is_dir()
    names = [o.scenario for o in outcomes]
    for prefix in ONCE:
        assert sum(n.startswith(prefix) for n in names) == 1, report
    assert sum(n.startswith("SQLite locked") for n in names) == 2, report
    assert sum(n.startswith("Cosmos server stopped") for n in names) == (2 if cosmos else 1), report
    for outcome in outcomes:
        if outcome.note.startswith("skipped"):
            continue
        assert outcome.ok, report
        assert outcome.landed >= 80 and outcome.stored == 80, report
        assert outcome.lost == 0 and outcome.duplicated == 0, report
    poison = next(o for o in outcomes if o.scenario == "poison entries")
    assert poison.dead_lettered == poison.landed - poison.stored > 0, report
    assert all(o.identical in ("yes", "reference") for o in outcomes if not o.note.startswith("skipped")), report
