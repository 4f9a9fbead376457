"""Everything ``emolens video --out DIR`` writes, fed one analysed frame at a time (:class:`VideoOutputWriter`).

``frames.csv`` / ``frames.parquet`` (:mod:`emolens.io.frames`, columns declared in :mod:`emolens.types.records`),
``tracks.json`` (:mod:`emolens.video.outputs.summary`), ``timeline_track_<id>.png``
(:mod:`emolens.video.outputs.timeline`), ``annotated.mp4`` (:mod:`emolens.video.outputs.annotated`),
``summary.html`` / ``summary.png`` (:mod:`emolens.video.outputs.report`) and, with attention, ``thumbs/track_<id>.jpg``
(each track's largest face view, for ``emolens report``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError, MissingExtraError
from emolens.io.frames import TABLE_FORMATS, FrameTableWriter
from emolens.types import FrameResult
from emolens.video.outputs.annotated import AnnotatedVideoWriter
from emolens.video.outputs.report import write_summary_html, write_summary_png
from emolens.video.outputs.summary import TrackSummary

__all__ = ["VideoOutputWriter"]


class VideoOutputWriter:
    """Everything ``emolens video --out DIR`` writes, fed one analysed frame at a time.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder (created if missing).
    labels : sequence of str
        The emotion labels (``run.labels``).
    source : str, optional
        The video's name, for the summary.
    tables : sequence of str, default ("csv", "parquet")
        Table formats to write (``frames.csv``, ``frames.parquet``).
    plots : bool, default True
        Write ``timeline_track_<id>.png`` for each track on close (needs matplotlib).
    annotate_fps : float, optional
        Write ``annotated.mp4`` at this frame rate (``None``: no annotated video).
    blur_unknown : bool, default False
        Pixelate unrecognised faces in ``annotated.mp4``.
    landmarks : bool, default True
        Landmark dots in ``annotated.mp4``.
    label_size : float, optional
        Tag text height in pixels in ``annotated.mp4`` (default: scaled with the frame).
    summary : bool, default True
        Write the per-video summary sheet on close: ``summary.html`` (self-contained) and, with ``plots``,
        ``summary.png`` (:mod:`emolens.video.outputs.report`). Thumbnails need the frames passed to :meth:`write`.
    codec : str, optional
        ``annotated.mp4``'s codec (:class:`AnnotatedVideoWriter`); default H.264 when PyAV is installed.
    attention : bool, default False
        Add the attention columns, and keep each track's largest face view for ``thumbs/track_<id>.jpg``
        (when :meth:`write` gets the frames).

    Raises
    ------
    MissingExtraError
        Parquet was asked for without pyarrow, or plots without matplotlib.
    """

    def __init__(
        self,
        out_dir: str | Path,
        labels: Sequence[str],
        *,
        source: str | None = None,
        tables: Sequence[str] = TABLE_FORMATS,
        plots: bool = True,
        annotate_fps: float | None = None,
        blur_unknown: bool = False,
        landmarks: bool = True,
        label_size: float | None = None,
        summary: bool = True,
        codec: str | None = None,
        attention: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.attention = attention
        self._thumbs: dict[int, tuple[float, np.ndarray]] = {}
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the output folder: {e.strerror or e}", str(out_dir)) from None
        if plots:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise MissingExtraError("matplotlib", "plot") from None
        self.plots = plots
        self.summary_sheet = summary
        self.summary = TrackSummary(labels, source)
        self.tables: list[FrameTableWriter] = []
        self.annotated: AnnotatedVideoWriter | None = None
        self.files: list[Path] = []
        try:
            for fmt in tables:
                self.tables.append(FrameTableWriter(self.out_dir / f"frames.{fmt}", labels, fmt, attention=attention))
                self.files.append(self.out_dir / f"frames.{fmt}")
            if annotate_fps is not None:
                self.annotated = AnnotatedVideoWriter(
                    self.out_dir / "annotated.mp4",
                    annotate_fps,
                    blur_unknown,
                    codec,
                    landmarks=landmarks,
                    label_size=label_size,
                )
        except BaseException:
            self._close_writers()
            raise
        self._closed = False

    def write(self, result: FrameResult, rgb: np.ndarray | None = None) -> None:
        """Add one analysed frame (``rgb`` is needed when writing the annotated video)."""
        for t in self.tables:
            t.write(result)
        self.summary.update(result, rgb)
        if self.attention and rgb is not None:
            self._keep_thumbs(result, rgb)
        if self.annotated is not None:
            if rgb is None:
                raise ConfigError("the annotated video needs the frames: use analyze_video(..., with_frames=True)")
            self.annotated.write(result, rgb)

    def close(self, **extra: Any) -> list[Path]:
        """Finish the tables and the video, then write ``tracks.json`` (with ``extra`` facts) and the plots.

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        if self._closed:
            return self.files
        self._closed = True
        self._close_writers()
        if self.annotated is not None and self.annotated.frames_written:
            self.files.append(self.annotated.path)
        self.files += self._write_thumbs()
        path = self.out_dir / "tracks.json"
        self.summary.write_json(path, **extra)
        self.files.append(path)
        if self.plots:
            for tid in self.summary.track_ids:
                png = self.out_dir / f"timeline_track_{tid}.png"
                self.summary.plot(tid, png)
                self.files.append(png)
        if self.summary_sheet:
            facts = {k: v for k, v in extra.items() if k in ("fps", "detector", "model", "complete", "error")}
            html = self.out_dir / "summary.html"
            write_summary_html(self.summary, html, **facts)
            self.files.append(html)
            if self.plots:
                png = self.out_dir / "summary.png"
                write_summary_png(self.summary, png)
                self.files.append(png)
        return self.files

    def _keep_thumbs(self, result: FrameResult, rgb: np.ndarray) -> None:
        """Keep, per track, the crop of its largest frontal-enough view (one small image per track)."""
        h, w = rgb.shape[:2]
        for face in result.faces:
            if face.track_id is None:
                continue
            frontal = 1.0
            if face.pose is not None and math.isfinite(face.pose.yaw):
                frontal = max(0.1, math.cos(math.radians(min(abs(face.pose.yaw), 80))))
            score = face.box.area * frontal
            best = self._thumbs.get(face.track_id)
            if best is not None and best[0] >= score:
                continue
            b = face.box
            m = 0.25 * b.size
            x1, y1 = max(0, int(b.x1 - m)), max(0, int(b.y1 - m))
            x2, y2 = min(w, int(b.x2 + m)), min(h, int(b.y2 + m))
            if x2 - x1 < 4 or y2 - y1 < 4:
                continue
            import cv2

            crop = rgb[y1:y2, x1:x2]
            s = 160 / max(crop.shape[:2])
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))))
            self._thumbs[face.track_id] = (score, crop)

    def _write_thumbs(self) -> list[Path]:
        if not self._thumbs:
            return []
        import cv2

        folder = self.out_dir / "thumbs"
        folder.mkdir(exist_ok=True)
        files = []
        for tid, (_, crop) in sorted(self._thumbs.items()):
            path = folder / f"track_{tid}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            files.append(path)
        return files

    def _close_writers(self) -> None:
        for t in self.tables:
            t.close()
        if self.annotated is not None:
            self.annotated.close()
