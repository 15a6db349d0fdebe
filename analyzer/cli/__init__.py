"""``sensor-analyzer``: the command line of the analyzer.

Every command reads the same settings (environment variables, ``.env``); options override a few.
Commands live beside what they run: ``stack`` (api, worker, sweep, run), ``landing`` (ingest,
simulate, replay), ``report`` (alarm performance), ``limits`` (learned limits), ``baseline``
(accept a new operating point), ``dashboard`` (the operator API); ``evaluate`` with its tool in
``analyzer/devtools``.
"""

from __future__ import annotations

from analyzer.cli import dashboard, landing, limits, report, stack, tier3
from analyzer.cli.app import app
from analyzer.devtools.evaluate import evaluate_command

app.command("evaluate")(evaluate_command)

__all__ = ["app", "dashboard", "landing", "limits", "report", "stack", "tier3"]
