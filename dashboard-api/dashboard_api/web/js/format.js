// Small helpers shared by the views: element building, number/time formatting, severity order.

/** An element with attributes and children; strings become text nodes (never parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const SEVERITIES = ["critical", "high", "medium", "low"];
export const severityRank = (severity) => {
  const rank = SEVERITIES.indexOf(severity);
  return rank < 0 ? SEVERITIES.length : rank;
};

/** A value with about four significant digits, without exponent for plant-sized numbers. */
export function formatValue(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return value.toFixed(0);
  if (magnitude >= 100) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  if (magnitude === 0) return "0";
  return value.toPrecision(3);
}

/** "8 s", "4 min", "3 h 5 min", "2 d 4 h". */
export function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return "no reading";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  return formatLongAge(s);
}

/** A tile's age in steps of 10 s under a minute ("< 10 s", "20 s"): a sensor reporting every
 * 10 s keeps the same text between readings, so the live view repaints on new values only. */
export function formatTileAge(seconds) {
  if (seconds === null || seconds === undefined) return "no reading";
  const s = Math.max(0, Math.round(seconds));
  if (s < 10) return "< 10 s";
  if (s < 60) return `${Math.floor(s / 10) * 10} s`;
  if (s < 90) return "1 min";
  return formatLongAge(s);
}

function formatLongAge(s) {
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
export const formatTime = (iso) => (iso ? timeFormat.format(new Date(iso)) : "–");

export const ageOf = (iso, now = Date.now()) => (iso ? (now - Date.parse(iso)) / 1000 : null);

/** Where a value is against its limits: the alarm label operators read (text, not only colour). */
export function limitState(value, limits) {
  if (value === null || value === undefined || !limits) return "normal";
  if (limits.high_high != null && value >= limits.high_high) return "hh";
  if (limits.low_low != null && value <= limits.low_low) return "ll";
  if (limits.high != null && value >= limits.high) return "h";
  if (limits.low != null && value <= limits.low) return "l";
  return "normal";
}

export const LIMIT_LABEL = { hh: "HIGH-HIGH", h: "HIGH", l: "LOW", ll: "LOW-LOW", normal: "normal" };

export const humanize = (text) => String(text ?? "").replaceAll("_", " ");

/** Replace a node's children in one go. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
