"""A scripted stand-in for the analyzer's analyze and sweep routes (served by conftest)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

API_KEY = "test-key-" + uuid.uuid4().hex


@dataclass
class FakeAnalyzer:
    """Answers each request with the next scripted behaviour: a status code or ``"hang"``."""

    script: list[int | str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def next_behaviour(self) -> int | str:
        return self.script.pop(0) if self.script else 200
