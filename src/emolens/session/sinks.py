"""Sinks of a session: the files of ``emolens video``, the alert and attention reports, callbacks for live use.

Each sink has ``open(info)``, ``write(step)`` and ``close(summary) -> files`` (:class:`emolens.session.Sink`) and
wraps the library's writers, so a writer can be swapped without touching the runner.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emolens.session.runner import SessionInfo, SessionStep, SessionSummary

__all__ = ["AlertsJsonSink", "AttentionJsonSink", "CallbackSink", "FrameTableSink", "VideoOutputSink", "output_fps"]


def output_fps(source_fps: float | None, every: int, target_fps: float | None) -> float:
    """Frame rate of an annotated video: the analysed frames per second of video time."""
    base = source_fps if source_fps and math.isfinite(source_fps) else (target_fps or 25.0)
    rate = base / every
    return min(rate, target_fps) if target_fps else rate


class VideoOutputSink:
    """The per-video outputs of ``emolens video --output DIR``: frame tables, ``tracks.json``, timeline plots, the
    summary sheet, thumbnails and (``annotate``) ``annotated.mp4``, through
    :class:`~emolens.video.writers.VideoOutputWriter`.

    Parameters
    ----------
    out_dir:
        Output folder (created if missing).
    tables:
        Table formats (``csv``, ``parquet``).
    annotate:
        Also write ``annotated.mp4`` at the analysed frame rate (:func:`output_fps`); a folder: write it there
        (``True``: in ``out_dir``).
    facts:
        Extra facts for ``tracks.json`` (e.g. ``detector``, ``model``, ``smoothing``), after the frame counters.
    plots, blur_unknown, landmarks, label_size, attention, codec:
        As in :class:`~emolens.video.writers.VideoOutputWriter`.
    """

    needs_frames = True  # thumbnails of each track's best face, annotated.mp4

    def __init__(
        self,
        out_dir: str | Path,
        *,
        tables: Sequence[str] = ("csv",),
        plots: bool = True,
        annotate: bool | str | Path = False,
        blur_unknown: bool = False,
        landmarks: bool = True,
        label_size: float | None = None,
        attention: bool = False,
        codec: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.options: dict[str, Any] = {
            "tables": list(tables),
            "plots": plots,
            "blur_unknown": blur_unknown,
            "landmarks": landmarks,
            "label_size": label_size,
            "attention": attention,
            "codec": codec,
        }
        if not isinstance(annotate, bool):
            self.options["annotate_dir"] = Path(annotate)
        self.annotate = bool(annotate)
        self.facts = dict(facts or {})
        self.writer: Any = None
        self._info: SessionInfo | None = None

    def open(self, info: SessionInfo) -> None:
        from emolens.video.writers import VideoOutputWriter

        cfg = info.config
        fps = output_fps(info.source.fps, cfg.every_n_frames, cfg.target_fps) if self.annotate else None
        self._info = info
        self.writer = VideoOutputWriter(
            self.out_dir, info.labels, source=info.source.name, annotate_fps=fps, **self.options
        )

    @property
    def annotated_codec(self) -> str | None:
        """The codec of ``annotated.mp4`` (``avc1`` H.264 or ``mp4v``), or ``None`` without one."""
        annotated = getattr(self.writer, "annotated", None)
        return None if annotated is None else annotated.codec

    def write(self, step: SessionStep) -> None:
        self.writer.write(step.result, step.rgb)

    def close(self, summary: SessionSummary) -> list[Path]:
        if self.writer is None or self._info is None:
            return []
        src = self._info.source
        return list(
            self.writer.close(
                frames_read=summary.stats.frames_read,
                frames_dropped=summary.stats.frames_dropped,
                fps=src.fps,
                live=src.live,
                **self.facts,
                complete=summary.complete,
                error=None if summary.error is None else str(summary.error),
            )
        )


class FrameTableSink:
    """The frame records alone (one row per face per analysed frame) as CSV or Parquet, written as they come
    (:class:`~emolens.video.writers.FrameTableWriter`); the format follows the suffix (``.parquet`` or CSV)."""

    needs_frames = False

    def __init__(self, path: str | Path, *, attention: bool = False) -> None:
        self.path = Path(path)
        self.attention = attention
        self.writer: Any = None

    def open(self, info: SessionInfo) -> None:
        from emolens.video.writers import FrameTableWriter

        fmt = "parquet" if self.path.suffix.lower() == ".parquet" else "csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = FrameTableWriter(self.path, info.labels, fmt, attention=self.attention)

    def write(self, step: SessionStep) -> None:
        self.writer.write(step.result)

    def close(self, summary: SessionSummary) -> list[Path]:
        if self.writer is None:
            return []
        self.writer.close()
        return [self.path]


class AlertsJsonSink:
    """``alerts.json``: every alert the session fired (``Alert.to_dict()``), written on close."""

    needs_frames = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def open(self, info: SessionInfo) -> None:
        pass

    def write(self, step: SessionStep) -> None:
        pass

    def close(self, summary: SessionSummary) -> list[Path]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([a.to_dict() for a in summary.alerts], indent=2) + "\n")
        return [self.path]


class AttentionJsonSink:
    """``attention.json``: each track's focus spells, blinks, eye closures and yawns (needs attention on)."""

    needs_frames = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._info: SessionInfo | None = None

    def open(self, info: SessionInfo) -> None:
        self._info = info

    def write(self, step: SessionStep) -> None:
        pass

    def close(self, summary: SessionSummary) -> list[Path]:
        if self._info is None or self._info.attention is None:
            return []
        from emolens.attention.summary import write_attention_json

        return [write_attention_json(self.path, self._info.attention, self._info.source.name)]


class CallbackSink:
    """Hands each step to a function: for live consumers (a WebSocket, a dashboard, a GUI, metrics).

    ``on_step(step)`` runs in the iterating thread for every analysed frame (keep it quick, or hand the step to a
    queue); ``on_open(info)`` once the source is open; ``on_close(summary)`` at the end. ``needs_frames`` keeps
    the pixels in each step (e.g. to send JPEGs).
    """

    def __init__(
        self,
        on_step: Callable[[SessionStep], None],
        *,
        on_open: Callable[[SessionInfo], None] | None = None,
        on_close: Callable[[SessionSummary], None] | None = None,
        needs_frames: bool = False,
    ) -> None:
        self.on_step = on_step
        self.on_open = on_open
        self.on_close = on_close
        self.needs_frames = needs_frames

    def open(self, info: SessionInfo) -> None:
        if self.on_open is not None:
            self.on_open(info)

    def write(self, step: SessionStep) -> None:
        self.on_step(step)

    def close(self, summary: SessionSummary) -> list[Path]:
        if self.on_close is not None:
            self.on_close(summary)
        return []
