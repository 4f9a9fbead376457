"""The plots of a session report, as inline SVG (matplotlib, drawn off-screen): attention and the emotional
climate of the session, each person's emotions and attention over time, and the moments when the most changed."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from emolens.attention.session import Person, Session
from emolens.errors import MissingExtraError

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


def time_bins(session: Session) -> np.ndarray:
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
