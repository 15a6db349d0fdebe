"""Constants shared by the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 11, 23, tzinfo=UTC)
DAY = 8640  # payloads in 24 h at 10 s
