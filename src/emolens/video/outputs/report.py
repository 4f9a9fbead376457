"""The per-video summary sheet: every track with its best face, dominant emotion, time on screen and timeline.

Two files in the video's output folder, written by :class:`emolens.video.outputs.VideoOutputWriter` on close:

``summary.html``
    One self-contained page (thumbnails as ``data:`` PNGs, timelines as inline SVG, no scripts, fonts or links
    to fetch): open it offline or mail it.
``summary.png``
    The same as one image (needs matplotlib, ``emolens[plot]``); at most :data:`MAX_ROWS` tracks, the longest on
    screen, with a line saying how many more there are.

Tracks are listed longest on screen first.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from emolens.video.outputs.summary import TrackSummary

__all__ = ["MAX_ROWS", "summary_rows", "write_summary_html", "write_summary_png"]

#: Most tracks drawn in ``summary.png`` (the HTML lists all of them).
MAX_ROWS = 24


def summary_rows(summary: TrackSummary) -> list[dict[str, Any]]:
    """The tracks of a summary (``TrackSummary.track`` dicts), longest on screen first."""
    rows = [summary.track(t) for t in summary.track_ids]
    return sorted(rows, key=lambda r: (-r["frames"], r["track_id"]))


def write_summary_html(summary: TrackSummary, path: str | Path, **facts: Any) -> None:
    """Write the summary sheet as one self-contained HTML page.

    Parameters
    ----------
    summary : TrackSummary
        The video's accumulated tracks.
    path : str or pathlib.Path
        The ``.html`` file.
    **facts
        Run facts shown in the header (e.g. ``fps``, ``detector``, ``model``).

    Raises
    ------
    ConfigError
        The file cannot be written.
    """
    from emolens.draw import EMOTION_COLORS, OTHER_COLOR, _ink

    def color(label: str) -> str:
        r, g, b = EMOTION_COLORS.get(label, OTHER_COLOR)
        return f"#{r:02x}{g:02x}{b:02x}"

    def ink(label: str) -> str:
        return "#000" if _ink(EMOTION_COLORS.get(label, OTHER_COLOR)) == (0, 0, 0) else "#fff"

    rows = summary_rows(summary)
    duration = 0.0 if summary.first_timestamp is None else summary.last_timestamp - summary.first_timestamp
    span = (summary.first_timestamp or 0.0, (summary.first_timestamp or 0.0) + max(duration, 1e-3))
    name = Path(summary.source).name if summary.source else "video"
    head = [
        ("video", summary.source or "?"),
        ("frames analysed", str(summary.frames_analysed)),
        ("with faces", str(summary.frames_with_faces)),
        ("duration", f"{duration:.1f} s"),
        ("tracks", str(len(rows))),
        *((k, f"{v:.3g}" if isinstance(v, float) else str(v)) for k, v in facts.items() if v is not None),
    ]
    legend = "".join(
        f'<span class="key"><i style="background:{color(lab)}"></i>{html.escape(lab)}</span>' for lab in summary.labels
    )
    body = []
    for r in rows:
        tid = r["track_id"]
        thumb = summary.thumbnail(tid)
        img = (
            f'<img class="face" alt="track {tid}" src="data:image/png;base64,{_png_b64(thumb)}">'
            if thumb is not None
            else '<div class="face none">no picture</div>'
        )
        share = "".join(
            f'<i style="width:{100 * v:.2f}%;background:{color(k)}" title="{html.escape(k)} {100 * v:.0f}%"></i>'
            for k, v in r["share"].items()
        )
        times, probs = summary.series(tid)
        who = f"<div class=who>{html.escape(r['identity'])}</div>" if r["identity"] else ""
        dom = r["dominant_emotion"]
        body.append(
            f'<tr data-track="{tid}"><td>{img}</td>'
            f"<td><b>#{tid}</b>{who}</td>"
            f'<td><span class="dom" style="background:{color(dom)};color:{ink(dom)}">'
            f"{html.escape(r['dominant_emotion'])}</span>"
            f'<div class="share">{share}</div></td>'
            f"<td>{r['seconds_on_screen']:.1f} s<div class=sub>{r['first_seen_s']:.1f}&ndash;{r['last_seen_s']:.1f} s"
            f"</div></td>"
            f"<td>{r['mean_valence']:+.2f}</td>"
            f"<td>{_timeline_svg(times, probs, summary.labels, color, span=span)}</td></tr>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>emolens summary: {html.escape(name)}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}}
h1{{font-size:20px;margin:0 0 8px}} dl{{display:flex;flex-wrap:wrap;gap:4px 20px;margin:0 0 12px}}
dt{{color:#777}} dd{{margin:0 0 0 4px;font-weight:600}} dl div{{display:flex}}
table{{border-collapse:collapse;background:#fff}} th,td{{padding:6px 10px;border-bottom:1px solid #e4e4e4;
text-align:left;vertical-align:middle}} th{{font-weight:600;color:#555}}
.face{{width:96px;height:96px;border-radius:6px;display:block;object-fit:cover}}
.none{{background:#ddd;color:#777;font-size:11px;display:flex;align-items:center;justify-content:center}}
.dom{{padding:2px 8px;border-radius:10px;font-weight:600}} .who,.sub{{color:#777;font-size:12px}}
.share{{display:flex;width:160px;height:8px;margin-top:6px;border-radius:4px;overflow:hidden}}
.share i,.key i{{display:block;height:100%}} .key{{margin-right:12px;white-space:nowrap}}
.key i{{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}}
</style></head><body>
<h1>{html.escape(name)}</h1>
<dl>{"".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in head)}</dl>
<p>{legend}</p>
<table><thead><tr><th>face</th><th>track</th><th>dominant emotion</th><th>on screen</th><th>valence</th>
<th>timeline (smoothed probabilities)</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
</body></html>
"""
    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None


def write_summary_png(summary: TrackSummary, path: str | Path, max_rows: int = MAX_ROWS) -> None:
    """Write the summary sheet as one PNG: a row per track (face, id, dominant emotion, time on screen, timeline).

    Raises
    ------
    MissingExtraError
        matplotlib is not installed.
    ConfigError
        The file cannot be written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    from emolens.draw import EMOTION_COLORS, OTHER_COLOR

    colors = [tuple(c / 255 for c in EMOTION_COLORS.get(lab, OTHER_COLOR)) for lab in summary.labels]
    rows = summary_rows(summary)
    shown = rows[:max_rows]
    n = max(1, len(shown))
    t0 = summary.first_timestamp or 0.0
    t1 = max(summary.last_timestamp, t0 + 1e-3)
    fig = plt.figure(figsize=(12, 1.0 + 1.15 * n), dpi=100)
    grid = fig.add_gridspec(n + 1, 3, width_ratios=[1, 2.2, 7], height_ratios=[0.55] + [1] * n, hspace=0.35)
    try:
        top = fig.add_subplot(grid[0, :])
        top.set_axis_off()
        hidden = len(rows) - len(shown)
        more = f"   (the {hidden} shortest tracks are in summary.html)" if hidden else ""
        name = Path(summary.source).name if summary.source else "video"
        top.text(
            0,
            0.5,
            f"{name}: {summary.frames_analysed} frames analysed, {len(rows)} track(s), {t1 - t0:.1f} s{more}",
            fontsize=12,
            fontweight="bold",
            va="center",
        )
        for k, r in enumerate(shown, start=1):
            tid = r["track_id"]
            face_ax = fig.add_subplot(grid[k, 0])
            face_ax.set_axis_off()
            thumb = summary.thumbnail(tid)
            if thumb is not None:
                face_ax.imshow(thumb, interpolation="lanczos")
            text_ax = fig.add_subplot(grid[k, 1])
            text_ax.set_axis_off()
            who = f"  {r['identity']}" if r["identity"] else ""
            text_ax.text(0, 0.8, f"#{tid}{who}", fontsize=11, fontweight="bold", va="center")
            dom = r["dominant_emotion"]
            text_ax.text(
                0,
                0.45,
                f" {dom} {100 * r['share'].get(dom, 0):.0f}% ",
                fontsize=10,
                va="center",
                bbox={"boxstyle": "round", "fc": tuple(c / 255 for c in EMOTION_COLORS.get(dom, OTHER_COLOR))},
            )
            text_ax.text(
                0,
                0.1,
                f"{r['seconds_on_screen']:.1f} s on screen ({r['first_seen_s']:.1f}-{r['last_seen_s']:.1f} s)",
                fontsize=9,
                va="center",
                color="#555",
            )
            ax = fig.add_subplot(grid[k, 2])
            times, probs = summary.series(tid)
            if len(times) == 1:
                times, probs = [times[0], times[0] + 1e-3], np.repeat(probs, 2, axis=0)
            ax.stackplot(times, probs.T, colors=colors, linewidth=0)
            ax.set_xlim(t0, t1)
            ax.set_ylim(0, 1)
            ax.set_yticks([])
            if k < n:
                ax.set_xticklabels([])
        if rows:
            ax.set_xlabel("time (s)")
            handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
            fig.legend(handles, summary.labels, loc="upper right", ncol=len(colors), fontsize=8, frameon=False)
        fig.savefig(path, format="png", bbox_inches="tight")
    except OSError as e:
        raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None
    finally:
        plt.close(fig)


def _png_b64(rgb: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise ConfigError("could not encode a thumbnail")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _timeline_svg(
    times: Sequence[float],
    probs: np.ndarray,
    labels: Sequence[str],
    color: Any,
    *,
    span: tuple[float, float] | None = None,
    width: int = 420,
    height: int = 56,
    points: int = 200,
) -> str:
    """Stacked smoothed probabilities as an inline SVG (at most ``points`` points), on the time axis ``span``
    (seconds; default the track's own)."""
    if not len(times):
        return ""
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64).reshape(len(t), len(labels))
    if len(t) > points:
        idx = np.linspace(0, len(t) - 1, points).round().astype(int)
        t, p = t[idx], p[idx]
    if len(t) == 1:
        t, p = np.array([t[0], t[0] + 1e-3]), np.repeat(p, 2, axis=0)
    start, end = span if span is not None else (t[0], t[-1])
    x = np.clip((t - start) / max(end - start, 1e-9), 0, 1) * width
    cum = np.cumsum(p, axis=1)
    shapes = []
    lower = np.zeros(len(t))
    for j, lab in enumerate(labels):
        upper = cum[:, j]
        pts = [f"{xi:.1f},{height * (1 - yi):.1f}" for xi, yi in zip(x, upper, strict=True)]
        pts += [f"{xi:.1f},{height * (1 - yi):.1f}" for xi, yi in zip(x[::-1], lower[::-1], strict=True)]
        title = f"<title>{html.escape(lab)}</title>"
        shapes.append(f'<polygon fill="{color(lab)}" points="{" ".join(pts)}">{title}</polygon>')
        lower = upper
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" style="background:#f0f0f0" '
        f'role="img" aria-label="timeline {t[0]:.1f}-{t[-1]:.1f} s">{"".join(shapes)}</svg>'
    )
