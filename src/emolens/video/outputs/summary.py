"""The per-track summary of a video run (``tracks.json``), built frame by frame in constant memory per track.

:class:`TrackSummary`: per track the first and last frame and time it was seen, the frames seen, the dominant
emotion and the share of frames in each emotion (smoothed labels), the mean smoothed probabilities, the mean
valence (probabilities weighted by :data:`emolens.labels.VALENCE`, from -1 to 1) and the label changes per
minute, raw and smoothed; with the frames, each track's best face as a thumbnail. Each track's timeline keeps at
most ``max_points`` points (older points are merged in pairs when it is full).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError
from emolens.labels import VALENCE
from emolens.types import Face, FrameResult
from emolens.video.outputs.timeline import plot_timeline
from emolens.video.smoothing import UNCERTAIN

__all__ = ["THUMBNAIL_SIZE", "TrackSummary", "face_thumbnail", "thumbnail_quality"]


@dataclass
class _Series:
    """A bounded time series: when full, neighbouring points are merged in pairs (means), halving it."""

    max_points: int
    times: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    def add(self, t: float, p: np.ndarray) -> None:
        self.times.append(t)
        self.probs.append(p)
        self.weights.append(1)
        if len(self.times) > self.max_points:
            self._halve()

    def _halve(self) -> None:
        times, probs, weights = [], [], []
        for i in range(0, len(self.times) - 1, 2):
            w0, w1 = self.weights[i], self.weights[i + 1]
            w = w0 + w1
            times.append((self.times[i] * w0 + self.times[i + 1] * w1) / w)
            probs.append((self.probs[i] * w0 + self.probs[i + 1] * w1) / w)
            weights.append(w)
        if len(self.times) % 2:
            times.append(self.times[-1])
            probs.append(self.probs[-1])
            weights.append(self.weights[-1])
        self.times, self.probs, self.weights = times, probs, weights


@dataclass
class _TrackStats:
    first_frame: int
    first_seen: float
    last_frame: int = 0
    last_seen: float = 0.0
    frames: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    raw_counts: dict[str, int] = field(default_factory=dict)
    prob_sum: np.ndarray | None = None
    valence_sum: float = 0.0
    changes: int = 0
    raw_changes: int = 0
    last_label: str | None = None
    last_raw: str | None = None
    series: _Series | None = None
    identity: str | None = None
    thumb: np.ndarray | None = None
    thumb_quality: float = -1.0
    thumb_frame: int | None = None


class TrackSummary:
    """Accumulates per-track statistics frame by frame (constant memory per track); see the module docstring.

    Parameters
    ----------
    labels : sequence of str
        The emotion labels.
    source : str, optional
        The video's name, written in the summary.
    max_points : int, default 2000
        Most points kept per track for :meth:`plot`.
    """

    def __init__(self, labels: Sequence[str], source: str | None = None, max_points: int = 2000) -> None:
        self.labels = tuple(labels)
        self.source = source
        self.max_points = max_points
        self.frames_analysed = 0
        self.frames_with_faces = 0
        self.first_timestamp: float | None = None
        self.last_timestamp = 0.0
        self._valence = np.array([VALENCE.get(label, 0.0) for label in self.labels])
        self._tracks: dict[int, _TrackStats] = {}

    def update(self, result: FrameResult, rgb: np.ndarray | None = None) -> None:
        """Add one analysed frame; with its pixels (``rgb``), each track keeps a thumbnail of its best face."""
        self.frames_analysed += 1
        self.frames_with_faces += bool(result.faces)
        if self.first_timestamp is None:
            self.first_timestamp = result.timestamp
        self.last_timestamp = result.timestamp
        for face in result.faces:
            if face.track_id is None:
                continue
            st = self._tracks.get(face.track_id)
            if st is None:
                st = self._tracks[face.track_id] = _TrackStats(result.index, result.timestamp)
                st.series = _Series(self.max_points)
            scores = face.smoothed or face.emotions
            p = np.asarray(scores.probs, dtype=np.float64)
            label = face.smoothed_label or scores.top
            st.last_frame, st.last_seen = result.index, result.timestamp
            st.frames += 1
            st.counts[label] = st.counts.get(label, 0) + 1
            st.raw_counts[face.label] = st.raw_counts.get(face.label, 0) + 1
            st.prob_sum = p if st.prob_sum is None else st.prob_sum + p
            st.valence_sum += float(p @ self._valence) if len(p) == len(self._valence) else 0.0
            st.changes += st.last_label is not None and label != st.last_label
            st.raw_changes += st.last_raw is not None and face.label != st.last_raw
            st.last_label, st.last_raw = label, face.label
            assert st.series is not None
            st.series.add(result.timestamp, p)
            if face.identity is not None:
                st.identity = face.identity
            if rgb is not None:
                q = thumbnail_quality(face, result.width or rgb.shape[1], result.height or rgb.shape[0])
                if q > st.thumb_quality:
                    st.thumb, st.thumb_quality, st.thumb_frame = face_thumbnail(rgb, face), q, result.index

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    @property
    def frame_interval(self) -> float:
        """Mean seconds between analysed frames (0 with fewer than two)."""
        if self.first_timestamp is None or self.frames_analysed < 2:
            return 0.0
        return (self.last_timestamp - self.first_timestamp) / (self.frames_analysed - 1)

    def thumbnail(self, track_id: int) -> np.ndarray | None:
        """The track's best face (:func:`face_thumbnail`), or ``None`` when no frame pixels were given."""
        return self._tracks[track_id].thumb

    def series(self, track_id: int) -> tuple[list[float], np.ndarray]:
        """The track's timeline: times (s) and ``[n, len(labels)]`` smoothed probabilities (at most ``max_points``)."""
        st = self._tracks[track_id]
        assert st.series is not None
        return list(st.series.times), np.array(st.series.probs).reshape(len(st.series.times), len(self.labels))

    def track(self, track_id: int) -> dict[str, Any]:
        """The summary of one track (the objects in ``to_dict()["tracks"]``)."""
        st = self._tracks[track_id]
        n = st.frames
        share = {k: round(v / n, 4) for k, v in sorted(st.counts.items(), key=lambda kv: -kv[1])}
        emotional = {k: v for k, v in st.counts.items() if k != UNCERTAIN}
        dominant = max(emotional or st.counts, key=lambda k: (emotional or st.counts)[k])
        minutes = (st.last_seen - st.first_seen) / 60.0
        assert st.prob_sum is not None
        return {
            "track_id": track_id,
            "identity": st.identity,
            "first_frame": st.first_frame,
            "last_frame": st.last_frame,
            "first_seen_s": round(st.first_seen, 3),
            "last_seen_s": round(st.last_seen, 3),
            "frames": n,
            "dominant_emotion": dominant,
            "share": share,
            "share_raw": {k: round(v / n, 4) for k, v in sorted(st.raw_counts.items(), key=lambda kv: -kv[1])},
            "mean_probs": {k: round(float(v) / n, 4) for k, v in zip(self.labels, st.prob_sum, strict=False)},
            "mean_valence": round(st.valence_sum / n, 4),
            "label_changes": st.changes,
            "label_changes_raw": st.raw_changes,
            "label_changes_per_minute": round(st.changes / minutes, 2) if minutes > 0 else None,
            "label_changes_per_minute_raw": round(st.raw_changes / minutes, 2) if minutes > 0 else None,
            "seconds_on_screen": round(n * self.frame_interval, 3),
            "thumbnail_frame": st.thumb_frame,
        }

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        """The whole summary: run facts (plus ``extra``) and the list of tracks."""
        return {
            "source": self.source,
            "frames_analysed": self.frames_analysed,
            "frames_with_faces": self.frames_with_faces,
            "first_timestamp_s": None if self.first_timestamp is None else round(self.first_timestamp, 3),
            "last_timestamp_s": round(self.last_timestamp, 3),
            "labels": list(self.labels),
            **extra,
            "tracks": [self.track(t) for t in self.track_ids],
        }

    def write_json(self, path: str | Path, **extra: Any) -> None:
        """Write :meth:`to_dict` as JSON."""
        try:
            Path(path).write_text(json.dumps(self.to_dict(**extra), indent=2, ensure_ascii=False) + "\n")
        except OSError as e:
            raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None

    def plot(self, track_id: int, path: str | Path) -> None:
        """Write the timeline PNG of one track, with its best face when there is one (needs matplotlib)."""
        st = self._tracks[track_id]
        assert st.series is not None
        t = self.track(track_id)
        who = f" ({st.identity})" if st.identity else ""
        title = (
            f"track {track_id}{who}: mostly {t['dominant_emotion']}, "
            f"{t['seconds_on_screen']:.1f} s on screen ({t['first_seen_s']:.1f}-{t['last_seen_s']:.1f} s)"
        )
        plot_timeline(st.series.times, np.array(st.series.probs), self.labels, path, title=title, thumbnail=st.thumb)


#: Side of a track's thumbnail in pixels.
THUMBNAIL_SIZE = 112


def thumbnail_quality(face: Face, width: int, height: int) -> float:
    """How good a face is as its track's picture: detector score x size (up to the thumbnail's), halved when the
    box is cut by the frame's edge."""
    b = face.box
    inside = b.x1 >= 0 and b.y1 >= 0 and b.x2 <= width and b.y2 <= height
    return float(face.score) * min(1.0, b.size / THUMBNAIL_SIZE) * (1.0 if inside else 0.5)


def face_thumbnail(rgb: np.ndarray, face: Face, size: int = THUMBNAIL_SIZE, margin: float = 0.2) -> np.ndarray:
    """A square ``[size, size, 3]`` uint8 RGB crop around a face (its box plus ``margin`` each side; padding with
    black where that reaches outside the frame)."""
    import cv2

    b = face.box
    side = b.size * (1 + 2 * margin)
    cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    h, w = rgb.shape[:2]
    crop = np.zeros((s, s, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)
