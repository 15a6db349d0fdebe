"""The anomaly queue in headless Chromium against the real local stack: an anomaly injected into
the simulated feed appears in the queue with its evidence and context; acknowledging and resolving
it through the dialogs moves it to history; another operator acting first shows as a conflict."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.dashboard_page.helpers import TIMEOUT_MS, open_page, screenshot
from tests.dashboard_page.stack import Stack

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]


async def _queued(page: Any, stack: Stack, sensor: str, value: float, payloads: int = 3) -> str:
    """Inject ``value`` for ``sensor`` into the feed; the High-High anomaly's id once it is queued."""
    stack.inject(sensor, value, payloads=payloads)
    await page.click('#nav a[data-view="anomalies"]')
    row = page.locator(f'#queue tbody tr[data-id^="high_high:{sensor}@"]')
    await row.wait_for(timeout=TIMEOUT_MS)
    anomaly_id = await row.get_attribute("data-id")
    assert anomaly_id is not None
    return anomaly_id


async def _open(page: Any, anomaly_id: str) -> None:
    await page.locator(f'#queue tbody tr[data-id="{anomaly_id}"] .row-button').click()
    await page.wait_for_selector("#anomaly-detail h3", timeout=TIMEOUT_MS)


async def test_an_injected_anomaly_is_acknowledged_and_resolved_into_history(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    anomaly_id = await _queued(page, stack, "TI-101", 375.0)
    row = page.locator(f'#queue tbody tr[data-id="{anomaly_id}"]')
    assert await row.get_attribute("data-severity") == "critical"
    assert "CRITICAL" in (await row.inner_text()).upper()  # the severity in words, not only colour
    # The queue puts the most severe first.
    assert await page.locator("#queue tbody tr").first.get_attribute("data-id") == anomaly_id

    await _open(page, anomaly_id)
    detail = page.locator("#anomaly-detail")
    assert "High-High" in await detail.locator("h3").inner_text()
    record_before = await page.evaluate("window.dashboard.queue.selected.record")
    evidence = await detail.locator(".evidence").inner_text()
    assert "heuristic TI-101" in evidence and "375" in evidence
    # Tier 3's context arrives from the explainer (offline provider, labelled as such).
    await page.wait_for_function(
        "window.dashboard.queue.select(window.dashboard.queue.selected.record.id, {focus: false})"
        ".then(() => !!document.querySelector('#anomaly-detail .llm'))",
        timeout=TIMEOUT_MS,
        polling=1000,
    )
    assert "offline" in (await detail.locator(".llm").inner_text()).lower()
    await screenshot(page, "queue", full_page=True)

    # Acknowledge through the dialog.
    await page.click("#action-acknowledge")
    await page.wait_for_selector("#action-dialog[open]")
    await page.fill("#action-note", "on it: checking the burner")
    await page.click("#action-submit")
    await page.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=TIMEOUT_MS)
    await page.wait_for_function(
        "document.querySelector('#anomaly-detail').textContent.includes('Acknowledgedalice')", timeout=TIMEOUT_MS
    )
    assert "acknowledged" in await page.locator("#detail-state").inner_text()

    # Resolve with a root cause and a note: it leaves the queue and shows in history with who and when.
    await page.click("#action-resolve")
    await page.wait_for_selector("#action-dialog[open]")
    await page.select_option("#action-cause", "instrument_fault")
    await page.fill("#action-note", "thermocouple TI-101 replaced")
    await page.click("#action-submit")
    await page.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=TIMEOUT_MS)
    assert await page.locator("#detail-state").inner_text() == "resolved by alice"
    await page.wait_for_selector(f'#queue tbody tr[data-id="{anomaly_id}"]', state="detached", timeout=TIMEOUT_MS)

    # Bob corrects the reading that opened it (a bad thermocouple value): the audit trail shows it.
    [opening, *_] = record_before["evidence"]["results"]
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers("bob")) as client:
        correction = {"result_id": opening["id"], "sensor": "TI-101", "value": 352.0, "reason": "thermocouple fault"}
        assert (await client.post("/api/v1/corrections", json=correction)).status_code == 201

    await page.click('#nav a[data-view="history"]')
    audit = page.locator("#corrections-table tbody tr").first
    await audit.wait_for(timeout=TIMEOUT_MS)
    audited = await audit.inner_text()
    assert all(part in audited for part in ("bob", "TI-101", "375.0 → 352.0", "thermocouple fault")), audited
    resolved = page.locator(f'#resolved-table tr[data-id="{anomaly_id}"]')
    await resolved.wait_for(timeout=TIMEOUT_MS)
    text = await resolved.inner_text()
    assert "alice" in text and "thermocouple TI-101 replaced" in text
    # Anomalies per hour counts it as opened and resolved; the alarm report counts its activation.
    await page.wait_for_selector("#history-hourly canvas", timeout=TIMEOUT_MS)
    figures = await page.locator("#history-figures").inner_text()
    assert "1 critical" in figures and "opened" in figures
    await page.wait_for_selector("#report-top", timeout=TIMEOUT_MS)
    assert "high_high:TI-101" in await page.locator("#report-top").inner_text()
    await screenshot(page, "history", full_page=True)
    # The API agrees: resolved by alice, with the root cause chosen in the dialog.
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers("vera")) as client:
        record = (await client.get(f"/api/v1/anomalies/{anomaly_id}")).json()
    assert (record["status"], record["resolved_by"], record["root_cause"]) == ("resolved", "alice", "instrument_fault")
    assert not page.errors


async def test_another_operator_resolving_first_shows_as_a_conflict(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    anomaly_id = await _queued(page, stack, "FI-101", 520.0)
    await _open(page, anomaly_id)
    await page.click("#action-resolve")
    await page.wait_for_selector("#action-dialog[open]")
    await page.select_option("#action-cause", "process_upset")
    await page.fill("#action-note", "charge pump tripped")
    # Meanwhile bob resolves it from elsewhere.
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers("bob")) as client:
        response = await client.post(
            f"/api/v1/anomalies/{anomaly_id}/resolve", json={"note": "already handled", "root_cause": "maintenance"}
        )
    assert response.status_code == 200
    await page.click("#action-submit")
    conflict = page.locator("#action-conflict")
    await conflict.wait_for(state="visible", timeout=TIMEOUT_MS)
    text = await conflict.inner_text()
    assert "Someone else changed this anomaly first" in text
    assert "bob resolved it" in text and "already handled" in text
    # The server's own words too (what the 409 said).
    assert await page.locator("#conflict-detail").inner_text() != ""
    assert await page.locator("#action-dialog[open]").count() == 1  # stays open to be read
    assert await page.locator("#action-submit").is_disabled()  # nothing left to do
    await screenshot(page, "conflict")
    await page.keyboard.press("Escape")  # the dialog closes from the keyboard
    await page.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=TIMEOUT_MS)
    assert await page.locator("#detail-state").inner_text() == "resolved by bob"
    assert not page.errors


async def test_a_viewer_reads_the_queue_but_cannot_act(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack, "vera")
    anomaly_id = await _queued(page, stack, "TI-102", 130.0, payloads=600)
    await _open(page, anomaly_id)
    assert await page.locator("#anomaly-detail .actions button").count() == 0
    assert "may read, not act" in await page.locator("#anomaly-detail .actions").inner_text()
    # Back on the live view the sensor's tile says HIGH-HIGH and counts its open anomalies: the
    # screenshot the README shows (docs/dashboard-page.png is a copy of this artefact).
    await page.click('#nav a[data-view="live"]')
    tile = page.locator('.tile[data-sensor="TI-102"]')
    await page.wait_for_selector('.tile[data-sensor="TI-102"][data-state="hh"][data-open="yes"]', timeout=TIMEOUT_MS)
    assert await tile.locator(".badge").inner_text() == "HIGH-HIGH"
    assert "open" in await tile.locator(".open-count").inner_text()
    await page.wait_for_timeout(1500)  # sparklines of the visible tiles filled in
    await screenshot(page, "live-alarm")


async def test_shelve_and_unshelve_through_the_dialogs(browser: Any, stack: Stack) -> None:
    page = await open_page(browser, stack)
    anomaly_id = await _queued(page, stack, "TI-103", 360.0)
    await _open(page, anomaly_id)
    await page.click("#action-shelve")
    await page.wait_for_selector("#action-dialog[open]")
    await page.fill("#action-minutes", "30")
    await page.fill("#action-reason", "transmitter being replaced")
    await page.click("#action-submit")
    await page.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=TIMEOUT_MS)
    detail = page.locator("#anomaly-detail")
    await page.wait_for_function(
        "document.querySelector('#anomaly-detail').textContent.includes('transmitter being replaced')",
        timeout=TIMEOUT_MS,
    )
    assert "by alice until" in await detail.inner_text()
    row = page.locator(f'#queue tbody tr[data-id="{anomaly_id}"]')
    await page.wait_for_function(
        f"document.querySelector('#queue tbody tr[data-id=\"{anomaly_id}\"]')?.dataset.state === 'shelved'",
        timeout=TIMEOUT_MS,
    )
    assert "shelved" in await row.inner_text()  # the state in words
    await page.click("#action-unshelve")
    await page.wait_for_selector("#action-dialog[open]")
    await page.click("#action-submit")
    await page.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#action-shelve", timeout=TIMEOUT_MS)  # shelving is offered again
    assert "Shelved" not in await detail.locator("dl").inner_text()
    assert not page.errors
