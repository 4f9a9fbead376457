// emolens dashboard: plain JavaScript, no framework, nothing loaded from another host.
// It talks to the same server that served it: REST under /v1, WebSockets /v1/stream and /v1/source.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

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
  const PERSON_COLORS = ["#2f6fed", "#e5484d", "#12a594", "#f76b15", "#8e4ec6", "#d6409f", "#46a758", "#a18072"];
  const WINDOW_S = 60; // timeline span
  const GAP_S = 2; // a person unseen this long starts a new line when they come back (no fragments)
  const IN_VIEW_S = 1; // the timeline follows a person seen within this long; then it moves to someone in view
  const KEY_STORE = "emolens.apiKey";
  const POLL_MS = 4000;
  const ANSWER_TIMEOUT_MS = 3000; // a frame without an answer by then no longer holds the next one back

  const state = {
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

  function emotionColor(label) {
    return EMOTION_COLORS[label] || "#8b8d98";
  }

  function pct(x) {
    return `${Math.round((x || 0) * 100)}%`;
  }

  function clock(unixSeconds) {
    const d = new Date(unixSeconds * 1000);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function dateTime(unixSeconds) {
    const d = new Date(unixSeconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(unixSeconds)}`;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function shortSource(name) {
    const text = String(name || "");
    return text.includes("://") ? text : text.split(/[\\/]/).pop();
  }

  function oneLine(message) {
    return String(message || "").split("\n")[0].slice(0, 300);
  }

  async function api(path, options = {}) {
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

  function wsUrl(path, params = {}) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams(params);
    if (state.key) query.set("key", state.key);
    const text = query.toString();
    return `${scheme}//${location.host}${path}${text ? `?${text}` : ""}`;
  }

  function setStatus(kind, text) {
    const s = $("status");
    s.dataset.state = kind;
    s.textContent = oneLine(text);
  }

  function showMessage(id, kind, text) {
    const m = $(id);
    m.className = `msg ${kind}`;
    m.textContent = oneLine(text);
  }

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

  function captureCamera(maxWidth) {
    const video = $("camera");
    if (!video.videoWidth) return null;
    const scale = Math.min(1, maxWidth / video.videoWidth);
    const c = document.createElement("canvas");
    c.width = Math.round(video.videoWidth * scale);
    c.height = Math.round(video.videoHeight * scale);
    c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
    return c;
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
    $("track-count").textContent = `${inView.length} ${inView.length === 1 ? "person" : "people"}`;
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

  // Frames and boxes: the canvas holds the frame at its own size; the boxes are in the frame's pixels.
  function render() {
    const view = $("view");
    const ctx = view.getContext("2d");
    let drew = false;
    if (state.mode === "camera" && state.running) {
      const video = $("camera");
      if (video.videoWidth && video.readyState >= 2) {
        sizeCanvas(view, video.videoWidth, video.videoHeight);
        ctx.drawImage(video, 0, 0, view.width, view.height);
        drew = true;
      }
    } else if (state.mode === "server" && state.serverFrame) {
      sizeCanvas(view, state.serverFrame.width, state.serverFrame.height);
      ctx.drawImage(state.serverFrame, 0, 0, view.width, view.height);
      drew = true;
    }
    if (drew && state.result) drawBoxes(ctx, state.result, view.width / state.frameW, view.height / state.frameH);
    requestAnimationFrame(render);
  }

  function sizeCanvas(canvas, w, h) {
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
  }

  function roundRect(ctx, x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  function drawBoxes(ctx, result, sx, sy) {
    const unit = Math.max(1, ctx.canvas.width / 640);
    const font = Math.round(13 * unit);
    ctx.font = `600 ${font}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
    ctx.textBaseline = "middle";
    for (const face of result.faces || []) {
      const p = face._person;
      const color = p ? p.color : "#2f6fed";
      const [x1, y1, x2, y2] = face.box;
      const x = x1 * sx;
      const y = y1 * sy;
      const w = (x2 - x1) * sx;
      const h = (y2 - y1) * sy;
      ctx.lineWidth = 2.5 * unit;
      ctx.strokeStyle = color;
      roundRect(ctx, x, y, w, h, 6 * unit);
      ctx.stroke();
      const label = p ? p.label : face.label;
      const score = p ? p.score : 0;
      const name = p ? (p.identity ? `${p.identity} #${p.trackId}` : `#${p.trackId}`) : "";
      const text = `${name}  ${label} ${pct(score)}`;
      const padX = 8 * unit;
      const tagH = font + 10 * unit;
      const dot = 8 * unit;
      const tagW = ctx.measureText(text).width + padX * 2 + dot + 6 * unit;
      const tx = Math.max(0, Math.min(x, ctx.canvas.width - tagW));
      const ty = y - tagH - 4 * unit >= 0 ? y - tagH - 4 * unit : y + h + 4 * unit;
      ctx.fillStyle = "rgba(17, 24, 39, 0.82)";
      roundRect(ctx, tx, ty, tagW, tagH, 6 * unit);
      ctx.fill();
      ctx.fillStyle = emotionColor(label);
      ctx.beginPath();
      ctx.arc(tx + padX + dot / 2, ty + tagH / 2, dot / 2, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.fillText(text, tx + padX + dot + 6 * unit, ty + tagH / 2 + 0.5);
    }
  }

  // The selected person's smoothed probabilities over the last minute, one line per emotion.
  function drawTimeline() {
    const canvas = $("timeline");
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 360;
    const cssH = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const left = 30;
    const right = 8;
    const top = 8;
    const bottom = 20;
    const w = cssW - left - right;
    const h = cssH - top - bottom;
    ctx.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    ctx.fillStyle = "#8b8d98";
    ctx.strokeStyle = "#eceef2";
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      const y = top + h - v * h;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + w, Math.round(y) + 0.5);
      ctx.stroke();
      if (v === 0 || v === 0.5 || v === 1) ctx.fillText(v.toFixed(1), left - 6, y);
    }
    const p = state.selected ? state.people.get(state.selected) : null;
    const now = performance.now() / 1000;
    // The axis grows with the history, from 10 s to the full minute, so a new person's lines are readable.
    const age = p && p.history.length ? now - p.history[0].t : 0;
    const span = Math.min(WINDOW_S, Math.max(10, Math.ceil(age / 10) * 10));
    ctx.textBaseline = "top";
    for (let i = 0; i <= 5; i++) {
      ctx.textAlign = i === 0 ? "left" : i === 5 ? "right" : "center";
      ctx.fillText(i === 5 ? "now" : `${-span + (i * span) / 5} s`, left + (i / 5) * w, top + h + 5);
    }
    const legend = $("legend");
    legend.replaceChildren();
    $("timeline-who").textContent = p ? `${p.name} · smoothed` : "smoothed, last minute";
    canvas.dataset.points = String(p ? p.history.length : 0);
    canvas.dataset.person = p ? p.key : "";
    if (!p || !p.history.length) {
      ctx.fillStyle = "#8b8d98";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("Select a person in view", left + w / 2, top + h / 2);
      return;
    }
    const labels = Object.keys(p.history.at(-1).probs);
    const xOf = (t) => left + ((t - now + span) / span) * w;
    ctx.lineJoin = "round";
    let segments = 0;
    for (const label of labels) {
      const main = label === p.label;
      ctx.strokeStyle = emotionColor(label);
      ctx.globalAlpha = main ? 1 : 0.55;
      ctx.lineWidth = main ? 2.5 : 1.25;
      ctx.beginPath();
      let started = false;
      let lastT = null;
      for (const pt of p.history) {
        const x = xOf(pt.t);
        const y = top + h - (pt.probs[label] || 0) * h;
        if (!started || (lastT !== null && pt.t - lastT > GAP_S)) {
          ctx.moveTo(x, y); // a gap (cannot happen: the history restarts after one; kept for safety)
          if (main) segments += 1;
        } else ctx.lineTo(x, y);
        started = true;
        lastT = pt.t;
      }
      ctx.stroke();
      const chip = el("span");
      const swatch = el("i");
      swatch.style.background = emotionColor(label);
      chip.append(swatch, document.createTextNode(label));
      legend.append(chip);
    }
    canvas.dataset.segments = String(segments);
    ctx.globalAlpha = 1;
  }

  // ------------------------------------------------------------------------------------------------ events feed

  const feeds = {
    events: { since: null, rows: [], error: null },
    alerts: { since: null, rows: [], error: null },
  };

  async function poll(kind) {
    const feed = feeds[kind];
    const params = new URLSearchParams({
      since: String(feed.since !== null ? feed.since : Date.now() / 1000 - 3600),
      limit: "1000",
      order: "newest",
    });
    if (kind === "alerts") params.set("alerts", "true");
    try {
      const rows = await api(`/v1/events?${params}`);
      const seen = new Set(feed.rows.map((r) => r.id));
      for (const r of rows) {
        if (!seen.has(r.id)) feed.rows.push(r);
        if (feed.since === null || r.time > feed.since) feed.since = r.time;
      }
      feed.rows.sort((a, b) => b.time - a.time || b.id - a.id);
      feed.rows = feed.rows.slice(0, 100);
      if (feed.since === null) feed.since = Date.now() / 1000 - 3600;
      feed.error = null;
    } catch (e) {
      feed.error = e.message;
    }
    renderFeed(kind);
  }

  function renderFeed(kind) {
    const feed = feeds[kind];
    const list = $(kind);
    list.replaceChildren();
    for (const r of feed.rows) {
      const li = el("li");
      const who = r.identity && r.identity !== "unknown" ? r.identity : `unknown #${r.track ?? "?"}`;
      const what =
        kind === "alerts"
          ? `${who} · ${r.rule} · ${Number(r.duration_s || 0).toFixed(1)} s`
          : `${who} · ${shortSource(r.source)}`;
      const score = kind === "alerts" ? r.peak_score : r.emotion_score;
      const tag = el("span", "tag", `${r.emotion} ${pct(score)}`);
      tag.style.color = emotionColor(r.emotion);
      li.append(el("span", "time", clock(r.time)), el("span", "what", what), tag);
      list.append(li);
    }
    const empty = $(`${kind}-empty`);
    empty.hidden = feed.rows.length > 0 && !feed.error;
    empty.textContent = feed.error ? `Cannot load: ${feed.error}` : kind === "alerts" ? "No alerts." : "No events yet.";
    empty.classList.toggle("msg", Boolean(feed.error));
    empty.classList.toggle("error", Boolean(feed.error));
  }

  function pollFeeds() {
    if (document.hidden || $("view-live").hidden) return;
    poll("events");
    poll("alerts");
  }

  // ------------------------------------------------------------------------------------------------ gallery

  async function loadPeople() {
    const body = $("people");
    try {
      const people = await api("/v1/people");
      body.replaceChildren();
      for (const person of people) {
        const tr = el("tr");
        tr.dataset.name = person.name;
        const remove = el("button", "btn small danger", "Remove");
        remove.type = "button";
        remove.dataset.name = person.name;
        remove.addEventListener("click", () => removePerson(remove, person.name));
        const actions = el("td");
        actions.append(remove);
        const created = person.created ? dateTime(person.created) : "";
        tr.append(el("td", "name", person.name), el("td", "num", person.embeddings), el("td", "muted", created), actions);
        body.append(tr);
      }
      $("people-empty").hidden = people.length > 0;
    } catch (e) {
      body.replaceChildren();
      $("people-empty").hidden = true;
      showMessage("people-msg", "error", e.message);
    }
  }

  async function removePerson(button, name) {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Confirm";
      setTimeout(() => {
        button.classList.remove("armed");
        button.textContent = "Remove";
      }, 4000);
      return;
    }
    button.disabled = true;
    try {
      await api(`/v1/people/${encodeURIComponent(name)}`, { method: "DELETE" });
      showMessage("people-msg", "ok", `Removed ${name}.`);
    } catch (e) {
      showMessage("people-msg", "error", e.message);
    }
    loadPeople();
  }

  function takeSnapshot() {
    const done = (blob) => {
      if (!blob) {
        showMessage("enrol-msg", "error", "The snapshot could not be taken");
        return;
      }
      state.snapshot = blob;
      const img = $("snapshot-img");
      if (img.src) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(blob);
      $("snapshot-box").hidden = false;
      showMessage("enrol-msg", "ok", "Snapshot taken: it is sent with the photos.");
    };
    if (state.running && state.mode === "camera") {
      const c = captureCamera(1280);
      if (c) {
        c.toBlob(done, "image/jpeg", 0.92);
        return;
      }
    }
    if (state.mode === "server" && state.serverBlob) {
      done(state.serverBlob);
      return;
    }
    showMessage("enrol-msg", "error", "Start the Live view first: the snapshot is its current frame");
  }

  function clearSnapshot() {
    state.snapshot = null;
    const img = $("snapshot-img");
    if (img.src) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
    $("snapshot-box").hidden = true;
  }

  async function enrol(event) {
    event.preventDefault();
    const name = $("enrol-name").value.trim();
    const files = Array.from($("enrol-files").files || []);
    if (!name) {
      showMessage("enrol-msg", "error", "Give a name");
      return;
    }
    if (!files.length && !state.snapshot) {
      showMessage("enrol-msg", "error", "Add at least one photo or a camera snapshot");
      return;
    }
    const form = new FormData();
    form.append("name", name);
    for (const f of files) form.append("images", f, f.name);
    if (state.snapshot) form.append("images", state.snapshot, "snapshot.jpg");
    $("enrol").disabled = true;
    showMessage("enrol-msg", "", "Enrolling…");
    try {
      const report = await api("/v1/people", { method: "POST", body: form });
      const failed = report.failures && report.failures.length ? `; ${report.failures.length} image(s) without a usable face` : "";
      showMessage("enrol-msg", "ok", `Enrolled ${report.name}: ${report.added} face(s) added, ${report.total} in all${failed}.`);
      $("enrol-form").reset();
      clearSnapshot();
      loadPeople();
    } catch (e) {
      showMessage("enrol-msg", "error", e.message);
    } finally {
      $("enrol").disabled = false;
    }
  }

  // ------------------------------------------------------------------------------------------------ wiring

  function init() {
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
})();
