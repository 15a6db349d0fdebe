"""The page in headless Chromium against the real local stack: sign-in, live tiles updated by the
event stream, trends, large-text mode and keyboard reach."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.dashboard_page.helpers import TIMEOUT_MS, open_page, screenshot
from tests.dashboard_page.stack import Stack

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]


async def test_sign_in_shows_the_plant_and_values_change_live(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    tiles = await page.locator(".tile").count()
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers("alice")) as client:
        catalogued = (await client.get("/api/v1/live/sensors")).json()["count"]
    assert tiles == catalogued == 100
    # Core sensors come first, in their own group.
    assert await page.locator(".group h3").first.inner_text() == "Core sensors · 8"
    assert await page.locator("#who").inner_text() == "alice (operator)"
    # The key is kept for this tab only, and never shows in the address.
    assert await page.evaluate("sessionStorage.getItem('sensor-analyzer.api-key')") == stack.keys["alice"]
    assert stack.keys["alice"] not in page.url

    tile = page.locator('.tile[data-sensor="FI-101"] .num')
    before = await tile.inner_text()
    updates = int(await page.locator("#view-live").get_attribute("data-updates") or "0")
    # New readings arrive by the event stream (no reload): the counter grows and the value moves.
    await page.wait_for_function(
        "([n, old]) => Number(document.getElementById('view-live').dataset.updates) > n + 1 && "
        "document.querySelector('.tile[data-sensor=\"FI-101\"] .num').textContent !== old",
        arg=[updates, before],
        timeout=TIMEOUT_MS,
    )
    assert await page.locator("#connection").inner_text() == "live"
    await screenshot(page, "live")
    # Signing out forgets the key and shows the sign-in form again.
    await page.click("#sign-out")
    await page.wait_for_selector("#api-key", state="visible", timeout=TIMEOUT_MS)
    assert await page.evaluate("sessionStorage.getItem('sensor-analyzer.api-key')") is None
    assert await page.locator("#view-live").is_hidden()
    assert not page.errors


async def test_a_stale_sensor_is_greyed_and_says_so(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    # The feed stopped sending VI-706 five minutes ago (3 x its 10 s interval is the limit).
    [sensor] = stack.silenced
    tile = page.locator(f'.tile[data-sensor="{sensor}"]')
    assert await tile.get_attribute("data-state") == "stale"
    await tile.scroll_into_view_if_needed()  # tiles out of view are not rendered (content-visibility)
    # Rendered text appears with the next frames after the scroll; wait for them, then check it.
    await page.wait_for_function(
        "(s) => document.querySelector(`.tile[data-sensor='${s}'] .badge`).innerText.trim() !== ''",
        arg=sensor,
        timeout=TIMEOUT_MS,
    )
    assert await tile.locator(".badge").inner_text() == "STALE"  # in words, not only grey
    assert "STALE" in await tile.inner_text()
    assert await page.locator('.tile[data-state="stale"]').count() == 1
    assert "1 stale" in await page.locator("#view-live .summary").inner_text()


async def test_trend_with_bands_markers_and_range_picker(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    await page.click('.tile[data-sensor="TI-101"]')
    await page.wait_for_selector("#view-trend[data-state=ready]", timeout=TIMEOUT_MS)
    assert page.url.endswith("#trend/TI-101")
    legend = await page.locator('figure.chart[data-sensor="TI-101"] .chart-legend').inner_text()
    assert "24 h mean" in legend and "HIGH-HIGH 361.6" in legend
    # A second sensor stacks below the first.
    await page.fill("#trend-sensor", "FI-101")
    await page.press("#trend-sensor", "Enter")
    await page.wait_for_selector('figure.chart[data-sensor="FI-101"] canvas', timeout=TIMEOUT_MS)
    await page.wait_for_selector("#view-trend[data-state=ready]", timeout=TIMEOUT_MS)
    assert await page.locator("figure.chart").count() == 2
    await screenshot(page, "trend")
    # The range picker: 6 h is pressed and the status names the readings shown.
    await page.get_by_role("button", name="6 h").click()
    await page.wait_for_selector("#view-trend[data-state=ready]", timeout=TIMEOUT_MS)
    assert await page.locator(".preset[aria-pressed=true]").inner_text() == "6 h"
    # Dragging across a chart zooms into the selection (a custom range, no preset pressed).
    box = await page.locator('figure.chart[data-sensor="TI-101"] .u-over').bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.80, box["y"] + 40)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + 40, steps=5)
    await page.mouse.up()
    await page.wait_for_function("!document.querySelector('.preset[aria-pressed=true]')", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#view-trend[data-state=ready]", timeout=TIMEOUT_MS)
    start, end = await page.evaluate("[window.dashboard.trend.custom.start, window.dashboard.trend.custom.end]")
    assert 0 < end - start < 6 * 3600 * 1000 * 0.2  # about 15 % of the 6 h shown
    assert not page.errors


async def test_large_text_and_keyboard_reach(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    size = await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    await page.click("#large-text")
    larger = await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert larger >= size * 1.4
    assert await page.get_attribute("#large-text", "aria-pressed") == "true"
    # After a reload (still signed in: the key is in the tab's session), tabbing from the top
    # reaches the skip link, the views and the first tile; Enter on a tile opens its trend.
    await page.reload()
    await page.wait_for_selector(".tile[data-state]", timeout=TIMEOUT_MS)
    assert await page.get_attribute("#large-text", "aria-pressed") == "true"  # the mode is remembered
    reached = []
    for _ in range(20):
        await page.keyboard.press("Tab")
        focused = "document.activeElement.dataset.sensor || document.activeElement.textContent.trim()"
        reached.append(await page.evaluate(focused))
        if reached[-1] == "FI-101":
            break
    assert reached[0] == "Skip to the content"
    assert {"Live", "Trends", "History"} <= set(reached) and reached[-1] == "FI-101"
    await page.keyboard.press("Enter")
    await page.wait_for_selector('figure.chart[data-sensor="FI-101"]', timeout=TIMEOUT_MS)
    await screenshot(page, "large-text")


async def test_a_wrong_key_is_refused_with_a_message(browser: Any, stack: Stack) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{stack.base_url}/")
    await page.fill("#api-key", "sak_not-a-key")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#login-error:not(:empty)", timeout=TIMEOUT_MS)
    assert "not valid" in await page.locator("#login-error").inner_text()
    assert await page.locator("#view-live").is_hidden()


async def test_entra_sign_in_is_offered_when_configured(browser: Any, settings: Any) -> None:
    from tests.dashboard_page.stack import page_stack

    entra = {
        "entra_tenant_id": "11111111-2222-3333-4444-555555555555",
        "entra_audiences": ["api://dashboard-api"],
        "entra_spa_client_id": "66666666-7777-8888-9999-000000000000",
    }
    async with page_stack(settings, backfill=10, explain=False, dashboard=entra) as entra_stack:
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{entra_stack.base_url}/")
        # MSAL is loaded from the server's own vendored copy, and the Microsoft sign-in is offered
        # beside the API key (no request to Entra ID happens until the button is pressed).
        await page.wait_for_selector("#entra-button", state="visible", timeout=TIMEOUT_MS)
        assert await page.evaluate("typeof window.msal?.createStandardPublicClientApplication") == "function"
        assert await page.locator("#banner").is_hidden()
        assert await page.locator("#api-key").is_visible()
        assert not errors
        await context.close()


async def test_the_page_resumes_the_event_stream_without_gaps_or_repeats(browser: Any, settings: Any) -> None:
    from tests.dashboard_page.stack import page_stack

    # The server ends each event stream after 2 s; the page reconnects with Last-Event-ID.
    short = {"sse_max_duration_s": 2.0, "sse_retry_ms": 200}
    async with page_stack(settings, backfill=30, explain=False, dashboard=short) as quick:
        context = await browser.new_context()
        page = await open_page_on(context, quick)
        await page.evaluate(
            """() => {
                const events = window.dashboard.events;
                const onEvent = events.onEvent, onStatus = events.onStatus;
                window.__ids = []; window.__connections = 0;
                events.onEvent = (kind, data) => {
                    if (kind === 'reading') window.__ids.push(data.result_id);
                    onEvent(kind, data);
                };
                events.onStatus = (state) => { if (state === 'live') window.__connections += 1; onStatus(state); };
            }"""
        )
        await page.wait_for_timeout(7000)
        ids: list[str] = await page.evaluate("window.__ids")
        connections = await page.evaluate("window.__connections")
        landed = await quick.services.redis.xrange(quick.services.keys.stream, min=ids[0], max=ids[-1])
        await context.close()
    assert connections >= 3  # it did reconnect, several times
    assert len(ids) == len(set(ids))  # nothing twice
    assert ids == [entry_id for entry_id, _ in landed]  # nothing missed in between


async def open_page_on(context: Any, stack: Any) -> Any:
    page = await context.new_page()
    await page.goto(f"{stack.base_url}/")
    await page.fill("#api-key", stack.keys["alice"])
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector(".tile[data-state]", timeout=TIMEOUT_MS)
    await page.wait_for_function("window.dashboard.events", timeout=TIMEOUT_MS)
    return page
