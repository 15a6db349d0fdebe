// The live plant view: one tile per catalogued sensor, grouped by area or by engineering unit,
// core sensors first. Readings from the event stream are queued and applied once per animation
// frame, so 100 sensors updating together cost one layout, and only visible sparklines redraw.

import { formatTileAge, formatValue, h, LIMIT_LABEL, limitState } from "./format.js";

const HOUR_MS = 3600 * 1000;
const SPARK_POINTS = 120;
const SPARK_FETCHES = 4; // sparkline requests in flight at once: the tiles paint first
const FRAME_BUDGET = 12; // tiles rewritten per animation frame

/** The area of a tag from its loop number (ISA-5.1: TI-101 -> loop 101 -> area 100). */
export function areaOf(name) {
  const match = /-(\d)\d{2}\b/.exec(name);
  return match ? `Area ${match[1]}00` : "Other";
}

class Tile {
  constructor(sensor, onOpen) {
    this.sensor = sensor;
    this.times = [];
    this.values = [];
    this.value = sensor.value;
    this.timestamp = sensor.timestamp;
    this.visible = false;
    this.sparkDirty = true;
    this.sparkLoaded = false;
    this.shown = { value: null, age: null, state: null, open: null };

    this.valueText = h("span", { class: "num" });
    this.stateText = h("span", { class: "badge" });
    this.ageText = h("span", { class: "age" });
    this.openText = h("span", { class: "open-count" });
    this.canvas = h("canvas", { class: "spark", width: 160, height: 36, "aria-hidden": "true" });
    this.node = h(
      "a",
      {
        class: "tile",
        href: `#trend/${encodeURIComponent(sensor.name)}`,
        dataset: { sensor: sensor.name },
        title: sensor.description,
        onclick: onOpen,
      },
      h("span", { class: "tile-head" }, h("span", { class: "tag" }, sensor.name), this.stateText),
      h("span", { class: "value" }, this.valueText, " ", h("span", { class: "unit" }, sensor.unit || "")),
      this.canvas,
      h("span", { class: "tile-foot" }, this.ageText, this.openText),
      h("span", { class: "desc" }, sensor.description),
    );
  }

  ageSeconds(now) {
    return this.timestamp ? (now - Date.parse(this.timestamp)) / 1000 : null;
  }

  /** Writes to the DOM only what changed since the last frame. */
  render(now, openCount, colours) {
    let wrote = false;
    const age = this.ageSeconds(now);
    const stale = age === null || age > this.sensor.stale_after_s;
    const limit = limitState(this.value, this.sensor.limits);
    const state = age === null ? "none" : stale ? "stale" : limit;
    const valueText = formatValue(this.value);
    const ageText = formatTileAge(age);
    if (valueText !== this.shown.value) {
      this.valueText.textContent = valueText;
      this.shown.value = valueText;
      wrote = true;
    }
    if (ageText !== this.shown.age) {
      this.ageText.textContent = age === null ? "no reading" : `${ageText} ago`;
      this.shown.age = ageText;
      wrote = true;
    }
    if (state !== this.shown.state) {
      this.node.dataset.state = state;
      // The state in words (colour is never the only signal); the tile's text is what a screen
      // reader reads, so it needs no label of its own that could fall behind.
      const words = state === "none" ? "NO DATA" : state === "stale" ? "STALE" : LIMIT_LABEL[state];
      this.stateText.textContent = state === "normal" ? "" : words;
      this.shown.state = state;
      wrote = true;
    }
    if (openCount !== this.shown.open) {
      this.openText.textContent = openCount ? `⚠ ${openCount} open` : "";
      this.node.dataset.open = openCount ? "yes" : "no";
      this.shown.open = openCount;
      wrote = true;
    }
    if (this.visible && this.sparkDirty) {
      this.drawSpark(now, state === "stale" || state === "none" ? colours.stale : colours.line, colours.limit);
      wrote = true;
    }
    return wrote;
  }

  push(timeMs, value) {
    this.times.push(timeMs);
    this.values.push(value);
    const cutoff = timeMs - HOUR_MS;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < cutoff) drop += 1;
    if (drop) {
      this.times.splice(0, drop);
      this.values.splice(0, drop);
    }
    this.sparkDirty = true;
  }

  drawSpark(now, lineColour, limitColour) {
    this.sparkDirty = false;
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    // Measured in the frame's read phase (LiveView.flush), never here between writes.
    const [width, height] = this.size ?? [160, 36];
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const n = this.values.length;
    if (n < 2) return;
    let low = Infinity;
    let high = -Infinity;
    for (const v of this.values) {
      if (v < low) low = v;
      if (v > high) high = v;
    }
    const { high: hi, low: lo } = this.sensor.limits;
    if (high === low) {
      high += 1;
      low -= 1;
    }
    const start = now - HOUR_MS;
    const x = (t) => ((t - start) / HOUR_MS) * width;
    const y = (v) => height - 2 - ((v - low) / (high - low)) * (height - 4);
    // The High / Low limits when they fall inside the drawn range, dashed.
    context.strokeStyle = limitColour;
    context.setLineDash([3, 3]);
    context.lineWidth = 1;
    for (const limit of [hi, lo]) {
      if (limit != null && limit > low && limit < high) {
        context.beginPath();
        context.moveTo(0, y(limit));
        context.lineTo(width, y(limit));
        context.stroke();
      }
    }
    context.setLineDash([]);
    context.strokeStyle = lineColour;
    context.lineWidth = 1.5;
    context.beginPath();
    context.moveTo(x(this.times[0]), y(this.values[0]));
    for (let i = 1; i < n; i += 1) context.lineTo(x(this.times[i]), y(this.values[i]));
    context.stroke();
  }
}

export class LiveView {
  constructor(root, api, { openCounts, onOpenSensor }) {
    this.root = root;
    this.api = api;
    this.openCounts = openCounts; // () => Map(sensor -> open anomalies)
    this.onOpenSensor = onOpenSensor;
    this.tiles = new Map();
    this.waiting = new Set(); // tiles to render in the coming frames, in arrival order
    this.frameRequested = false;
    this.updates = 0;
    this.groupBy = localStorage.getItem("sensor-analyzer.group-by") || "area";
    this.filter = "";
    this.sparkQueue = [];
    this.sparkInFlight = 0;
    this.observer = new IntersectionObserver((entries) => this.onVisibility(entries), { rootMargin: "200px" });
    this.grid = h("div", { class: "groups", id: "tiles" });
    this.summary = h("p", { class: "summary", role: "status", "aria-live": "polite" });
    const groupSelect = h(
      "select",
      { id: "group-by", onchange: (event) => this.regroup(event.target.value) },
      h("option", { value: "area" }, "area (loop number)"),
      h("option", { value: "unit" }, "engineering unit"),
    );
    groupSelect.value = this.groupBy;
    const search = h("input", {
      id: "tile-filter",
      type: "search",
      placeholder: "TI-1, heater, …",
      oninput: (event) => {
        this.filter = event.target.value.trim().toLowerCase();
        this.applyFilter();
      },
    });
    root.replaceChildren(
      h(
        "div",
        { class: "toolbar" },
        h("label", { for: "group-by" }, "Group by "),
        groupSelect,
        h("label", { for: "tile-filter" }, "Find "),
        search,
        this.summary,
      ),
      this.grid,
    );
    setInterval(() => this.schedule(), 1000); // ages tick; staleness appears without new data
    window.addEventListener("resize", () => this.remeasure());
  }

  async load() {
    const live = await this.api.get("live/sensors");
    for (const sensor of live.data) {
      const tile = new Tile(sensor, (event) => {
        if (this.onOpenSensor) {
          event.preventDefault();
          this.onOpenSensor(sensor.name);
        }
      });
      this.tiles.set(sensor.name, tile);
    }
    this.layout();
    this.flush({ budget: Infinity }); // the first paint shows every tile at once
    performance.mark("tiles-rendered");
  }

  layout() {
    const groups = new Map();
    const core = [...this.tiles.values()].filter((tile) => tile.sensor.core);
    if (core.length) groups.set("Core sensors", core);
    for (const tile of this.tiles.values()) {
      if (tile.sensor.core) continue;
      const key = this.groupBy === "unit" ? tile.sensor.unit || "(no unit)" : areaOf(tile.sensor.name);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(tile);
    }
    const sections = [];
    for (const [name, tiles] of groups) {
      const id = `group-${sections.length}`;
      sections.push(
        h(
          "section",
          { class: "group", "aria-labelledby": id },
          h("h3", { id }, name, h("span", { class: "count" }, ` · ${tiles.length}`)),
          h("div", { class: "tiles" }, tiles.map((tile) => tile.node)),
        ),
      );
    }
    this.grid.replaceChildren(...sections);
    for (const tile of this.tiles.values()) this.observer.observe(tile.node);
    this.remeasure();
  }

  /** Sizes changed (layout, window, large-text mode): measure the sparklines next frame. */
  remeasure() {
    this.measure = true;
    this.colours = null;
    this.schedule();
  }

  regroup(by) {
    this.groupBy = by;
    localStorage.setItem("sensor-analyzer.group-by", by);
    this.layout();
    this.applyFilter();
  }

  applyFilter() {
    for (const tile of this.tiles.values()) {
      const text = `${tile.sensor.name} ${tile.sensor.description}`.toLowerCase();
      tile.node.hidden = Boolean(this.filter) && !text.includes(this.filter);
    }
  }

  onVisibility(entries) {
    for (const entry of entries) {
      const tile = this.tiles.get(entry.target.dataset.sensor);
      if (!tile) continue;
      tile.visible = entry.isIntersecting;
      if (tile.visible) this.measure = true;
      if (tile.visible && !tile.sparkLoaded) {
        tile.sparkLoaded = true;
        this.sparkQueue.push(tile);
      }
    }
    this.pumpSparklines();
    this.schedule();
  }

  /** The last hour of visible tiles, a few requests at a time. */
  pumpSparklines() {
    while (this.sparkInFlight < SPARK_FETCHES && this.sparkQueue.length) {
      const tile = this.sparkQueue.shift();
      this.sparkInFlight += 1;
      this.api
        .get(`live/sensors/${encodeURIComponent(tile.sensor.name)}/readings`, { points: SPARK_POINTS })
        .then((series) => {
          const times = series.data.map((b) => Date.parse(b.start));
          const values = series.data.map((b) => b.mean);
          // Readings that arrived by events meanwhile are newer: keep them after the history.
          const since = times.length ? times[times.length - 1] : -Infinity;
          const keep = tile.times.map((t, i) => [t, tile.values[i]]).filter(([t]) => t > since);
          tile.times = [...times, ...keep.map(([t]) => t)];
          tile.values = [...values, ...keep.map(([, v]) => v)];
          tile.sparkDirty = true;
          this.waiting.add(tile);
          this.requestFrame();
        })
        .catch((error) => {
          tile.sparkLoaded = false; // tried again when it scrolls into view again
          console.warn("sparkline", tile.sensor.name, error);
        })
        .finally(() => {
          this.sparkInFlight -= 1;
          this.pumpSparklines();
        });
    }
  }

  /** A `reading` event: queued; the next animation frame shows it. */
  onReading(event) {
    const time = Date.parse(event.timestamp);
    for (const [name, value] of Object.entries(event.values)) {
      const tile = this.tiles.get(name);
      if (!tile) continue;
      if (!tile.timestamp || time >= Date.parse(tile.timestamp)) {
        tile.value = value;
        tile.timestamp = event.timestamp;
      }
      tile.push(time, value);
      this.waiting.add(tile);
    }
    this.updates += 1;
    this.requestFrame();
  }

  /** The sparkline colours of the current theme (CSS custom properties). */
  readColours() {
    const style = getComputedStyle(document.documentElement);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    this.colours = {
      line: read("--spark", "#1d4ed8"),
      stale: read("--stale-ink", "#6b7280"),
      limit: read("--limit", "#b45309"),
    };
    return this.colours;
  }

  /** Every tile may have changed (ages tick, the queue changed, the view is shown again). */
  schedule() {
    for (const tile of this.tiles.values()) this.waiting.add(tile);
    this.requestFrame();
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.flush());
  }

  flush({ budget = FRAME_BUDGET } = {}) {
    this.frameRequested = false;
    if (this.root.hidden) return; // nothing to draw in a hidden view; shown again -> schedule()
    const now = Date.now();
    const counts = this.openCounts();
    // Read once per frame, before any write: reading styles between writes would force a
    // style recalculation per tile.
    const colours = this.colours ?? this.readColours();
    if (this.measure) {
      this.measure = false;
      for (const tile of this.tiles.values()) {
        if (tile.visible) {
          tile.size = [tile.canvas.clientWidth || 160, tile.canvas.clientHeight || 36];
          tile.sparkDirty = true;
        }
      }
    }
    // At most FRAME_BUDGET tiles change per frame: 100 sensors landing together are spread
    // over about nine frames (150 ms) instead of one long frame; visible tiles go first.
    let written = 0;
    for (const pass of [true, false]) {
      for (const tile of this.waiting) {
        if (written >= budget) break;
        if (tile.visible !== pass) continue;
        if (tile.render(now, counts.get(tile.sensor.name) ?? 0, colours)) written += 1;
        this.waiting.delete(tile);
      }
    }
    if (this.waiting.size) this.requestFrame();
    let stale = 0;
    let alarmed = 0;
    for (const tile of this.tiles.values()) {
      if (tile.shown.state === "stale" || tile.shown.state === "none") stale += 1;
      else if (tile.shown.state !== "normal" && tile.shown.state !== null) alarmed += 1;
    }
    const text = `${this.tiles.size} sensors · ${alarmed} beyond a limit · ${stale} stale`;
    if (this.summary.textContent !== text) this.summary.textContent = text;
    this.root.dataset.updates = String(this.updates);
  }
}
