// emolens dashboard: plain JavaScript modules, no framework, nothing loaded from another host.
// It talks to the same server that served it: REST under /v1, WebSockets /v1/stream and /v1/source.
// This module runs the live view (browser camera or server source) and wires the page; common.js, draw.js
// and gallery.js hold the rest.
import {
  $,
  PERSON_COLORS,
  WINDOW_S,
  GAP_S,
  IN_VIEW_S,
  KEY_STORE,
  POLL_MS,
  ANSWER_TIMEOUT_MS,
  state,
  emotionColor,
  pct,
  el,
  fillListCards,
  shortSource,
  api,
  wsUrl,
  setStatus,
  captureCamera,
} from "./common.js";
import { render, drawTimeline } from "./draw.js";
import { pollFeeds, loadPeople, takeSnapshot, clearSnapshot, enrol } from "./gallery.js";

// ------------------------------------------------------------------------------------------------ tabs, key, health

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.view === name;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-selected", String(on));
  }
  $("view-live").hidden = name !== "live";
  $("view-gallery").hidden = name !== "gallery";
  if (name === "gallery") loadPeople();
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

async function checkHealth() {
  const pill = $("health");
  try {
    const h = await api("/healthz");
    pill.textContent = `online · v${h.version}`;
    pill.className = "pill ok";
  } catch (e) {
    pill.textContent = "offline";
    pill.className = "pill bad";
  }
}

// ------------------------------------------------------------------------------------------------ live view

function currentMode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function setRunning(on) {
  state.running = on;
  $("start").disabled = on;
  $("stop").disabled = !on;
  for (const r of document.querySelectorAll('input[name="mode"]')) r.disabled = on;
}

async function start() {
  if (state.running) return;
  state.mode = currentMode();
  state.result = null;
  state.pending = null;
  state.answers = [];
  state.latency = null;
  state.frames = 0;
  state.people.clear(); // a new session: new people, colours from the first again
  state.colorNext = 0;
  state.selected = null;
  setRunning(true);
  $("placeholder").hidden = true;
  try {
    if (state.mode === "camera") await startCamera();
    else startServer();
  } catch (e) {
    stop();
    setStatus("error", e.message || String(e));
  }
}

function stop(statusText) {
  const ws = state.ws;
  state.ws = null;
  setRunning(false);
  state.inFlight = false;
  if (ws && ws.readyState <= WebSocket.OPEN) {
    try {
      if (ws.readyState === WebSocket.OPEN) ws.send("end");
      ws.close(1000);
    } catch (e) {
      /* already closing */
    }
  }
  if (state.stream) {
    for (const t of state.stream.getTracks()) t.stop();
    state.stream = null;
  }
  if (statusText !== undefined) setStatus("idle", statusText);
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("this page cannot use a camera here: open it over HTTPS, or on localhost");
  }
  setStatus("busy", "Opening the camera…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
  } catch (e) {
    throw new Error(`camera not available: ${e.message || e.name}`);
  }
  state.stream = stream;
  const video = $("camera");
  video.srcObject = stream;
  await video.play();
  setStatus("busy", "Connecting…");
  // names from the gallery, and one event per person per second into the log the feed shows
  const params = { identify: "true", events: "true" };
  if ($("attention") && $("attention").checked) params.attention = "true"; // head pose, eyes, attention per face
  const ws = openSocket("/v1/stream", params, "arraybuffer", "Live · browser camera", sendFrame);
  ws.onmessage = (event) => {
    if (ws !== state.ws || typeof event.data !== "string") return;
    const msg = JSON.parse(event.data);
    if (msg.error) setStatus("error", msg.error);
    else onResult(msg);
    state.inFlight = false;
    sendFrame();
  };
}

// The one live socket (state.ws): "live" in the status line once it opens, onClosed when it ends.
function openSocket(path, params, binaryType, liveText, onOpen) {
  const ws = new WebSocket(wsUrl(path, params));
  ws.binaryType = binaryType;
  state.ws = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    setStatus("live", liveText);
    if (onOpen) onOpen();
  };
  ws.onclose = (event) => onClosed(ws, event, opened);
  return ws;
}
function sendFrame() {
  const ws = state.ws;
  if (!state.running || state.mode !== "camera" || !ws || ws.readyState !== WebSocket.OPEN || state.inFlight) return;
  const c = captureCamera(640);
  if (!c) {
    setTimeout(sendFrame, 100);
    return;
  }
  state.inFlight = true; // one frame in flight: the next goes when this one is answered
  state.sentAt = performance.now();
  c.toBlob(
    (blob) => {
      if (!blob || ws !== state.ws || ws.readyState !== WebSocket.OPEN) {
        state.inFlight = false;
        return;
      }
      state.sentAt = performance.now();
      ws.send(blob);
    },
    "image/jpeg",
    0.8,
  );
}

function startServer() {
  setStatus("busy", "Connecting to the server source…");
  const ws = openSocket("/v1/source", {}, "blob", "Live · server source", null);
  ws.onmessage = async (event) => {
    if (ws !== state.ws) return;
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      if (msg.error) setStatus("error", msg.error);
      else if (msg.end) setStatus("idle", `Stopped: ${msg.end}`);
      else {
        state.pending = msg;
        if (msg.alert_rules && JSON.stringify(msg.alert_rules) !== JSON.stringify(state.alertRules)) {
          state.alertRules = msg.alert_rules;
          renderAlertRules();
        }
        if (msg.source) {
          setStatus("live", `Live · server source · ${shortSource(msg.source)}`);
          $("status").title = msg.source;
        }
      }
      return;
    }
    const result = state.pending;
    state.pending = null;
    const blob = event.data;
    const bitmap = await createImageBitmap(blob);
    if (ws !== state.ws) return;
    if (state.serverFrame) state.serverFrame.close();
    state.serverFrame = bitmap;
    state.serverBlob = blob;
    if (result) onResult(result);
  };
}

function onClosed(ws, event, opened) {
  if (ws !== state.ws) return; // closed by Stop
  const reason = event.reason || "";
  const hadError = $("status").dataset.state === "error";
  stop();
  if (!opened) {
    setStatus("error", "The server refused the connection: check the API key (or whether the server runs)");
  } else if (event.code === 4404 || event.code === 1008 || event.code === 1011) {
    setStatus("error", reason || "The server closed the connection");
  } else if (!hadError) {
    setStatus("idle", reason ? `Stopped: ${reason}` : "Disconnected");
  }
}

function personKey(face) {
  if (face.identity && face.identity !== "unknown") return `id:${face.identity}`;
  return `track:${face.track_id}`;
}

function shownScores(face) {
  return face.smoothed || face.emotions || {};
}

function topOf(scores) {
  let best = null;
  let bestP = -1;
  for (const [k, p] of Object.entries(scores)) {
    if (p > bestP) {
      best = k;
      bestP = p;
    }
  }
  return [best, bestP];
}

function onResult(msg) {
  const now = performance.now() / 1000;
  state.result = msg;
  state.frames += 1;
  if (msg.width && msg.height) {
    state.frameW = msg.width;
    state.frameH = msg.height;
  }
  state.answers.push(now);
  while (state.answers.length && now - state.answers[0] > 2) state.answers.shift();
  if (state.mode === "camera" && state.sentAt) {
    const ms = performance.now() - state.sentAt;
    state.latency = state.latency === null ? ms : 0.8 * state.latency + 0.2 * ms;
  }
  const inView = [];
  for (const face of msg.faces || []) {
    const key = personKey(face);
    let p = state.people.get(key);
    if (!p) {
      p = { key, color: PERSON_COLORS[state.colorNext++ % PERSON_COLORS.length], history: [] };
      state.people.set(key, p);
    }
    const scores = shownScores(face);
    const [top, topP] = topOf(scores);
    p.trackId = face.track_id;
    p.identity = face.identity && face.identity !== "unknown" ? face.identity : null;
    p.name = p.identity || `Person ${face.track_id}`;
    p.label = face.smoothed_label || face.label || top;
    p.score = scores[p.label] !== undefined ? scores[p.label] : topP;
    p.attention = face.attention || null;
    p.eyesClosed = face.eyes ? face.eyes.closed : null;
    if (p.lastSeen !== undefined && now - p.lastSeen > GAP_S) p.history = []; // back after a gap: a new line
    p.lastSeen = now;
    p.history.push({ t: now, probs: scores });
    while (p.history.length && now - p.history[0].t > WINDOW_S) p.history.shift();
    face._person = p;
    inView.push(p);
  }
  for (const [key, p] of state.people) {
    if (now - p.lastSeen > WINDOW_S) state.people.delete(key);
  }
  inView.sort((a, b) => a.trackId - b.trackId);
  // The timeline shows someone in view: a clicked person stays chosen while seen, then the first in view.
  const chosen = state.selected ? state.people.get(state.selected) : null;
  const wasSelected = state.selected;
  if (!chosen || now - chosen.lastSeen > IN_VIEW_S) state.selected = inView.length ? inView[0].key : null;
  const view = $("view");
  view.dataset.frames = String(state.frames);
  view.dataset.faces = String(inView.length);
  renderTracks(inView);
  renderStats();
  if (now - state.lastTimeline > 0.2 || state.selected !== wasSelected) {
    state.lastTimeline = now;
    drawTimeline();
  }
}

function renderStats() {
  const fps = state.answers.length > 1 ? (state.answers.length - 1) / (state.answers.at(-1) - state.answers[0]) : 0;
  const parts = [`${fps.toFixed(1)} frames/s`];
  if (state.latency !== null) parts.push(`${Math.round(state.latency)} ms round trip`);
  parts.push(`${state.frames} analysed`);
  $("stats").textContent = parts.join(" · ");
}

function renderTracks(inView) {
  const list = $("tracks");
  list.replaceChildren();
  for (const p of inView) {
    const li = el("li", "track");
    li.dataset.person = p.key;
    li.dataset.trackId = String(p.trackId);
    li.dataset.label = p.label;
    li.dataset.score = p.score.toFixed(3);
    if (p.identity) li.dataset.identity = p.identity;
    if (p.key === state.selected) li.classList.add("selected");
    const swatch = el("span", "swatch");
    swatch.style.background = p.color;
    const who = el("span", "who", p.name);
    if (p.identity) who.append(el("span", "tid", `#${p.trackId}`));
    const emotion = el("span", "emotion label", `${p.label} ${pct(p.score)}`);
    emotion.style.color = emotionColor(p.label);
    const under = belowAlert(p);
    if (under) {
      li.dataset.belowAlert = under.name;
      emotion.title = `under the alert rule's minimum score of ${pct(under.min_score)}: no alert`;
      emotion.append(el("span", "under", ` < ${pct(under.min_score)} alert`));
    }
    const bar = el("span", "bar");
    const fill = el("span");
    fill.style.width = pct(p.score);
    fill.style.background = emotionColor(p.label);
    bar.append(fill);
    li.append(swatch, who, emotion, bar);
    if (p.attention) {
      // attention per person: attending or away (degrees off the target), eyes closed, PERCLOS once known
      li.dataset.attending = String(p.attention.attending);
      const bits = [p.attention.attending ? "attending" : `away ${Math.round(p.attention.off_target)}°`];
      if (p.eyesClosed) bits.push("eyes closed");
      if (p.attention.perclos !== undefined) bits.push(`PERCLOS ${pct(p.attention.perclos)}`);
      const att = el("span", "attention", bits.join(" · "));
      att.style.color = p.attention.attending ? "#2a9d8f" : "#e76f51";
      li.append(att);
    }
    li.addEventListener("click", () => {
      state.selected = p.key;
      renderTracks(inView);
      drawTimeline();
    });
    list.append(li);
  }
  $("tracks-empty").hidden = inView.length > 0;
  $("tracks-note").textContent = `${inView.length} ${inView.length === 1 ? "person" : "people"}`;
}

// A rule of --alert whose emotion a person shows, but under the rule's minimum score (so it does not count).
function belowAlert(p) {
  return state.alertRules.find(
    (r) =>
      r.emotions.includes(p.label) &&
      p.score < r.min_score &&
      (r.who === "any" ||
        (r.who === "unknown" && !p.identity) ||
        (r.who === "known" && p.identity) ||
        r.who === p.identity),
  );
}

function describeRule(r) {
  const whom = { any: "anyone", unknown: "an unknown person", known: "an enrolled person" };
  const who = whom[r.who] || r.who;
  if (r.kind === "distracted") return `distracted: head or gaze off the target for ${r.seconds} s or more (${who})`;
  if (r.kind === "drowsy") {
    return `drowsy: eyes closed, or PERCLOS of ${pct(r.level)} or more, for ${r.seconds} s or more (${who})`;
  }
  if (r.kind === "yawn") return r.seconds > 0 ? `a yawn held ${r.seconds} s or more (${who})` : `a yawn (${who})`;
  const score = pct(r.min_score);
  return `${r.emotions.join(" or ")} for ${r.seconds} s or more at a smoothed score of ${score} or more (${who})`;
}

function renderAlertRules() {
  const list = $("alert-rules");
  const items = state.alertRules.map((r) => {
    const li = el("li", "", describeRule(r));
    li.dataset.rule = r.name;
    return li;
  });
  list.replaceChildren(...items);
  $("alert-rules-box").hidden = state.alertRules.length === 0;
}

// ------------------------------------------------------------------------------------------------ wiring

function init() {
  fillListCards();
  $("api-key").value = state.key;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("api-key").value.trim();
    if (state.key) localStorage.setItem(KEY_STORE, state.key);
    else localStorage.removeItem(KEY_STORE);
    setStatus(state.running ? "live" : "idle", state.key ? "API key saved in this browser" : "API key cleared");
    pollFeeds();
    if (!$("view-gallery").hidden) loadPeople();
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", () => stop("Stopped"));
  $("snapshot").addEventListener("click", takeSnapshot);
  $("snapshot-clear").addEventListener("click", clearSnapshot);
  $("enrol-form").addEventListener("submit", enrol);
  $("people-refresh").addEventListener("click", loadPeople);
  window.addEventListener("resize", drawTimeline);
  setInterval(() => {
    const stalled = state.inFlight && performance.now() - state.sentAt > ANSWER_TIMEOUT_MS;
    if (stalled) {
      state.inFlight = false;
      sendFrame();
    }
  }, 500);
  setInterval(pollFeeds, POLL_MS);
  setInterval(checkHealth, 15000);
  showView(location.hash === "#gallery" ? "gallery" : "live");
  checkHealth();
  pollFeeds();
  drawTimeline();
  requestAnimationFrame(render);
}

document.addEventListener("DOMContentLoaded", init);
