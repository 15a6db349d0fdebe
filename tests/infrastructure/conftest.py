"""Fixtures for the offline checks of ``infrastructure/``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hcl_stack import Stack, load_stack


@pytest.fixture(scope="session")
def stack() -> Stack:
    return load_stack()
