// History: anomalies per hour, resolved anomalies with who and when, the audit trail of value
// corrections, and the alarm performance report.

import { fill, formatTime, formatValue, h } from "./format.js";
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
      const stats = await this.api.get("stats/results-per-hour");
      const uPlot = (await import("/static/vendor/uPlot.esm.js")).default;
      const xs = stats.data.map((d) => Date.parse(d.hour) / 1000);
      const anomalies = stats.data.map((d) => d.anomalies);
      const total = anomalies.reduce((a, b) => a + b, 0);
      this.chart?.destroy();
      fill(
        this.hourly,
        h("h3", {}, "Anomalous analyses per hour (last 24 h)"),
        h("p", { class: "hint" }, `${total} anomalous of ${stats.data.reduce((a, d) => a + d.analyses, 0)} analyses`),
      );
      const bars = uPlot.paths.bars({ size: [0.8, 40] });
      this.chart = new uPlot(
        {
          width: Math.max(320, this.hourly.clientWidth - 32),
          height: 180,
          series: [{}, { label: "anomalous analyses", fill: "rgba(185,28,28,0.55)", stroke: "#991b1b", paths: bars, points: { show: false } }],
          axes: [{}, { size: 56 }],
          scales: { x: { time: true } },
        },
        [xs, anomalies],
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
            h("thead", {}, h("tr", {}, ["Hour", "Analyses", "Anomalous"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              stats.data.map((d) => h("tr", {}, h("td", {}, formatTime(d.hour)), h("td", {}, d.analyses), h("td", {}, d.anomalies))),
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
    fill(this.report, h("h3", {}, "Alarm performance"), h("p", { class: "hint" }, "The report is not served by this API yet."));
  }
}


