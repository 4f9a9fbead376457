// emolens dashboard: what every part shares: constants, the page state, DOM and formatting helpers, the API.
// Plain JavaScript modules, no framework, nothing loaded from another host.

export const $ = (id) => document.getElementById(id);

const EMOTION_COLORS = {
  angry: "#e5484d",
  disgust: "#46a758",
  fear: "#8e4ec6",
  happy: "#f5a300",
  sad: "#3e63dd",
  surprise: "#f76b15",
  neutral: "#8b8d98",
  contempt: "#a18072",
  uncertain: "#b9bbc6",
};
export const PERSON_COLORS = ["#2f6fed", "#e5484d", "#12a594", "#f76b15", "#8e4ec6", "#d6409f", "#46a758", "#a18072"];
export const WINDOW_S = 60; // timeline span
export const GAP_S = 2; // a person unseen this long starts a new line when they come back (no fragments)
export const IN_VIEW_S = 1; // the timeline follows a person seen within this long; then it moves to someone in view
export const KEY_STORE = "emolens.apiKey";
export const POLL_MS = 4000;
export const ANSWER_TIMEOUT_MS = 3000; // a frame without an answer by then no longer holds the next one back

export const state = {
  key: localStorage.getItem(KEY_STORE) || "",
  mode: "camera",
  running: false,
  ws: null,
  stream: null,
  inFlight: false,
  sentAt: 0,
  result: null,
  frameW: 640,
  frameH: 480,
  serverFrame: null, // ImageBitmap of the latest server-source frame
  serverBlob: null, // its JPEG, for snapshots
  pending: null, // the JSON awaiting its JPEG (server source)
  answers: [], // arrival times, for frames/s
  latency: null,
  frames: 0,
  people: new Map(), // key -> {key, name, trackId, color, label, score, lastSeen, history: [{t, probs}]}
  selected: null,
  alertRules: [], // the server source's --alert rules, as its messages carry them
  colorNext: 0,
  snapshot: null,
  lastTimeline: 0,
};

// ------------------------------------------------------------------------------------------------ helpers

export function emotionColor(label) {
  return EMOTION_COLORS[label] || "#8b8d98";
}

export function pct(x) {
  return `${Math.round((x || 0) * 100)}%`;
}

export function clock(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function dateTime(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(unixSeconds)}`;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Each card marked data-list gets the #list-card markup: its title and note (id LIST-note) in the head, then the
// list (id LIST, class data-list-class) and the line shown while it is empty (id LIST-empty). What the card already
// holds (the alert rules) stays between the head and the list.
export function fillListCards() {
  const template = $("list-card");
  for (const card of document.querySelectorAll("[data-list]")) {
    const { list, listClass, live, title, note, empty } = card.dataset;
    const parts = template.content.cloneNode(true);
    parts.querySelector("h2").textContent = title;
    Object.assign(parts.querySelector("span"), { id: `${list}-note`, textContent: note });
    Object.assign(parts.querySelector("ul"), { id: list, className: listClass });
    if (live) parts.querySelector("ul").setAttribute("aria-live", live);
    Object.assign(parts.querySelector("p"), { id: `${list}-empty`, textContent: empty });
    card.prepend(parts.querySelector(".card-head"));
    card.append(parts);
  }
}

export function shortSource(name) {
  const text = String(name || "");
  return text.includes("://") ? text : text.split(/[\\/]/).pop();
}

function oneLine(message) {
  return String(message || "").split("\n")[0].slice(0, 300);
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.key) headers.set("X-API-Key", state.key);
  let response;
  try {
    response = await fetch(path, { ...options, headers, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new Error("the server cannot be reached");
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    body = null;
  }
  if (!response.ok) throw new Error(oneLine((body && body.error) || `HTTP ${response.status}`));
  return body;
}

export function wsUrl(path, params = {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams(params);
  if (state.key) query.set("key", state.key);
  const text = query.toString();
  return `${scheme}//${location.host}${path}${text ? `?${text}` : ""}`;
}

export function setStatus(kind, text) {
  const s = $("status");
  s.dataset.state = kind;
  s.textContent = oneLine(text);
}

export function showMessage(id, kind, text) {
  const m = $(id);
  m.className = `msg ${kind}`;
  m.textContent = oneLine(text);
}

// A frame of the browser camera, at most maxWidth wide, on a canvas (null before the first frame).
export function captureCamera(maxWidth) {
  const video = $("camera");
  if (!video.videoWidth) return null;
  const scale = Math.min(1, maxWidth / video.videoWidth);
  const c = document.createElement("canvas");
  c.width = Math.round(video.videoWidth * scale);
  c.height = Math.round(video.videoHeight * scale);
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  return c;
}
