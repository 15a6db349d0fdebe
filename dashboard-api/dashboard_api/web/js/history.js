// History: anomalies per hour, resolved anomalies with who and when, the audit trail of value
// corrections, and the alarm performance report.

import { fill, formatAge, formatTime, formatValue, h } from "./format.js";
import { severityBadge } from "./queue.js";

export class HistoryView {
  constructor(root, api) {
    this.root = root;
    this.api = api;
    this.chart = null;
    this.hourly = h("div", { class: "panel", id: "history-hourly" });
    this.resolved = h("div", { class: "panel", id: "history-resolved" });
    this.corrections = h("div", { class: "panel", id: "history-corrections" });
    this.report = h("div", { class: "panel", id: "history-report" });
    root.replaceChildren(
      h(
        "div",
        { class: "toolbar" },
        h("button", { type: "button", id: "history-refresh", onclick: () => this.load() }, "Refresh"),
      ),
      h("div", { class: "history-grid" }, this.hourly, this.resolved, this.corrections, this.report),
    );
  }

  async load() {
    await Promise.all([this.loadHourly(), this.loadResolved(), this.loadCorrections(), this.loadReport()]);
  }

  async loadHourly() {
    try {
      const [hourly, severities, times] = await Promise.all([
        this.api.get("stats/anomalies-per-hour"),
        this.api.get("stats/anomalies-by-severity"),
        this.api.get("stats/response-times"),
      ]);
      const uPlot = (await import("/static/vendor/uPlot.esm.js")).default;
      const xs = hourly.data.map((d) => Date.parse(d.hour) / 1000);
      this.chart?.destroy();
      fill(
        this.hourly,
        h("h3", {}, "Anomalies per hour (last 24 h)"),
        h(
          "p",
          { class: "hint", id: "history-figures" },
          `${severities.total} opened`,
          severities.data.length ? ` (${severities.data.map((d) => `${d.anomalies} ${d.severity}`).join(", ")})` : "",
          ` · acknowledged after ${duration(times.time_to_acknowledge.median_s)} (median), resolved after `,
          `${duration(times.time_to_resolve.median_s)} (median) · ${times.unacknowledged} never acknowledged`,
        ),
      );
      const bars = (offset) => uPlot.paths.bars({ size: [0.4, 24], align: offset });
      this.chart = new uPlot(
        {
          width: Math.max(320, this.hourly.clientWidth - 32),
          height: 180,
          series: [
            {},
            { label: "opened", fill: "rgba(185,28,28,0.6)", stroke: "#991b1b", paths: bars(-1), points: { show: false } },
            { label: "resolved", fill: "rgba(6,95,70,0.55)", stroke: "#065f46", paths: bars(1), points: { show: false } },
          ],
          axes: [{}, { size: 48 }],
          // Half an hour of room either side, so the first and last hours' bars show whole.
          scales: { x: { time: true, range: (u, min, max) => [min - 1800, max + 1800] } },
        },
        [xs, hourly.data.map((d) => d.opened), hourly.data.map((d) => d.resolved)],
        this.hourly,
      );
      // The same figures as a table, for screen readers and exact reading.
      this.hourly.append(
        h(
          "details",
          {},
          h("summary", {}, "As a table"),
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ["Hour", "Opened", "Resolved"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              hourly.data.map((d) => h("tr", {}, h("td", {}, formatTime(d.hour)), h("td", {}, d.opened), h("td", {}, d.resolved))),
            ),
          ),
        ),
      );
    } catch (error) {
      fill(this.hourly, h("h3", {}, "Anomalies per hour"), h("p", { class: "error" }, error.message));
    }
  }

  async loadResolved() {
    try {
      const page = await this.api.get("resolved-anomalies", { limit: 50 });
      fill(
        this.resolved,
        h("h3", {}, "Resolved anomalies"),
        page.data.length
          ? h(
              "table",
              { id: "resolved-table" },
              h(
                "thead",
                {},
                h("tr", {}, ["Severity", "Anomaly", "Resolved by", "When", "Note", "Opened"].map((t) => h("th", { scope: "col" }, t))),
              ),
              h(
                "tbody",
                {},
                page.data.map((a) =>
                  h(
                    "tr",
                    { dataset: { id: a.id } },
                    h("td", {}, severityBadge(a.severity)),
                    h("td", {}, a.description, h("div", { class: "hint" }, a.sensors.join(", "))),
                    h("td", {}, a.resolved_by),
                    h("td", {}, formatTime(a.resolved_at)),
                    h("td", {}, a.resolution_note),
                    h("td", {}, formatTime(a.opened_at)),
                  ),
                ),
              ),
            )
          : h("p", { class: "hint" }, "Nothing resolved yet."),
      );
    } catch (error) {
      fill(this.resolved, h("h3", {}, "Resolved anomalies"), h("p", { class: "error" }, error.message));
    }
  }

  async loadCorrections() {
    try {
      const page = await this.api.get("corrections", { limit: 50 });
      fill(
        this.corrections,
        h("h3", {}, "Value corrections (audit trail)"),
        page.data.length
          ? h(
              "table",
              { id: "corrections-table" },
              h(
                "thead",
                {},
                h("tr", {}, ["When", "By", "Sensor", "Old → new", "Reason", "Reading time"].map((t) => h("th", { scope: "col" }, t))),
              ),
              h(
                "tbody",
                {},
                page.data.map((m) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, formatTime(m.modified_at)),
                    h("td", {}, m.modified_by),
                    h("td", {}, m.sensor),
                    h("td", {}, `${formatValue(m.old_value)} → ${formatValue(m.new_value)}`),
                    h("td", {}, m.reason),
                    h("td", {}, formatTime(m.reading_time)),
                  ),
                ),
              ),
            )
          : h("p", { class: "hint" }, "No corrections recorded."),
      );
    } catch (error) {
      fill(this.corrections, h("h3", {}, "Value corrections"), h("p", { class: "error" }, error.message));
    }
  }

  async loadReport() {
    try {
      const r = await this.api.get("report");
      const percent = (x) => `${(100 * x).toFixed(0)} %`;
      fill(
        this.report,
        h("h3", {}, "Alarm performance (last 24 h, ISA-18.2 / EEMUA 191)"),
        h(
          "dl",
          { class: "report-figures" },
          h("dt", {}, "Activations"),
          h("dd", {}, `${r.activations} · ${r.per_10_min.toFixed(2)} per 10 min (about 1 is manageable, over 2 is not) · peak ${r.peak_per_10_min} in 10 min`),
          h("dt", {}, "Time in floods"),
          h("dd", {}, percent(r.flood_share)),
          h("dt", {}, "Priorities"),
          h(
            "dd",
            {},
            Object.entries(r.priorities)
              .map(([k, v]) => `${k} ${percent(v)} (target ${percent(r.priority_target[k] ?? 0)})`)
              .join(", ") || "none",
          ),
          h("dt", {}, "To acknowledge"),
          h("dd", {}, `median ${duration(r.time_to_acknowledge.median_s)}, 90 % within ${duration(r.time_to_acknowledge.p90_s)} (${r.time_to_acknowledge.count})`),
          h("dt", {}, "To resolve"),
          h("dd", {}, `median ${duration(r.time_to_resolve.median_s)}, 90 % within ${duration(r.time_to_resolve.p90_s)} (${r.time_to_resolve.count})`),
          h("dt", {}, "Chattering"),
          h("dd", {}, r.chattering.join(", ") || "none"),
          h("dt", {}, "Standing over 24 h"),
          h("dd", {}, r.standing.join(", ") || "none"),
          h("dt", {}, "Shelved over 24 h"),
          h("dd", {}, r.stale_shelved.join(", ") || "none"),
        ),
        r.top.length
          ? h(
              "table",
              { id: "report-top" },
              h("caption", { class: "hint" }, "Most frequent alarms"),
              h("thead", {}, h("tr", {}, ["Alarm", "Activations", "Share"].map((t) => h("th", { scope: "col" }, t)))),
              h("tbody", {}, r.top.map((t) => h("tr", {}, h("td", {}, t.alarm), h("td", {}, t.activations), h("td", {}, percent(t.share))))),
            )
          : null,
      );
    } catch (error) {
      fill(this.report, h("h3", {}, "Alarm performance"), h("p", { class: "error" }, error.message));
    }
  }
}



const duration = (seconds) => (seconds === null || seconds === undefined ? "–" : formatAge(seconds));
