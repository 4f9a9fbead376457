"""The identity + emotion event log.

While images or a video are analysed with a gallery, an :class:`EventLogger` appends rows (time, source,
frame, track, identity, emotion, scores) to the gallery database: one row per face for still images, and one
row per track every ``interval_s`` seconds of video (a row per face per frame would be 25 rows a second for
each person, with nothing more in them). Every analysed frame also goes through the
:class:`~emolens.events.AlertEngine` when one is given.
"""

from __future__ import annotations

import time
from typing import Any

from emolens.events.engine import Alert, AlertEngine
from emolens.events.rules import shown
from emolens.identity.gallery import UNKNOWN
from emolens.identity.store import GalleryStore
from emolens.types import Face, FrameResult, ImageResult


class EventLogger:
    """Writes analysis results to the event log and runs the alert rules on them.

    Parameters
    ----------
    store:
        The gallery's store.
    interval_s:
        For video: at most one event row per track per this many seconds of video (0: every analysed frame).
    engine:
        An :class:`AlertEngine`; optional.
    flush_rows:
        Rows buffered before they are written in one transaction (also written on :meth:`close`).
    flush_s:
        For live sources: also write the buffer once its oldest row has waited this many seconds, so that readers
        of the log see events within about that delay.
    """

    def __init__(
        self,
        store: GalleryStore,
        *,
        interval_s: float = 1.0,
        engine: AlertEngine | None = None,
        flush_rows: int = 200,
        flush_s: float | None = None,
    ) -> None:
        self.store = store
        self.flush_s = flush_s
        self._buffered_since = 0.0
        self.interval_s = interval_s
        self.engine = engine
        self.flush_rows = flush_rows
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._last: dict[tuple[str, int], float] = {}

    def log_image(self, result: ImageResult) -> list[Alert]:
        """One event per face of a still image; alerts only from rules with ``min_seconds`` 0."""
        now = time.time()
        alerts = []
        for face in result.faces:
            self._buffer.append(_row(now, result.source, None, None, face))
            if self.engine is not None:
                alerts += self.engine.update(result.source, 0.0, face)
        self._maybe_flush()
        return alerts

    def log_frame(self, source: str, frame: FrameResult) -> list[Alert]:
        """Events for a video frame (rate-limited per track) and its alerts."""
        now = time.time()
        t = frame.timestamp
        alerts = []
        for face in frame.faces:
            key = (source, face.track_id if face.track_id is not None else -1)
            last = self._last.get(key)
            if last is None or t - last >= self.interval_s or t < last:
                self._last[key] = t
                self._buffer.append(_row(now, source, frame.index, t, face))
            if self.engine is not None:
                alerts += self.engine.update(source, t, face)
        self._maybe_flush()
        return alerts

    def _maybe_flush(self) -> None:
        if not self._buffer:
            return
        now = time.monotonic()
        if not self._buffered_since:
            self._buffered_since = now
        late = self.flush_s is not None and now - self._buffered_since >= self.flush_s
        if len(self._buffer) >= self.flush_rows or late:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.rows_written += self.store.add_events(self._buffer)
            self._buffer = []
        self._buffered_since = 0.0

    def close(self) -> None:
        self.flush()
        if self.engine is not None:
            self.engine.close()


def _row(now: float, source: str, frame: int | None, t: float | None, face: Face) -> dict[str, Any]:
    scores, label = shown(face)
    return {
        "time": now,
        "source": source,
        "frame": frame,
        "video_time": t,
        "track": face.track_id,
        "identity": face.identity or UNKNOWN,
        "identity_score": face.identity_score,
        "emotion": label,
        "emotion_score": scores[label],
        "scores": scores.to_dict(),
        "attention": _attention(face),
    }


def _attention(face: Face) -> dict[str, Any] | None:
    """Head pose, eyes, mouth and attention of a face (``emolens.attention``) for the event log, or None."""
    if face.attention is None and face.pose is None:
        return None
    out: dict[str, Any] = {}
    for key in ("pose", "eyes", "mouth", "attention"):
        value = getattr(face, key)
        if value is not None:
            out[key] = value.to_dict()
    return out
