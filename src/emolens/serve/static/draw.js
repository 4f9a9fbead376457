// emolens dashboard: the live view's canvas (the frame and its face boxes) and the selected person's timeline.
import { $, WINDOW_S, GAP_S, state, emotionColor, pct, el } from "./common.js";

// Frames and boxes: the canvas holds the frame at its own size; the boxes are in the frame's pixels.
export function render() {
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
export function drawTimeline() {
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
