// The page: sign in, then the live view, trends, the anomaly queue and history, all fed by the
// public /api/v1 routes and one event stream. Views are chosen by the address's fragment
// (#live, #trend/TI-101,FI-101, #anomalies, #history); credentials never go there.

import { Api } from "./api.js";
import { Auth } from "./auth.js";
import { LiveEvents } from "./events.js";
import { HistoryView } from "./history.js";
import { LiveView } from "./live.js";
import { QueueView } from "./queue.js";
import { TrendView } from "./trend.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["login", "live", "trend", "anomalies", "history"];

const app = {
  auth: null,
  api: null,
  me: null,
  events: null,
  live: null,
  trend: null,
  queue: null,
  history: null,
  sensors: new Map(),
};
window.dashboard = app; // for the browser tests and the console

function show(view) {
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = view;
}

function banner(text) {
  $("banner").textContent = text ?? "";
  $("banner").hidden = !text;
}

function route() {
  if (!app.me) return show("login");
  const [name, arg] = location.hash.replace(/^#/, "").split("/");
  const view = VIEWS.includes(name) && name !== "login" ? name : "live";
  show(view);
  if (view === "live") app.live.schedule();
  if (view === "trend") {
    const wanted = arg ? decodeURIComponent(arg).split(",").filter(Boolean) : app.trend.chosen;
    if (wanted.join(",") !== app.trend.chosen.join(",")) app.trend.choose(wanted);
    else if (!app.trend.charts.length) app.trend.load();
    else app.trend.resize();
  }
  if (view === "history") app.history.load();
  if (view === "anomalies") app.queue.reload();
}

function signedOut(message) {
  app.events?.stop();
  app.me = null;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("login-error").textContent = message ?? "";
  show("login");
  $("api-key").focus();
}

async function start() {
  let me;
  try {
    me = await app.api.get("me");
  } catch (error) {
    if (error.status !== 401) banner(`The API did not answer: ${error.message}`);
    return signedOut(error.status === 401 ? `Not signed in: ${error.message}` : "");
  }
  app.me = me;
  $("who").textContent = `${me.name} (${me.role})`;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  $("login-error").textContent = "";
  banner("");

  if (!app.live) {
    const canAct = () => ["operator", "admin"].includes(app.me?.role);
    const openSensor = (name) => {
      location.hash = `#trend/${encodeURIComponent(name)}`;
    };
    app.queue = new QueueView($("view-anomalies"), app.api, {
      canAct,
      signedIn: () => Boolean(app.me),
      onOpenSensor: openSensor,
      onChange: (items) => {
        $("open-count").textContent = items.length ? String(items.length) : "";
        $("open-count").setAttribute("aria-label", `${items.length} open`);
        app.live.schedule();
      },
    });
    app.live = new LiveView($("view-live"), app.api, {
      openCounts: () => app.queue.openCounts(),
      onOpenSensor: openSensor,
    });
    app.trend = new TrendView($("view-trend"), app.api, {
      sensors: () => app.sensors,
      onChange: (names) => {
        const hash = `#trend/${names.map(encodeURIComponent).join(",")}`;
        if (location.hash.startsWith("#trend") && location.hash !== hash) history.replaceState(null, "", hash);
      },
    });
    app.history = new HistoryView($("view-history"), app.api);
  }
  route();
  await app.live.load();
  for (const tile of app.live.tiles.values()) app.sensors.set(tile.sensor.name, tile.sensor);
  app.trend.catalogueChanged();
  if (location.hash.startsWith("#trend")) route();
  app.queue.reload();
  app.events = new LiveEvents(app.api, {
    onStatus: (state) => {
      $("connection").dataset.state = state;
      $("connection").textContent = state === "live" ? "live" : state;
    },
    onEvent: (kind, data) => {
      if (kind === "reading") {
        app.live.onReading(data);
        app.trend.onReading(data);
      } else if (kind === "alarm") {
        app.queue.soon();
      } else if (kind === "reset") {
        banner(`The live stream restarted: ${data.reason}`);
        app.live.load();
      }
    },
  });
  app.events.start();
}

function largeText(on) {
  document.documentElement.classList.toggle("large", on);
  $("large-text").setAttribute("aria-pressed", String(on));
  localStorage.setItem("sensor-analyzer.large-text", on ? "1" : "");
  app.live?.remeasure();
  app.trend?.restyle();
}

async function boot() {
  largeText(Boolean(localStorage.getItem("sensor-analyzer.large-text")));
  $("large-text").addEventListener("click", () => largeText(!document.documentElement.classList.contains("large")));
  let config = { api_keys: true, entra: null };
  try {
    config = await (await fetch("/config", { cache: "no-store" })).json();
  } catch {
    banner("Could not read /config; signing in with an API key only.");
  }
  app.auth = new Auth(config);
  app.api = new Api(() => app.auth.headers(), { onUnauthorized: (message) => signedOut(message) });
  if (config.entra) {
    try {
      await app.auth.startEntra();
      $("entra-sign-in").hidden = false;
      $("entra-button").addEventListener("click", () => app.auth.signInWithEntra());
    } catch (error) {
      banner(`Entra ID sign-in is unavailable: ${error.message}`);
    }
  }
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    app.auth.useApiKey($("api-key").value);
    $("api-key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", async () => {
    await app.auth.signOut();
    signedOut("Signed out.");
  });
  window.addEventListener("hashchange", route);
  if (app.auth.signedIn) await start();
  else signedOut();
}

boot();
