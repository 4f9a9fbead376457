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
import datetime as dt
import html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from emolens.attention.figures import (
    fig_climate,
    fig_person_attention,
    fig_person_emotions,
    fig_session_attention,
    moments,
    time_bins,
)
from emolens.attention.session import Person, Session, load_events, load_run
from emolens.errors import ConfigError

__all__ = [
    "Person",
    "Session",
    "find_chromium",
    "html_to_pdf",
    "load_events",
    "load_run",
    "render_html",
    "write_report",
]

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
    edges = time_bins(session)
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
