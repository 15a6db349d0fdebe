"""The dashboard page in headless Chromium on the real local stack (Redis, worker, simulator,
dashboard API): first paint and frame times while 100 sensors update.

    python -m bench.dashboard_page [--seconds 30] [--interval 10 --interval 1]

Prints, per run, the first contentful paint and the time until the tiles show values (from
navigation start, signed in), then for each landing interval the animation frames seen over the
measured time: median, 95th/99th percentile and longest frame interval, frames longer than 50 ms
(a dropped frame at 60 Hz is > 16.7 ms; > 50 ms is what an operator notices), long tasks, and the
time the page spent applying the readings (the rAF flush). One JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

from analyzer.devtools.local_redis import local_redis
from analyzer.settings import Settings
from tests.dashboard_page.stack import chromium_binary, page_stack

#: Runs in the page before its own scripts: frame intervals, long tasks and flush durations.
PROBE = """
window.__bench = { frames: [], long: [], flush: [], recording: false };
(function () {
  let last = null;
  const tick = (t) => {
    if (window.__bench.recording && last !== null) window.__bench.frames.push(t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (window.__bench.recording) window.__bench.long.push(entry.duration);
    }).observe({ type: "longtask", buffered: false });
  } catch (e) {}
})();
"""

#: Wraps the live view's per-frame flush to time it (installed once the page has built it).
WRAP_FLUSH = """
() => {
  const live = window.dashboard.live;
  const flush = live.flush.bind(live);
  live.flush = () => {
    const t0 = performance.now();
    flush();
    if (window.__bench.recording) window.__bench.flush.push(performance.now() - t0);
  };
}
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(settings: Settings, seconds: float, intervals: list[float]) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    binary = chromium_binary()
    if binary is None:
        raise SystemExit("no chromium binary: `make system-deps` installs Debian's chromium")
    report: dict[str, Any] = {"runs": []}
    async with page_stack(settings, interval_s=intervals[0], explain=False) as stack, async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1600, "height": 1000})
        key = json.dumps(stack.keys["alice"])
        await context.add_init_script(f"sessionStorage.setItem('sensor-analyzer.api-key', {key});")
        await context.add_init_script(PROBE)
        page = await context.new_page()
        # A first visit warms the server's imports and the browser's module cache, as a reload would.
        await page.goto(f"{stack.base_url}/")
        await page.wait_for_selector(".tile[data-state]")
        paints = []
        for _ in range(3):
            await page.goto(f"{stack.base_url}/?{uuid.uuid4().hex[:6]}")
            await page.wait_for_selector(".tile[data-state]")
            paints.append(
                await page.evaluate(
                    """() => ({
                        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
                        tiles: performance.getEntriesByName('tiles-rendered')[0]?.startTime,
                        dom: performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd,
                    })"""
                )
            )
        report["first_contentful_paint_ms"] = statistics.median(p["fcp"] for p in paints)
        report["tiles_with_values_ms"] = statistics.median(p["tiles"] for p in paints)
        report["dom_content_loaded_ms"] = statistics.median(p["dom"] for p in paints)
        print(
            f"first paint {report['first_contentful_paint_ms']:.0f} ms, tiles with values "
            f"{report['tiles_with_values_ms']:.0f} ms, DOMContentLoaded {report['dom_content_loaded_ms']:.0f} ms "
            f"(median of {len(paints)} loads)"
        )
        await page.evaluate(WRAP_FLUSH)
        for interval in intervals:
            stack.interval_s = interval
            await asyncio.sleep(min(interval, 2))
            updates_before = int(await page.evaluate("window.dashboard.live.updates"))
            await page.evaluate("Object.assign(window.__bench, {frames: [], long: [], flush: [], recording: true})")
            await asyncio.sleep(seconds)
            data = await page.evaluate("window.__bench.recording = false, window.__bench")
            updates = int(await page.evaluate("window.dashboard.live.updates")) - updates_before
            frames: list[float] = data["frames"]
            run = {
                "interval_s": interval,
                "seconds": seconds,
                "payloads_applied": updates,
                "sensor_updates": updates * 100,
                "frames": len(frames),
                "fps": len(frames) / seconds,
                "frame_p50_ms": percentile(frames, 0.5),
                "frame_p95_ms": percentile(frames, 0.95),
                "frame_p99_ms": percentile(frames, 0.99),
                "frame_max_ms": max(frames, default=float("nan")),
                "frames_over_50ms": sum(f > 50 for f in frames),
                "long_tasks": len(data["long"]),
                "flush_p50_ms": percentile(data["flush"], 0.5),
                "flush_max_ms": max(data["flush"], default=float("nan")),
                "flushes": len(data["flush"]),
            }
            report["runs"].append(run)
            print(
                f"every {interval:g} s x 100 sensors, {seconds:g} s: {run['payloads_applied']} payloads, "
                f"{run['frames']} frames ({run['fps']:.1f}/s), frame p50 {run['frame_p50_ms']:.1f} / "
                f"p95 {run['frame_p95_ms']:.1f} / p99 {run['frame_p99_ms']:.1f} / max {run['frame_max_ms']:.1f} ms, "
                f"{run['frames_over_50ms']} over 50 ms, {run['long_tasks']} long tasks; "
                f"flush p50 {run['flush_p50_ms']:.2f} ms, max {run['flush_max_ms']:.2f} ms ({run['flushes']} flushes)"
            )
        await browser.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per interval")
    parser.add_argument(
        "--interval", type=float, action="append", help="seconds between payloads (repeatable; default 10 and 1)"
    )
    args = parser.parse_args()
    intervals = args.interval or [10.0, 1.0]
    key = f"bench-page:{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as folder:
        base = Settings(_env_file=None)  # type: ignore[call-arg]
        with local_redis(base) as found:
            settings = base.model_copy(
                update={
                    "redis_connection_string": SecretStr(found.url),
                    "stream_key": key,
                    "sqlite_path": Path(folder) / "bench.db",
                    "store_backend": "sqlite",
                    "worker_block_ms": 100,
                }
            )
            try:
                report = asyncio.run(measure(settings, args.seconds, intervals))
            finally:
                with redis.Redis.from_url(found.url) as client:
                    # The stream's keys and the hash-tagged ones beside it ("{stream}:alarm-events").
                    names = [n for pattern in (f"{key}*", f"{{{key}}}*") for n in client.scan_iter(pattern, 1000)]
                    if names:
                        client.delete(*names)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
