"""Timeline plots: a track's smoothed probabilities over time as a stacked area chart (``timeline_track_<id>.png``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolens.draw import EMOTION_COLORS, OTHER_COLOR
from emolens.errors import ConfigError, MissingExtraError

__all__ = ["plot_timeline"]


def plot_timeline(
    times: Sequence[float],
    probs: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
    thumbnail: np.ndarray | None = None,
) -> None:
    """Plot probabilities over time as a stacked area chart and save it as PNG.

    Parameters
    ----------
    times : sequence of float
        Seconds.
    probs : numpy.ndarray
        ``[len(times), len(labels)]`` probabilities.
    labels : sequence of str
        Emotion labels, coloured as in :data:`emolens.draw.EMOTION_COLORS`.
    path : str or pathlib.Path
        The PNG file.
    title : str, optional
    thumbnail : numpy.ndarray, optional
        The track's face (``uint8`` ``[h, w, 3]`` RGB), shown left of the plot.

    Raises
    ------
    MissingExtraError
        matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # headless
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    colors = [tuple(c / 255 for c in EMOTION_COLORS.get(label, OTHER_COLOR)) for label in labels]
    probs = np.asarray(probs, dtype=np.float64).reshape(len(times), len(labels))
    if thumbnail is None:
        fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    else:
        fig, (face_ax, ax) = plt.subplots(
            1, 2, figsize=(12, 3.2), dpi=100, gridspec_kw={"width_ratios": [1, 4.6]}, squeeze=True
        )
        face_ax.imshow(thumbnail, interpolation="lanczos")
        face_ax.set_axis_off()
    try:
        if len(times) == 1:  # one point: show it as a bar of width one frame
            times = [times[0], times[0] + 1e-3]
            probs = np.repeat(probs, 2, axis=0)
        ax.stackplot(times, probs.T, labels=labels, colors=colors, linewidth=0)
        ax.set_xlim(times[0], times[-1])
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("probability (smoothed)")
        if title:
            ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(path, format="png")
    except OSError as e:
        raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None
    finally:
        plt.close(fig)
