// The anomaly queue: open anomalies by severity, then oldest first; a detail panel with the
// evidence (tier results, most involved sensors) and tier 3's context; acknowledge, shelve,
// unshelve and resolve dialogs that send the ETag of what the operator saw (If-Match) and, on a
// 409, show who changed it first and how it is now.

import { ApiError, allPages } from "./api.js";
import { fill, formatAge, formatTime, formatValue, h, humanize, SEVERITIES, severityRank } from "./format.js";

const STATE_WORDS = {
  unack_active: "active, not acknowledged",
  ack_active: "active, acknowledged",
  unack_rtn: "back to normal, not acknowledged",
  ack_rtn: "back to normal, acknowledged",
  shelved: "shelved",
  suppressed: "suppressed",
  resolved: "resolved",
};
const ROOT_CAUSES = [
  "process_upset",
  "equipment_failure",
  "instrument_fault",
  "calibration",
  "communication",
  "operator_action",
  "maintenance",
  "planned_change",
  "false_alarm",
  "unknown",
];
const POLL_MS = 15000;

export const stateWords = (state) => STATE_WORDS[state] ?? humanize(state);

export function severityBadge(severity) {
  return h("span", { class: "sev", dataset: { sev: severity } }, severity);
}

/** Queue order: most severe first, then the oldest first (it has waited longest). */
export function queueOrder(a, b) {
  return severityRank(a.severity) - severityRank(b.severity) || Date.parse(a.opened_at) - Date.parse(b.opened_at);
}

export class QueueView {
  constructor(root, api, { canAct, onChange, onOpenSensor, signedIn }) {
    this.root = root;
    this.api = api;
    this.canAct = canAct; // () => the caller's role may act (operator or admin)
    this.onChange = onChange; // the queue changed (counts on tiles and the nav)
    this.onOpenSensor = onOpenSensor;
    this.items = [];
    this.selected = null; // {record, etag}
    this.filters = { severity: "", state: "", sensor: "" };
    this.reloadTimer = null;
    this.build();
    this.dialog = new ActionDialog(api, (record, etag) => this.changed(record, etag));
    setInterval(() => {
      // Acknowledgements by others raise no event: poll while someone is signed in and looking.
      if (!document.hidden && signedIn()) this.reload();
    }, POLL_MS);
  }

  build() {
    const select = (id, label, options, key) =>
      h(
        "label",
        { for: id },
        `${label} `,
        h(
          "select",
          {
            id,
            onchange: (event) => {
              this.filters[key] = event.target.value;
              this.reload();
            },
          },
          options.map(([value, text]) => h("option", { value }, text)),
        ),
      );
    this.tableBody = h("tbody");
    this.status = h("p", { class: "summary", role: "status", "aria-live": "polite" });
    this.detail = h("div", { class: "detail", id: "anomaly-detail", tabindex: "-1" }, "Select an anomaly.");
    const sensor = h("input", { id: "queue-sensor", placeholder: "any sensor", size: 10 });
    this.root.replaceChildren(
      h(
        "form",
        {
          class: "toolbar",
          onsubmit: (event) => {
            event.preventDefault();
            this.filters.sensor = sensor.value.trim();
            this.reload();
          },
        },
        select("queue-severity", "Severity", [["", "all"], ...SEVERITIES.map((s) => [s, s])], "severity"),
        select(
          "queue-state",
          "State",
          [["", "all open"], ...Object.entries(STATE_WORDS).filter(([k]) => k !== "resolved")],
          "state",
        ),
        h("label", { for: "queue-sensor" }, "Sensor "),
        sensor,
        h("button", { type: "submit" }, "Filter"),
        this.status,
      ),
      h(
        "div",
        { class: "queue-layout" },
        h(
          "table",
          { id: "queue" },
          h("caption", { class: "hint" }, "Open anomalies, most severe first, then the longest waiting"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Severity", "Anomaly", "State", "Waiting", "Readings"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          this.tableBody,
        ),
        this.detail,
      ),
    );
  }

  /** Open anomalies per sensor (tiles show the count). */
  openCounts() {
    const counts = new Map();
    for (const item of this.items) for (const s of item.sensors) counts.set(s, (counts.get(s) ?? 0) + 1);
    return counts;
  }

  /** Reload soon (alarm events come in bursts). */
  soon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 400);
  }

  async reload() {
    try {
      const params = { sort: "-severity", limit: 200 };
      for (const [key, value] of Object.entries(this.filters)) if (value) params[key] = value;
      this.items = (await allPages(this.api, "anomalies", params, 600)).sort(queueOrder);
      this.renderTable();
      this.onChange?.(this.items);
      if (this.selected && !this.items.some((item) => item.id === this.selected.record.id)) {
        // Resolved meanwhile (here or elsewhere): the panel keeps it, marked, until another is chosen.
        this.selected.gone = true;
      }
    } catch (error) {
      this.status.textContent = `Could not load the queue: ${error.message}`;
    }
  }

  renderTable() {
    const now = Date.now();
    const rows = this.items.map((item) => {
      const button = h(
        "button",
        { type: "button", class: "row-button", onclick: () => this.select(item.id) },
        item.description,
      );
      return h(
        "tr",
        {
          dataset: { id: item.id, severity: item.severity, state: item.state },
          class: this.selected?.record.id === item.id ? "selected" : "",
        },
        h("td", {}, severityBadge(item.severity)),
        h("td", {}, button, h("div", { class: "hint" }, `${item.sensors.join(", ")} · ${humanize(item.alarm_type)}`)),
        h("td", {}, stateWords(item.state), item.acknowledged_by ? h("div", { class: "hint" }, `by ${item.acknowledged_by}`) : null),
        h("td", {}, formatAge((now - Date.parse(item.opened_at)) / 1000)),
        h("td", {}, String(item.count)),
      );
    });
    fill(this.tableBody, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "No open anomalies.")));
    const bySeverity = SEVERITIES.map((s) => [s, this.items.filter((i) => i.severity === s).length]).filter(([, n]) => n);
    this.status.textContent = `${this.items.length} open${bySeverity.length ? ": " : ""}${bySeverity
      .map(([s, n]) => `${n} ${s}`)
      .join(", ")}`;
  }

  async select(id, { focus = true } = {}) {
    try {
      const { data, etag } = await this.api.request("GET", `anomalies/${encodeURIComponent(id)}`);
      this.selected = { record: data, etag };
      this.renderDetail();
      this.renderTable();
      if (focus) this.detail.focus();
    } catch (error) {
      fill(this.detail, h("p", { class: "error" }, `Could not load ${id}: ${error.message}`));
    }
  }

  changed(record, etag) {
    this.selected = { record, etag };
    this.renderDetail();
    this.reload();
  }

  renderDetail() {
    const { record } = this.selected;
    const act = this.canAct() && record.status === "open";
    const action = (name, label) =>
      h(
        "button",
        { type: "button", class: name === "resolve" ? "primary" : "", id: `action-${name}`, onclick: () => this.dialog.open(name, this.selected) },
        label,
      );
    const actions = [];
    if (act) {
      if (!record.acknowledged_by) actions.push(action("acknowledge", "Acknowledge…"));
      actions.push(record.shelf ? action("unshelve", "Unshelve…") : action("shelve", "Shelve…"));
      actions.push(action("resolve", "Resolve…"));
    }
    const evidence = record.evidence;
    const context = evidence?.context;
    fill(
      this.detail,
      h("h3", {}, severityBadge(record.severity), " ", record.description),
      h(
        "dl",
        {},
        h("dt", {}, "State"),
        h("dd", { id: "detail-state" }, record.status === "resolved" ? `resolved by ${record.resolved_by}` : stateWords(record.state)),
        h("dt", {}, "Sensors"),
        h(
          "dd",
          {},
          record.sensors.map((s, i) => [
            i ? ", " : "",
            h("a", { href: `#trend/${encodeURIComponent(s)}`, onclick: (e) => { e.preventDefault(); this.onOpenSensor?.(s); } }, s),
          ]),
        ),
        h("dt", {}, "Raised by"),
        h("dd", {}, `${record.tier} · ${humanize(record.alarm_type)}${record.chattering ? " · chattering" : ""}`),
        h("dt", {}, "Opened"),
        h("dd", {}, `${formatTime(record.opened_at)} (${formatAge((Date.now() - Date.parse(record.opened_at)) / 1000)} ago)`),
        h("dt", {}, "Last seen"),
        h("dd", {}, `${formatTime(record.last_seen)}${record.active ? " · still active" : " · back to normal"}`),
        h("dt", {}, "Readings"),
        h("dd", {}, `${record.count} in ${record.activations} activation(s); last ${formatValue(record.last_value)}, peak ${formatValue(record.peak_value)}`),
        record.acknowledged_by ? [h("dt", {}, "Acknowledged"), h("dd", {}, `${record.acknowledged_by}, ${formatTime(record.acknowledged_at)}`)] : null,
        record.shelf ? [h("dt", {}, "Shelved"), h("dd", {}, `by ${record.shelf.by} until ${formatTime(record.shelf.until)}: ${record.shelf.reason}`)] : null,
      ),
      this.selected.gone ? h("p", { class: "banner" }, "No longer in the queue (resolved).") : null,
      h("div", { class: "actions" }, actions.length ? actions : h("span", { class: "hint" }, this.canAct() ? "" : "Your role may read, not act.")),
      h("h4", {}, "Most involved sensors"),
      topSensors(record.top_sensors),
      h("h4", {}, "Evidence"),
      evidenceList(evidence?.results ?? []),
      h("h4", {}, "Context (tier 3)"),
      context
        ? h(
            "div",
            { class: "llm" },
            h("p", {}, context.summary),
            listOf("Likely causes", context.likely_causes),
            listOf("Recommended checks", context.recommended_checks),
            listOf("Affected equipment", context.affected_equipment),
            h(
              "p",
              { class: "hint" },
              `${context.offline ? "Written offline from the tier 1 and 2 evidence (no language model)" : `${context.provider} ${context.model}`} · confidence ${context.confidence} · suggests ${context.suggested_severity} · ${formatTime(context.generated_at)}`,
            ),
          )
        : h("p", { class: "hint" }, "No context written yet."),
      h("h4", {}, "History"),
      h(
        "ol",
        { class: "history" },
        (record.history ?? []).map((t) =>
          h("li", {}, `${formatTime(t.at)} · ${t.action}${t.by ? ` by ${t.by}` : ""}${t.note ? `: ${t.note}` : ""}`),
        ),
      ),
    );
  }
}

function listOf(title, items) {
  if (!items?.length) return null;
  return [h("strong", {}, title), h("ul", {}, items.map((item) => h("li", {}, item)))];
}

function topSensors(top) {
  if (!top?.length) return h("p", { class: "hint" }, "None recorded.");
  const largest = Math.max(...top.map((t) => Math.abs(t.value))) || 1;
  return h(
    "table",
    { class: "top-sensors" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Sensor"), h("th", { scope: "col" }, "Contribution"))),
    h(
      "tbody",
      {},
      top.map((t) =>
        h(
          "tr",
          {},
          h("td", {}, t.sensor),
          h(
            "td",
            {},
            h("span", { class: "bar-cell", style: `width:${Math.round((Math.abs(t.value) / largest) * 8)}rem` }),
            ` ${formatValue(t.value)}`,
          ),
        ),
      ),
    ),
  );
}

function evidenceList(results) {
  if (!results.length) return h("p", { class: "hint" }, "No stored analyses found.");
  return h(
    "ul",
    { class: "evidence" },
    results.map((r) =>
      h(
        "li",
        {},
        h("strong", {}, formatTime(r.timestamp)),
        ` · ${r.status}${r.severity ? ` (${r.severity})` : ""} · confidence ${formatValue(r.confidence)}`,
        h(
          "ul",
          {},
          r.findings.map((f) =>
            h("li", {}, `${f.tier}${f.sensor ? ` ${f.sensor}` : ""}: ${f.detail}${f.value != null ? ` (${formatValue(f.value)})` : ""}`),
          ),
        ),
      ),
    ),
  );
}

/** The acknowledge / shelve / unshelve / resolve dialog (a native <dialog>: focus is trapped and
 * Escape closes it). */
class ActionDialog {
  constructor(api, onDone) {
    this.api = api;
    this.onDone = onDone;
    this.node = document.getElementById("action-dialog");
    this.form = document.getElementById("action-form");
    this.title = document.getElementById("action-title");
    this.summary = document.getElementById("action-summary");
    this.fields = document.getElementById("action-fields");
    this.conflict = document.getElementById("action-conflict");
    this.error = document.getElementById("action-error");
    this.submit = document.getElementById("action-submit");
    document.getElementById("action-cancel").addEventListener("click", () => this.node.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  open(action, selected) {
    this.action = action;
    this.selected = selected;
    this.conflict.hidden = true;
    this.error.textContent = "";
    this.submit.disabled = false;
    const labels = { acknowledge: "Acknowledge", shelve: "Shelve", unshelve: "Unshelve", resolve: "Resolve" };
    this.title.textContent = `${labels[action]} ${selected.record.alarm}`;
    this.submit.textContent = labels[action];
    this.summary.textContent = `${selected.record.description} · ${stateWords(selected.record.state)}`;
    const note = (required, label) => [
      h("label", { for: "action-note" }, label),
      h("textarea", { id: "action-note", name: "note", required, maxlength: 2000 }),
    ];
    if (action === "resolve") {
      fill(
        this.fields,
        h("label", { for: "action-cause" }, "Root cause"),
        h("select", { id: "action-cause", name: "root_cause", required: true }, ROOT_CAUSES.map((c) => h("option", { value: c }, humanize(c)))),
        note(true, "What was done (kept in the history)"),
      );
    } else if (action === "shelve") {
      fill(
        this.fields,
        h("label", { for: "action-minutes" }, "Shelve for (minutes, at most 7 days)"),
        h("input", { id: "action-minutes", name: "minutes", type: "number", min: 1, max: 10080, value: 120, required: true }),
        h("label", { for: "action-reason" }, "Reason"),
        h("input", { id: "action-reason", name: "reason", required: true, maxlength: 500 }),
      );
    } else {
      fill(this.fields, note(false, "Note (optional)"));
    }
    this.node.showModal();
  }

  body() {
    const value = (id) => document.getElementById(id)?.value.trim();
    if (this.action === "resolve") return { note: value("action-note"), root_cause: value("action-cause") };
    if (this.action === "shelve") return { minutes: Number(value("action-minutes")), reason: value("action-reason") };
    const note = value("action-note");
    return note ? { note } : {};
  }

  async send() {
    const { record, etag } = this.selected;
    this.submit.disabled = true;
    this.error.textContent = "";
    try {
      const result = await this.api.post(`anomalies/${encodeURIComponent(record.id)}/${this.action}`, this.body(), {
        headers: etag ? { "If-Match": etag } : {},
      });
      this.node.close();
      this.onDone(result.data, result.etag);
    } catch (error) {
      this.submit.disabled = false;
      if (error instanceof ApiError && error.status === 409 && error.body?.current) {
        this.showConflict(error.message, error.body.current, error.etag);
      } else {
        this.error.textContent = error.message;
      }
    }
  }

  /** Someone acted first: say who and what, show the anomaly as it is now, and let the operator
   * decide again on the current version (or close when there is nothing left to do). */
  showConflict(detail, current, etag) {
    this.selected = { record: current, etag };
    const who = current.resolved_by
      ? `${current.resolved_by} resolved it at ${formatTime(current.resolved_at)}${current.resolution_note ? `: “${current.resolution_note}”` : ""}.`
      : current.acknowledged_by
        ? `${current.acknowledged_by} acknowledged it at ${formatTime(current.acknowledged_at)}.`
        : current.shelf
          ? `${current.shelf.by} shelved it until ${formatTime(current.shelf.until)}.`
          : "";
    fill(
      this.conflict,
      h("strong", {}, "Someone else changed this anomaly first."),
      h("p", { id: "conflict-detail" }, detail),
      who ? h("p", {}, who) : null,
      h("p", {}, `It is now: ${current.status === "resolved" ? "resolved" : stateWords(current.state)}.`),
    );
    this.conflict.hidden = false;
    this.summary.textContent = `${current.description} · ${current.status === "resolved" ? "resolved" : stateWords(current.state)}`;
    if (current.status === "resolved" || (this.action === "acknowledge" && current.acknowledged_by)) {
      this.submit.disabled = true; // nothing left to do: close and read the history
    } else {
      this.submit.textContent = "Apply to the current version";
    }
    this.onDone(current, etag);
    this.conflict.focus?.();
  }
}
