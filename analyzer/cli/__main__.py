"""``python -m analyzer.cli``: the same as the ``sensor-analyzer`` command."""

from analyzer.cli import app

app()
