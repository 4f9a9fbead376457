// emolens dashboard: the events and alerts feeds (polled from /v1/events) and the gallery page (/v1/people).
import {
  $,
  state,
  emotionColor,
  pct,
  clock,
  dateTime,
  el,
  shortSource,
  api,
  showMessage,
  captureCamera,
} from "./common.js";

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

export function pollFeeds() {
  if (document.hidden || $("view-live").hidden) return;
  poll("events");
  poll("alerts");
}

// ------------------------------------------------------------------------------------------------ gallery

export async function loadPeople() {
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

export function takeSnapshot() {
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

export function clearSnapshot() {
  state.snapshot = null;
  const img = $("snapshot-img");
  if (img.src) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
  $("snapshot-box").hidden = true;
}

export async function enrol(event) {
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
