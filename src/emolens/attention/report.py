"""Session reports: one self-contained HTML file (plots inline as SVG, thumbnails inline, no network) and a PDF
printed from it by headless Chromium.

Two inputs:

- a video run folder (``emolens video ... --out DIR``, ideally with ``--attention``): ``frames.csv``,
  ``tracks.json``, ``attention.json``, ``thumbs/`` and ``alerts.json`` when they are there;
- the event log of a gallery (one row per person per second, with attention when it was logged), filtered by
  time and identity, with its alerts.

For each person: time in view, emotion distribution and timeline, attention over time, the distribution of focus
durations, blinks and drowsiness (PERCLOS, eye closures), yawns and alerts. For the session: the share of people
attending over time, the emotional climate (mean probabilities of everyone in view) over time, and the moments
when the most changed. Names and thumbnails are left out with ``anonymous``.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError, DataError, MissingExtraError

#: Colours of the emotion labels in every plot (one palette, colour-blind friendly where it can be).
EMOTION_COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#a0a0a0",
    "contempt": "#e377c2",
}
BIN_S = 1.0


@dataclass
class Person:
    """What the report knows about one tracked person."""

    key: str
    name: str
    track_ids: list[int] = field(default_factory=list)
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    attending: np.ndarray | None = None
    closed: np.ndarray | None = None
    perclos: np.ndarray | None = None
    yawn: np.ndarray | None = None
    off_target: np.ndarray | None = None
    spells: list[tuple[float, float]] = field(default_factory=list)
    blinks: int | None = None
    closures: list[tuple[float, float]] = field(default_factory=list)
    yawns: list[tuple[float, float]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    thumbnail: bytes | None = None

    @property
    def seen_s(self) -> float:
        if len(self.t) < 2:
            return 0.0
        dt_ = np.diff(self.t)
        step = float(np.median(dt_)) if len(dt_) else 0.0
        return float(np.minimum(dt_, max(2 * step, 1.0)).sum() + step)


@dataclass
class Session:
    """The whole report's data."""

    title: str
    source: str
    labels: tuple[str, ...]
    people: list[Person]
    notes: list[str] = field(default_factory=list)
    has_attention: bool = False


# ---------------------------------------------------------------------------------------------------- loading


def load_run(folder: str | Path) -> Session:
    """A :class:`Session` from a video run folder."""
    folder = Path(folder)
    frames = folder / "frames.csv"
    if not frames.is_file():
        raise DataError(
            "not a video run folder: frames.csv is missing (make one with emolens video --out)", str(folder)
        )
    tracks_meta: dict[str, Any] = {}
    if (folder / "tracks.json").is_file():
        tracks_meta = json.loads((folder / "tracks.json").read_text())
    att_meta: dict[str, Any] = {}
    if (folder / "attention.json").is_file():
        att_meta = json.loads((folder / "attention.json").read_text())
    alerts: list[dict[str, Any]] = []
    if (folder / "alerts.json").is_file():
        alerts = json.loads((folder / "alerts.json").read_text())
    with frames.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        labels = tuple(c[2:] for c in cols if c.startswith("s_"))
        has_att = "attending" in cols
        per: dict[int, list[dict[str, str]]] = {}
        for row in reader:
            if row.get("track_id"):
                per.setdefault(int(row["track_id"]), []).append(row)
    people = []
    for tid, rows in sorted(per.items()):
        identity = next((r["identity"] for r in reversed(rows) if r.get("identity")), None)
        p = Person(key=f"track {tid}", name=identity if identity and identity != "unknown" else f"Person {tid}")
        p.track_ids = [tid]
        p.t = np.array([float(r["timestamp"]) for r in rows])
        p.probs = np.array([[_num(r.get(f"s_{lab}") or r.get(f"p_{lab}")) for lab in labels] for r in rows])
        if has_att:
            p.attending = np.array([_flag(r.get("attending")) for r in rows])
            p.closed = np.array([_flag(r.get("eyes_closed")) for r in rows])
            p.perclos = np.array([_num(r.get("perclos")) for r in rows])
            p.yawn = np.array([_flag(r.get("yawn")) for r in rows])
            p.off_target = np.array([_num(r.get("off_target")) for r in rows])
            p.blinks = sum(r.get("blink") == "True" for r in rows)
        tr = (att_meta.get("tracks") or {}).get(str(tid))
        if tr:
            p.spells = [(s["start"], s["end"]) for s in tr.get("focus_spells", [])]
            p.closures = [(s["start"], s["end"]) for s in tr.get("eye_closures", [])]
            p.yawns = [(s["start"], s["end"]) for s in tr.get("yawns", [])]
            p.blinks = len(tr.get("blinks", []))
        elif p.attending is not None:
            p.spells, p.closures, p.yawns, p.blinks = _derive_events(p)
        p.alerts = [a for a in alerts if a.get("track") == tid]
        thumb = folder / "thumbs" / f"track_{tid}.jpg"
        if thumb.is_file():
            p.thumbnail = thumb.read_bytes()
        people.append(p)
    source = str(tracks_meta.get("source") or att_meta.get("source") or folder.name)
    notes = []
    if not has_att:
        notes.append("This run was made without --attention: only emotions are reported.")
    return Session(f"Session report: {Path(source).name}", source, labels, people, notes, has_att)


def load_events(store: Any, since: float | None = None, identity: str | None = None) -> Session:
    """A :class:`Session` from a gallery's event log (one person per identity and source track)."""
    from emolens.identity.store import EventQuery

    rows = store.events(EventQuery(since=since, identity=identity))
    alerts = store.events(EventQuery(since=since, identity=identity), table="alerts")
    if not rows:
        raise DataError("no events match (check --since and --identity, and that the run used --log-events)")
    labels = tuple(rows[0]["scores"].keys()) if rows[0].get("scores") else ()
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for r in rows:
        who = r.get("identity") or "unknown"
        key = (who, r.get("source") or "", r.get("track") if who == "unknown" else None)
        groups.setdefault(key, []).append(r)
    t0 = min(r["time"] for r in rows)
    people = []
    has_att = any(r.get("attention") for r in rows)
    for n, ((who, src, track), rs) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0]["time"]), start=1):
        name = who if who != "unknown" else f"Unknown person {n}"
        p = Person(key=f"{who}|{src}|{track}", name=name)
        p.track_ids = sorted({r["track"] for r in rs if r.get("track") is not None})
        p.t = np.array([r["time"] - t0 for r in rs])
        p.probs = np.array([[float((r.get("scores") or {}).get(lab, 0.0)) for lab in labels] for r in rs])
        if has_att:
            att = [(r.get("attention") or {}) for r in rs]
            p.attending = np.array([bool((a.get("attention") or {}).get("attending")) for a in att])
            p.closed = np.array([bool((a.get("eyes") or {}).get("closed")) for a in att])
            p.perclos = np.array([_num((a.get("attention") or {}).get("perclos")) for a in att])
            p.yawn = np.array([bool((a.get("mouth") or {}).get("yawn")) for a in att])
            p.off_target = np.array([_num((a.get("attention") or {}).get("off_target")) for a in att])
            rates = [_num((a.get("attention") or {}).get("blink_rate")) for a in att]
            p.spells, p.closures, p.yawns, _ = _derive_events(p)
            finite = [x for x in rates if math.isfinite(x)]
            p.blinks = round(float(np.mean(finite)) * p.seen_s / 60) if finite else None
        p.alerts = [
            {**a, "started": a["started"]}
            for a in alerts
            if a.get("identity") == who and (track is None or a.get("track") == track)
        ]
        people.append(p)
    since_txt = dt.datetime.fromtimestamp(t0).strftime("%Y-%m-%d %H:%M")
    title = f"Event-log report since {since_txt}" + (f" — {identity}" if identity else "")
    notes = ["Built from the event log: one sample per person per second."]
    return Session(title, getattr(store, "path", "event log"), labels, people, notes, has_att)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _flag(x: Any) -> bool:
    return x in ("True", "true", "1", True)


def _runs(t: np.ndarray, flags: np.ndarray, gap: float = 1.0) -> list[tuple[float, float]]:
    from emolens.attention.tracking import TrackTimings, focus_spells

    return [(s.start, s.end) for s in focus_spells(list(t), list(flags), TrackTimings(spell_gap_s=gap))]


def _derive_events(p: Person) -> tuple[list, list, list, int]:
    spells = _runs(p.t, p.attending)
    closed = [(a, b) for a, b in _runs(p.t, p.closed, gap=0.0) if b - a > 0.5]
    yawns = _runs(p.t, p.yawn, gap=0.0)
    blinks = len([1 for a, b in _runs(p.t, p.closed, gap=0.0) if b - a <= 0.5])
    return spells, closed, yawns, blinks


# ---------------------------------------------------------------------------------------------------- figures


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _bins(session: Session) -> np.ndarray:
    ends = [p.t.max() for p in session.people if len(p.t)]
    starts = [p.t.min() for p in session.people if len(p.t)]
    if not ends:
        return np.array([0.0, 1.0])
    lo, hi = min(starts), max(ends)
    span = max(hi - lo, 1e-3)
    step = max(BIN_S, span / 300)
    return np.arange(lo, hi + step, step)


def _binned(t: np.ndarray, v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of ``v`` in each bin (NaN where there is no sample); ``v`` may be 2D."""
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    shape = (len(edges) - 1, *v.shape[1:])
    s, n = np.zeros(shape), np.zeros(len(edges) - 1)
    ok = np.isfinite(v) if v.ndim == 1 else np.isfinite(v).all(axis=1)
    np.add.at(s, idx[ok], v[ok])
    np.add.at(n, idx[ok], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / (n[:, None] if v.ndim > 1 else n)


def _colours(labels: tuple[str, ...]) -> list[str]:
    return [EMOTION_COLOURS.get(lab, "#777777") for lab in labels]


def fig_session_attention(session: Session, edges: np.ndarray) -> str | None:
    if not session.has_attention:
        return None
    plt = _plt()
    centres = (edges[:-1] + edges[1:]) / 2
    shares = [_binned(p.t, p.attending.astype(float), edges) for p in session.people if p.attending is not None]
    stack = np.vstack(shares)
    present = np.isfinite(stack).sum(0)
    with np.errstate(invalid="ignore"):
        share = np.nansum(stack > 0.5, 0) / np.where(present > 0, present, np.nan)
    fig, ax = plt.subplots(figsize=(8.5, 2.2))
    ax.fill_between(centres, 0, share * 100, step="mid", color="#2a9d8f", alpha=0.35, lw=0)
    ax.plot(centres, share * 100, drawstyle="steps-mid", color="#2a9d8f", lw=1.2)
    ax2 = ax.twinx()
    ax2.plot(centres, present, drawstyle="steps-mid", color="#555", lw=0.8, ls=":")
    ax2.set_ylabel("people in view", color="#555")
    ax2.set_ylim(0, max(1, present.max()) + 0.5)
    ax2.spines["top"].set_visible(False)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% attending")
    ax.set_xlabel("time (s)")
    ax.set_title("Share of the people in view who are attending")
    return _svg(fig)


def fig_climate(session: Session, edges: np.ndarray) -> str:
    plt = _plt()
    centres = (edges[:-1] + edges[1:]) / 2
    mats = [_binned(p.t, p.probs, edges) for p in session.people if len(p.t)]
    stack = np.stack(mats)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stack, axis=0)
    mean = np.nan_to_num(mean)
    fig, ax = plt.subplots(figsize=(8.5, 2.4))
    ax.stackplot(centres, mean.T, labels=session.labels, colors=_colours(session.labels), alpha=0.9, step="mid")
    ax.set_ylim(0, 1)
    ax.set_xlim(centres[0], centres[-1])
    ax.set_ylabel("mean probability")
    ax.set_xlabel("time (s)")
    ax.set_title("Emotional climate: the mean of everyone in view")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


def moments(session: Session, edges: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
    """The ``k`` times (at least 5 % of the session apart) when the climate and the attention changed most."""
    mats = [_binned(p.t, p.probs, edges) for p in session.people if len(p.t)]
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(np.stack(mats), axis=0))
    win = max(1, round(5.0 / max(edges[1] - edges[0], 1e-6)))
    n = len(mean)
    if n < 2 * win + 1:
        return []
    att = None
    if session.has_attention:
        shares = [_binned(p.t, p.attending.astype(float), edges) for p in session.people if p.attending is not None]
        with np.errstate(invalid="ignore"):
            att = np.nan_to_num(np.nanmean(np.vstack(shares), 0))
    scores = np.zeros(n)
    for i in range(win, n - win):
        before, after = mean[i - win : i].mean(0), mean[i : i + win].mean(0)
        scores[i] = 0.5 * np.abs(after - before).sum()
        if att is not None:
            scores[i] += abs(att[i : i + win].mean() - att[i - win : i].mean())
    out: list[dict[str, Any]] = []
    sep = max(win, n // 20)
    for i in np.argsort(-scores):
        if scores[i] <= 0.05 or len(out) >= k:
            break
        if any(abs(i - o["_i"]) < sep for o in out):
            continue
        before, after = mean[i - win : i].mean(0), mean[i : i + win].mean(0)
        d = after - before
        up, down = session.labels[int(np.argmax(d))], session.labels[int(np.argmin(d))]
        text = f"{up} rises ({before[np.argmax(d)]:.0%} → {after[np.argmax(d)]:.0%}), {down} falls"
        if att is not None:
            a0, a1 = att[i - win : i].mean(), att[i : i + win].mean()
            if abs(a1 - a0) >= 0.1:
                text += f"; attending {a0:.0%} → {a1:.0%}"
        out.append({"_i": int(i), "time": float(edges[i]), "change": float(scores[i]), "text": text})
    return [{k_: v for k_, v in o.items() if k_ != "_i"} for o in sorted(out, key=lambda o: o["time"])]


def fig_person_emotions(p: Person, labels: tuple[str, ...]) -> str:
    plt = _plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8.5, 2.0), gridspec_kw={"width_ratios": [1, 3]})
    top = np.argmax(p.probs, axis=1) if len(p.probs) else np.zeros(0, int)
    share = np.bincount(top, minlength=len(labels)) / max(1, len(top))
    order = np.argsort(share)
    ax0.barh([labels[i] for i in order], share[order] * 100, color=[_colours(labels)[i] for i in order])
    ax0.set_xlabel("% of time")
    ax0.set_title("Emotions")
    if len(p.t) > 1:
        ax1.stackplot(p.t, p.probs.T, colors=_colours(labels), alpha=0.9)
        ax1.set_xlim(p.t[0], p.t[-1])
    ax1.set_ylim(0, 1)
    ax1.set_yticks([0, 0.5, 1])
    ax1.set_xlabel("time (s)")
    ax1.set_title("Emotion over time")
    fig.tight_layout()
    return _svg(fig)


def fig_person_attention(p: Person) -> str | None:
    if p.attending is None:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(8.5, 2.0), gridspec_kw={"width_ratios": [3, 1.3, 1.6]})
    ax = axes[0]
    if len(p.t) > 1:
        ax.fill_between(p.t, 0, p.attending.astype(float), step="post", color="#2a9d8f", alpha=0.5, lw=0)
        for a, b in p.closures:
            ax.axvspan(a, b, color="#e76f51", alpha=0.35, lw=0)
        for a, b in p.yawns:
            ax.axvspan(a, b, color="#f4a261", alpha=0.35, lw=0, hatch="//")
        ax.set_xlim(p.t[0], p.t[-1])
    ax.set_yticks([0, 1], ["away", "attending"])
    ax.set_xlabel("time (s)")
    ax.set_title("Attention (red: eyes closed, orange: yawn)")
    ax = axes[1]
    durations = [b - a for a, b in p.spells]
    if durations:
        hi = max(durations)
        bins = np.unique(np.concatenate([[0], np.geomspace(1, max(hi, 1.01), 8)]))
        ax.hist(durations, bins=bins, color="#2a9d8f")
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("focus spell (s)")
    ax.set_ylabel("spells")
    ax.set_title("Focus durations")
    ax = axes[2]
    if p.perclos is not None and np.isfinite(p.perclos).any():
        ax.plot(p.t, p.perclos * 100, color="#e76f51", lw=1.2)
        ax.axhline(15, color="#999", ls="--", lw=0.8)
        ax.text(p.t[0], 16, "drowsy level 15 %", fontsize=7, color="#777")
    ax.set_ylim(
        0,
        max(30, float(np.nanmax(p.perclos * 100)) + 5)
        if p.perclos is not None and np.isfinite(p.perclos).any()
        else 30,
    )
    ax.set_xlabel("time (s)")
    ax.set_title("Eyes closed (PERCLOS %)")
    fig.tight_layout()
    return _svg(fig)


# ---------------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;color:#222;max-width:60em;margin:1.5em auto;padding:0 1em;
line-height:1.4}
h1{font-size:1.6em;margin-bottom:0.1em}h2{font-size:1.25em;border-bottom:2px solid #2a9d8f;padding-bottom:0.15em;
margin-top:1.6em}h3{margin:0}.meta{color:#666;font-size:0.9em}.note{background:#fff7e0;padding:0.4em 0.7em;
border-radius:4px;font-size:0.9em}.cards{display:flex;gap:0.8em;flex-wrap:wrap;margin:0.8em 0}
.card{background:#f3f7f6;border-radius:6px;padding:0.5em 0.8em;min-width:8em}.card b{display:block;font-size:1.35em}
.person{page-break-inside:avoid;break-inside:avoid;border:1px solid #ddd;border-radius:8px;padding:0.8em 1em;
margin:1em 0}.head{display:flex;gap:1em;align-items:center}.head img{width:84px;height:84px;object-fit:cover;
border-radius:8px}.avatar{width:84px;height:84px;border-radius:8px;background:#cfe3df;display:flex;
align-items:center;justify-content:center;font-size:1.6em;color:#2a6f66}.fig svg{width:100%;height:auto}
ul.moments li{margin:0.2em 0}table.alerts{border-collapse:collapse;font-size:0.85em}table.alerts td,
table.alerts th{border-bottom:1px solid #eee;padding:0.15em 0.6em;text-align:left}.summary{margin:0.4em 0 0.6em}
.howto{break-inside:avoid;page-break-inside:avoid}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}.session{page-break-after:always}}
@page{size:A4;margin:14mm}
"""


def _fmt_s(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def person_summary(p: Person, labels: tuple[str, ...]) -> dict[str, Any]:
    """The figures of one person's section (also used by the tests)."""
    seen = p.seen_s
    top = np.argmax(p.probs, axis=1) if len(p.probs) else np.zeros(0, int)
    share = np.bincount(top, minlength=len(labels)) / max(1, len(top))
    out: dict[str, Any] = {"seen_s": seen, "dominant": labels[int(np.argmax(share))] if len(top) else None}
    out["emotion_share"] = {lab: float(v) for lab, v in zip(labels, share, strict=True)}
    if p.attending is not None:
        durations = [b - a for a, b in p.spells]
        out["attending_share"] = float(np.mean(p.attending)) if len(p.attending) else 0.0
        out["spells"] = len(durations)
        out["focus_median_s"] = float(np.median(durations)) if durations else 0.0
        out["focus_longest_s"] = float(max(durations)) if durations else 0.0
        finite = p.perclos[np.isfinite(p.perclos)] if p.perclos is not None else np.zeros(0)
        out["perclos_max"] = float(finite.max()) if len(finite) else None
        out["blinks_per_minute"] = (p.blinks or 0) / (seen / 60) if seen >= 10 and p.blinks is not None else None
        out["yawns"] = len(p.yawns)
        out["closures"] = len(p.closures)
    return out


def render_html(session: Session, *, anonymous: bool = False) -> str:
    """The report as one self-contained HTML document."""
    edges = _bins(session)
    people = session.people
    names = {id(p): (f"Person {k}" if anonymous else p.name) for k, p in enumerate(people, start=1)}
    total = max((p.t.max() for p in people if len(p.t)), default=0.0) - min(
        (p.t.min() for p in people if len(p.t)), default=0.0
    )
    title = "Session report" if anonymous else session.title
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<div class='meta'>{'' if anonymous else html.escape(str(session.source)) + ' · '}"
        f"{_fmt_s(total)} · {len(people)} {'person' if len(people) == 1 else 'people'} · made "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by emolens</div>",
    ]
    for note in session.notes:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    parts.append("<section class='session' id='session'><h2>The session</h2>")
    summaries = [person_summary(p, session.labels) for p in people]
    cards = [("people", str(len(people))), ("length", _fmt_s(total))]
    if session.has_attention and people:
        w = np.array([s["seen_s"] for s in summaries])
        att = np.array([s["attending_share"] for s in summaries])
        cards.append(("attending (time-weighted)", f"{(att * w).sum() / max(w.sum(), 1e-9):.0%}"))
        med = [s["focus_median_s"] for s in summaries if s["spells"]]
        if med:
            cards.append(("typical focus spell", _fmt_s(float(np.median(med)))))
        cards.append(("yawns", str(sum(s["yawns"] for s in summaries))))
    if people:
        allp = np.vstack([p.probs for p in people if len(p.probs)])
        climate = session.labels[int(np.argmax(np.bincount(np.argmax(allp, 1), minlength=len(session.labels))))]
        cards.append(("prevailing emotion", climate))
    parts.append(
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{html.escape(v)}</b>{html.escape(k)}</div>" for k, v in cards)
        + "</div>"
    )
    if people:
        fa = fig_session_attention(session, edges)
        if fa:
            parts.append(f"<div class='fig' id='fig-session-attention'>{fa}</div>")
        parts.append(f"<div class='fig' id='fig-climate'>{fig_climate(session, edges)}</div>")
        ms = moments(session, edges)
        parts.append("<h3>Moments of most change</h3>")
        if ms:
            parts.append(
                "<ul class='moments'>"
                + "".join(f"<li><b>{_fmt_s(m['time'])}</b>: {html.escape(m['text'])}</li>" for m in ms)
                + "</ul>"
            )
        else:
            parts.append("<p>Nothing changed much: the mood and the attention held steady.</p>")
    parts.append("</section><h2>Each person</h2>")
    for k, (p, s) in enumerate(zip(people, summaries, strict=True), start=1):
        name = names[id(p)]
        parts.append(f"<section class='person' id='person-{k}' data-name='{html.escape(name)}'><div class='head'>")
        if p.thumbnail is not None and not anonymous:
            b64 = base64.b64encode(p.thumbnail).decode()
            parts.append(f"<img alt='{html.escape(name)}' src='data:image/jpeg;base64,{b64}'>")
        else:
            parts.append(f"<div class='avatar'>{k}</div>")
        parts.append(f"<div><h3>{html.escape(name)}</h3><div class='meta'>in view {_fmt_s(s['seen_s'])}")
        if not anonymous and p.track_ids:
            parts.append(f" · track {', '.join(map(str, p.track_ids[:5]))}")
        parts.append("</div></div></div>")
        parts.append(f"<p class='summary'>{html.escape(_sentence(s))}</p>")
        parts.append(f"<div class='fig'>{fig_person_emotions(p, session.labels)}</div>")
        fa = fig_person_attention(p)
        if fa:
            parts.append(f"<div class='fig'>{fa}</div>")
        if p.alerts:
            parts.append("<table class='alerts'><tr><th>alert</th><th>at</th><th>for</th></tr>")
            for a in p.alerts[:20]:
                parts.append(
                    f"<tr><td>{html.escape(str(a.get('emotion') or a.get('rule')))}</td>"
                    f"<td>{_fmt_s(float(a.get('started') or 0))}</td>"
                    f"<td>{float(a.get('duration_s') or 0):.1f} s</td></tr>"
                )
            parts.append("</table>")
        parts.append("</section>")
    parts.append(
        "<p class='meta howto'>How to read this: emotions are what the face shows, not what the person feels; "
        "attention means the head (and eyes) point at the target, not that the mind follows. Focus spells are "
        "stretches of attending that glances of under a second do not break; PERCLOS is the share of the last "
        "minute with the eyes closed (15 % and more is a common drowsiness level).</p></body></html>"
    )
    return "".join(parts)


def _sentence(s: dict[str, Any]) -> str:
    bits = [f"Mostly {s['dominant']}" if s.get("dominant") else "No face data"]
    if "attending_share" in s:
        bits.append(f"attending {s['attending_share']:.0%} of the time in view")
        if s["spells"]:
            bits.append(
                f"{s['spells']} focus spell{'s' if s['spells'] != 1 else ''}, typically "
                f"{_fmt_s(s['focus_median_s'])}, the longest {_fmt_s(s['focus_longest_s'])}"
            )
        if s.get("blinks_per_minute") is not None:
            bits.append(f"{s['blinks_per_minute']:.0f} blinks a minute")
        if s.get("perclos_max") is not None and s["perclos_max"] >= 0.15:
            bits.append(f"signs of drowsiness (eyes closed up to {s['perclos_max']:.0%} of a minute)")
        if s.get("yawns"):
            bits.append(f"{s['yawns']} yawn{'s' if s['yawns'] != 1 else ''}")
    return "; ".join(bits) + "."


# ---------------------------------------------------------------------------------------------------- PDF


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return os.environ.get("EMOLENS_CHROMIUM") if os.environ.get("EMOLENS_CHROMIUM") else None


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, chromium: str | None = None, timeout: float = 120) -> Path:
    """Print an HTML file to PDF with headless Chromium (A4, no header or footer)."""
    exe = chromium or find_chromium()
    if exe is None:
        raise ConfigError("no Chromium found to print the PDF (Debian: apt-get install chromium); the HTML is written")
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.as_uri(),
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            raise ConfigError(f"Chromium could not print the PDF ({type(e).__name__})", str(pdf_path)) from None
    if not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        raise ConfigError("Chromium wrote no PDF", str(pdf_path))
    return pdf_path


def write_report(session: Session, out_html: str | Path, *, anonymous: bool = False, pdf: bool = True) -> list[Path]:
    """Write the HTML report (and the PDF beside it); returns the files written."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(render_html(session, anonymous=anonymous), encoding="utf-8")
    files = [out_html]
    if pdf:
        files.append(html_to_pdf(out_html, out_html.with_suffix(".pdf")))
    return files
