"""What a session report is made of: the people seen, with their emotions and attention over time, loaded from a
video run folder (:func:`load_run`) or from rows of a gallery's event log (:func:`load_events`)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.attention.tracking import TrackTimings, focus_spells
from emolens.errors import DataError


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


def load_events(
    rows: list[dict[str, Any]],
    alerts: list[dict[str, Any]] | None = None,
    *,
    identity: str | None = None,
    source: str = "event log",
) -> Session:
    """A :class:`Session` from rows of a gallery's event log and its alerts (``store.events(query)`` and
    ``store.events(query, table="alerts")``), one person per identity and source track. ``identity`` names the
    person the rows were filtered to (for the title)."""
    alerts = alerts or []
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
    return Session(title, source, labels, people, notes, has_att)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _flag(x: Any) -> bool:
    return x in ("True", "true", "1", True)


def _runs(t: np.ndarray, flags: np.ndarray, gap: float = 1.0) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in focus_spells(list(t), list(flags), TrackTimings(spell_gap_s=gap))]


def _derive_events(p: Person) -> tuple[list, list, list, int]:
    spells = _runs(p.t, p.attending)
    closed = [(a, b) for a, b in _runs(p.t, p.closed, gap=0.0) if b - a > 0.5]
    yawns = _runs(p.t, p.yawn, gap=0.0)
    blinks = len([1 for a, b in _runs(p.t, p.closed, gap=0.0) if b - a <= 0.5])
    return spells, closed, yawns, blinks
