"""The store contract fixtures of ``tests/store`` (a ``store`` of each backend), for the store
methods the dashboard API added."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "store"))

from tests.store.conftest import backend, cosmos_server, store

__all__ = ["backend", "cosmos_server", "store"]
