"""Steps the browser tests share: sign in through the form, wait for the live view, screenshots."""

from __future__ import annotations

from typing import Any

from tests.dashboard_page.stack import Stack, artifacts_dir

#: Long enough for a loaded CI machine; the page itself answers in well under a second.
TIMEOUT_MS = 20_000


async def open_page(browser: Any, stack: Stack, person: str = "alice", *, large: bool = False) -> Any:
    """A fresh page signed in as ``person`` through the sign-in form, the live tiles shown."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(f"{stack.base_url}/")
    await page.wait_for_selector("#api-key", state="visible", timeout=TIMEOUT_MS)
    await page.fill("#api-key", stack.keys[person])
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector(".tile[data-state]", timeout=TIMEOUT_MS)
    return page


async def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    await page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=full_page)
