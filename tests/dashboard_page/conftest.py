"""Fixtures of the dashboard page's browser tests: the real local stack (``stack.py``) and headless
Debian Chromium driven by playwright (no browser download). Without a ``chromium`` binary the tests
skip and say why, except under ``CI=true`` where they fail; ``make system-deps`` installs it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from analyzer.settings import Settings
from tests.dashboard_page.stack import Stack, chromium_binary, page_stack

pytestmark = pytest.mark.redis


@pytest.fixture
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        reason = "no chromium binary: `make system-deps` installs Debian's chromium for the page's browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the page must be tested in a real browser)")
        pytest.skip(reason)
    return binary


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with page_stack(settings) as running:
        yield running


@pytest.fixture
async def browser(chromium: str, stack: Stack) -> AsyncIterator[Any]:
    # On the stack, so the browser (and its open event stream) closes before the server stops.
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()
