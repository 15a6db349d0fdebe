// Trends: one chart per chosen sensor (stacked, cursors in step) over a range from the picker or
// a dragged selection; each with its min-max band, limit bands (High/High-High above, Low/Low-Low
// below), the last 24 h mean ± 3σ band and markers where an analysis found the sensor anomalous.

import { fill, formatTime, formatValue, h } from "./format.js";

const PRESETS = [
  ["1 h", 1],
  ["6 h", 6],
  ["24 h", 24],
  ["3 d", 72],
  ["7 d", 168],
];
const POINTS = 800;
const BAND_TTL_MS = 5 * 60 * 1000;

let uPlotModule = null;
async function loadUPlot() {
  uPlotModule ??= import("/static/vendor/uPlot.esm.js").then((module) => module.default);
  return uPlotModule;
}

/** Mean and standard deviation of readings summarised in buckets (mean, min, max, count): the
 * spread inside a bucket is taken as uniform between its min and max ((max-min)^2 / 12). */
export function bandOf(buckets) {
  let n = 0;
  let sum = 0;
  for (const b of buckets) {
    n += b.count;
    sum += b.mean * b.count;
  }
  if (!n) return null;
  const mean = sum / n;
  let squares = 0;
  for (const b of buckets) squares += b.count * ((b.mean - mean) ** 2 + (b.max - b.min) ** 2 / 12);
  return { mean, sigma: Math.sqrt(squares / n), readings: n };
}

export class TrendView {
  constructor(root, api, { sensors, onChange }) {
    this.root = root;
    this.api = api;
    this.sensors = sensors; // () => Map(name -> live sensor with unit, limits, description)
    this.onChange = onChange; // the chosen sensors changed (the hash follows)
    this.chosen = [];
    this.hours = 1;
    this.custom = null; // {start, end} in ms when zoomed or picked
    this.charts = [];
    this.bands = new Map(); // sensor -> {at, band}
    this.pending = new Map(); // live points queued for the next frame
    this.frameRequested = false;
    this.loadToken = 0;
    this.build();
    window.addEventListener("resize", () => this.resize());
  }

  build() {
    this.input = h("input", { id: "trend-sensor", list: "trend-sensors", placeholder: "TI-101", autocomplete: "off" });
    this.datalist = h("datalist", { id: "trend-sensors" });
    this.chips = h("ul", { class: "chips", "aria-label": "Chosen sensors" });
    this.presetButtons = PRESETS.map(([label, hours]) =>
      h("button", { type: "button", class: "preset", "aria-pressed": "false", onclick: () => this.pick(hours) }, label),
    );
    this.from = h("input", { id: "trend-from", type: "datetime-local" });
    this.to = h("input", { id: "trend-to", type: "datetime-local" });
    this.options = {
      limits: h("input", { id: "opt-limits", type: "checkbox", checked: true, onchange: () => this.redraw() }),
      band: h("input", { id: "opt-band", type: "checkbox", checked: true, onchange: () => this.redraw() }),
      markers: h("input", { id: "opt-markers", type: "checkbox", checked: true, onchange: () => this.redraw() }),
    };
    this.status = h("p", { class: "summary", role: "status", "aria-live": "polite" });
    this.chartsNode = h("div", { class: "charts" });
    const add = (event) => {
      event.preventDefault();
      const name = this.input.value.trim();
      if (name && this.sensors().has(name) && !this.chosen.includes(name)) {
        this.choose([...this.chosen, name]);
        this.input.value = "";
      } else if (name && !this.sensors().has(name)) {
        this.status.textContent = `No sensor ${name} in the catalogue.`;
      }
    };
    this.root.replaceChildren(
      h(
        "form",
        { class: "toolbar", onsubmit: add },
        h("label", { for: "trend-sensor" }, "Add sensor "),
        this.input,
        this.datalist,
        h("button", { type: "submit" }, "Add"),
        this.chips,
      ),
      h(
        "div",
        { class: "toolbar" },
        h("span", { id: "range-label" }, "Range "),
        h("span", { role: "group", "aria-labelledby": "range-label", class: "presets" }, this.presetButtons),
        h("label", { for: "trend-from" }, "from "),
        this.from,
        h("label", { for: "trend-to" }, "to "),
        this.to,
        h("button", { type: "button", onclick: () => this.pickCustom() }, "Show"),
        h("button", { type: "button", id: "zoom-out", onclick: () => this.pick(this.hours) }, "Reset zoom"),
      ),
      h(
        "div",
        { class: "toolbar" },
        h("label", {}, this.options.limits, " limit bands"),
        h("label", {}, this.options.band, " 24 h mean ± 3σ"),
        h("label", {}, this.options.markers, " anomaly markers"),
        h("span", { class: "hint" }, "Drag across a chart to zoom in."),
      ),
      this.status,
      this.chartsNode,
    );
  }

  catalogueChanged() {
    fill(
      this.datalist,
      [...this.sensors().values()].map((s) => h("option", { value: s.name }, `${s.name} · ${s.description}`)),
    );
  }

  choose(names) {
    this.chosen = names.filter((name) => this.sensors().has(name));
    fill(
      this.chips,
      this.chosen.map((name) =>
        h(
          "li",
          {},
          name,
          h(
            "button",
            {
              type: "button",
              class: "chip-remove",
              "aria-label": `Remove ${name}`,
              onclick: () => this.choose(this.chosen.filter((n) => n !== name)),
            },
            "×",
          ),
        ),
      ),
    );
    this.onChange?.(this.chosen);
    this.load();
  }

  pick(hours) {
    this.hours = hours;
    this.custom = null;
    this.load();
  }

  pickCustom() {
    const start = Date.parse(this.from.value);
    const end = Date.parse(this.to.value);
    if (!(start < end)) {
      this.status.textContent = "Pick a start before the end.";
      return;
    }
    this.custom = { start, end };
    this.load();
  }

  range() {
    if (this.custom) return this.custom;
    const end = Date.now();
    return { start: end - this.hours * 3600 * 1000, end };
  }

  async band(sensor) {
    const cached = this.bands.get(sensor);
    if (cached && Date.now() - cached.at < BAND_TTL_MS) return cached.band;
    const series = await this.api.get(`live/sensors/${encodeURIComponent(sensor)}/readings`, {
      start: new Date(Date.now() - 24 * 3600 * 1000).toISOString(),
      points: 2000,
    });
    const band = bandOf(series.data);
    this.bands.set(sensor, { at: Date.now(), band });
    return band;
  }

  async markers(sensor, range) {
    const page = await this.api.get("results", {
      sensor,
      status: "anomaly",
      start: new Date(range.start).toISOString(),
      end: new Date(range.end).toISOString(),
      limit: 500,
    });
    return page.data.map((r) => Date.parse(r.timestamp) / 1000);
  }

  async load() {
    const token = ++this.loadToken;
    for (const [i, button] of this.presetButtons.entries()) {
      button.setAttribute("aria-pressed", String(!this.custom && PRESETS[i][1] === this.hours));
    }
    const range = this.range();
    this.from.value = toLocalInput(range.start);
    this.to.value = toLocalInput(range.end);
    if (!this.chosen.length) {
      this.destroyCharts();
      fill(this.chartsNode, h("p", { class: "empty" }, "Choose a sensor above, or a tile on the Live view."));
      this.status.textContent = "";
      return;
    }
    this.status.textContent = "Loading…";
    this.root.dataset.state = "loading";
    try {
      const uPlot = await loadUPlot();
      const loaded = await Promise.all(
        this.chosen.map(async (sensor) => {
          const [series, band, markers] = await Promise.all([
            this.api.get(`live/sensors/${encodeURIComponent(sensor)}/readings`, {
              start: new Date(range.start).toISOString(),
              end: new Date(range.end).toISOString(),
              points: POINTS,
            }),
            this.band(sensor).catch(() => null),
            this.markers(sensor, range).catch(() => []),
          ]);
          return { sensor, series, band, markers };
        }),
      );
      if (token !== this.loadToken) return; // a newer choice is loading
      this.destroyCharts();
      this.chartsNode.replaceChildren();
      for (const item of loaded) this.charts.push(this.chart(uPlot, item, range));
      const readings = loaded.reduce((sum, item) => sum + item.series.readings, 0);
      const truncated = loaded.some((item) => item.series.truncated) ? " (truncated: pick a shorter range)" : "";
      this.status.textContent = `${formatTime(new Date(range.start).toISOString())} – ${formatTime(
        new Date(range.end).toISOString(),
      )} · ${readings} readings${truncated}`;
      this.root.dataset.state = "ready";
    } catch (error) {
      if (token === this.loadToken) {
        this.status.textContent = `Could not load the trend: ${error.message}`;
        this.root.dataset.state = "failed";
      }
    }
  }

  chart(uPlot, { sensor, series, band, markers }, range) {
    const spec = this.sensors().get(sensor);
    const xs = series.data.map((b) => Date.parse(b.start) / 1000);
    const data = [xs, series.data.map((b) => b.mean), series.data.map((b) => b.min), series.data.map((b) => b.max)];
    const limits = spec.limits;
    const legend = h(
      "p",
      { class: "chart-legend" },
      band ? `24 h mean ${formatValue(band.mean)} ± 3σ ${formatValue(3 * band.sigma)} ${spec.unit}` : "no 24 h band",
      " · ",
      `${markers.length} anomalous analyses ▲`,
      " · limits ",
      ["low_low", "low", "high", "high_high"]
        .filter((k) => limits[k] != null)
        .map((k) => `${k.replace("_", "-").toUpperCase()} ${formatValue(limits[k])}`)
        .join(", ") || "none",
    );
    const holder = h("figure", { class: "chart", dataset: { sensor } });
    holder.append(
      h("figcaption", {}, h("strong", {}, sensor), ` · ${spec.description} (${spec.unit})`),
      legend,
    );
    this.chartsNode.append(holder);
    const view = this;
    // Axis text follows the page's text size (the large-text mode is for reading from afar).
    const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
    const font = `${Math.round(rootPx * 0.8)}px system-ui, sans-serif`;
    const options = {
      width: this.chartWidth(),
      height: this.chartHeight(),
      scales: {
        x: { time: true, min: range.start / 1000, max: range.end / 1000 },
        y: {
          range: (u, low, high) => {
            let lo = low;
            let hi = high;
            if (view.options.band.checked && band) {
              lo = Math.min(lo, band.mean - 3 * band.sigma);
              hi = Math.max(hi, band.mean + 3 * band.sigma);
            }
            if (view.options.limits.checked) {
              for (const limit of [limits.low, limits.high]) {
                if (limit == null) continue;
                lo = Math.min(lo, limit);
                hi = Math.max(hi, limit);
              }
            }
            const pad = (hi - lo) * 0.08 || 1;
            return [lo - pad, hi + pad];
          },
        },
      },
      axes: [
        { font, size: Math.round(rootPx * 3) },
        { label: spec.unit, font, labelFont: `bold ${font}`, size: Math.round(rootPx * 4.5) },
      ],
      series: [
        {},
        { label: `${sensor} mean`, stroke: "#1d4ed8", width: 1.5 },
        { label: "min", stroke: "rgba(29,78,216,0.25)", width: 1 },
        { label: "max", stroke: "rgba(29,78,216,0.25)", width: 1 },
      ],
      bands: [{ series: [3, 2], fill: "rgba(29,78,216,0.12)" }],
      cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: "trend" } },
      hooks: {
        drawClear: [(u) => view.underlay(u, limits, band)],
        draw: [(u) => view.overlay(u, markers)],
        setSelect: [
          (u) => {
            if (u.select.width < 8) return;
            const start = u.posToVal(u.select.left, "x") * 1000;
            const end = u.posToVal(u.select.left + u.select.width, "x") * 1000;
            u.setSelect({ left: 0, width: 0 }, false);
            view.custom = { start, end };
            view.load();
          },
        ],
      },
    };
    const plot = new uPlot(options, data, holder);
    plot.sensor = sensor;
    return plot;
  }

  /** Limit bands and the mean ± 3σ band, under the data. */
  underlay(u, limits, band) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const y = (v) => u.valToPos(v, "y", true);
    const shade = (from, to, colour) => {
      const a = Math.max(top, Math.min(top + height, y(from)));
      const b = Math.max(top, Math.min(top + height, y(to)));
      if (Math.abs(b - a) < 0.5) return;
      ctx.fillStyle = colour;
      ctx.fillRect(left, Math.min(a, b), width, Math.abs(b - a));
    };
    const [ymin, ymax] = [u.scales.y.min, u.scales.y.max];
    ctx.save();
    if (this.options.band.checked && band) {
      shade(band.mean - 3 * band.sigma, band.mean + 3 * band.sigma, "rgba(107,114,128,0.13)");
    }
    if (this.options.limits.checked) {
      if (limits.high != null) shade(limits.high, limits.high_high ?? ymax, "rgba(245,158,11,0.16)");
      if (limits.high_high != null) shade(limits.high_high, ymax, "rgba(220,38,38,0.16)");
      if (limits.low != null) shade(limits.low_low ?? ymin, limits.low, "rgba(245,158,11,0.16)");
      if (limits.low_low != null) shade(ymin, limits.low_low, "rgba(220,38,38,0.16)");
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1;
      const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
      ctx.font = `${Math.round(rootPx * 0.75 * devicePixelRatio)}px sans-serif`;
      for (const [key, colour] of [
        ["high_high", "#b91c1c"],
        ["high", "#b45309"],
        ["low", "#b45309"],
        ["low_low", "#b91c1c"],
      ]) {
        const value = limits[key];
        if (value == null || value < ymin || value > ymax) continue;
        ctx.strokeStyle = colour;
        ctx.fillStyle = colour;
        ctx.beginPath();
        ctx.moveTo(left, y(value));
        ctx.lineTo(left + width, y(value));
        ctx.stroke();
        ctx.fillText(key.replace("_", "-").toUpperCase(), left + 4, y(value) - 3);
      }
    }
    ctx.restore();
  }

  /** Anomaly markers: a triangle on top and a thin line at each anomalous analysis. */
  overlay(u, markers) {
    if (!this.options.markers.checked || !markers.length) return;
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    const size = 5 * devicePixelRatio;
    ctx.save();
    ctx.fillStyle = "#b91c1c";
    ctx.strokeStyle = "rgba(185,28,28,0.35)";
    for (const t of markers) {
      if (t < u.scales.x.min || t > u.scales.x.max) continue;
      const x = u.valToPos(t, "x", true);
      ctx.beginPath();
      ctx.moveTo(x, top + height);
      ctx.lineTo(x, top);
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(x - size, top);
      ctx.lineTo(x + size, top);
      ctx.lineTo(x, top + 1.6 * size);
      ctx.fill();
    }
    ctx.restore();
  }

  redraw() {
    for (const chart of this.charts) chart.redraw(true, true);
  }

  chartWidth() {
    return Math.max(320, this.chartsNode.clientWidth - 28); // inside the figure's padding and border
  }

  chartHeight() {
    return Math.round(16 * (parseFloat(getComputedStyle(document.documentElement).fontSize) || 15));
  }

  resize() {
    for (const chart of this.charts) chart.setSize({ width: this.chartWidth(), height: this.chartHeight() });
  }

  /** The text size changed: charts are rebuilt with their axis fonts. */
  restyle() {
    if (this.charts.length) this.load();
  }

  destroyCharts() {
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
  }

  /** Live readings extend a chart showing "up to now" (a preset range), once per frame. */
  onReading(event) {
    if (this.custom || this.root.hidden) return;
    for (const chart of this.charts) {
      const value = event.values[chart.sensor];
      if (value !== undefined) this.pending.set(chart, [...(this.pending.get(chart) ?? []), [event.timestamp, value]]);
    }
    if (this.pending.size && !this.frameRequested) {
      this.frameRequested = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.frameRequested = false;
    const end = Date.now() / 1000;
    for (const [chart, points] of this.pending) {
      const [xs, mean, min, max] = chart.data.map((column) => [...column]);
      for (const [timestamp, value] of points) {
        xs.push(Date.parse(timestamp) / 1000);
        mean.push(value);
        min.push(value);
        max.push(value);
      }
      chart.batch(() => {
        chart.setData([xs, mean, min, max], false);
        chart.setScale("x", { min: end - this.hours * 3600, max: end });
      });
    }
    this.pending.clear();
  }
}

function toLocalInput(ms) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(
    date.getMinutes(),
  )}`;
}
