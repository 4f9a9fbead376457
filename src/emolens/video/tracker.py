"""Face tracking across frames: IoU association with a constant-velocity Kalman filter, ByteTrack-style.

Why our own tracker: the maintained Python trackers on PyPI either pull heavy packages (``trackers`` needs the
non-headless ``opencv-python``, supervision and matplotlib; ``boxmot`` needs torch) or are unmaintained
(``sort-tracker``, ``motpy``). Faces per frame are few, so a small NumPy tracker is enough; the assignment itself is
SciPy's ``linear_sum_assignment`` (exact, in C) rather than a hand-written Hungarian solver. (To hand emolens
faces to supervision's tools, see :mod:`emolens.interop`.)

The algorithm, per frame (after Zhang et al., "ByteTrack", ECCV 2022):

1. Every track predicts its box with its Kalman filter (state: centre, aspect ratio, height and their
   velocities; the noise model of DeepSORT/ByteTrack, scaled by the box height).
2. High-score detections (``score >= high_score``) are matched to confirmed tracks, tracked and lost alike, by
   the optimal assignment on IoU (pairs under ``match_iou`` are not matched). A lost track is compared with
   both its predicted box and its last seen box, so a face that stood still while hidden is found again even
   if the velocity estimate has drifted.
3. Low-score detections (``low_score <= score < high_score``) are matched, with the stricter ``low_match_iou``,
   to the confirmed tracks that were seen in the previous frame and are still unmatched: a face that blurs or
   turns keeps its track, but a low score never starts or revives one.
4. Tentative tracks are matched to the remaining high-score detections; a tentative track that misses a
   frame is dropped.
5. A confirmed track that is not matched becomes lost; it is removed once it has missed more than ``max_age``
   frames in a row, so gaps of up to ``max_age`` frames are bridged.
6. Each remaining detection with ``score >= new_track_score`` starts a tentative track. A track is confirmed
   (and gets its id) after ``min_hits`` matched frames in a row; tracks started on the tracker's very first
   frame are confirmed at once, so a video does not lose its first frames.

Ids are positive integers, given in order of confirmation and never reused within a tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from emolens.errors import ConfigError
from emolens.types import Box, Detection

__all__ = ["KalmanBoxFilter", "TrackedDetection", "Tracker", "TrackerConfig", "iou_matrix", "linear_assignment"]


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings; frame counts are in analysed frames.

    Attributes
    ----------
    high_score : float, default 0.5
        Detections at or above this score are "high": they are matched first and may start tracks.
    low_score : float, default 0.3
        Detections below this are ignored; those between ``low_score`` and ``high_score`` only extend tracks
        seen in the previous frame. The video pipeline runs the detector at this threshold.
    new_track_score : float, default 0.5
        Lowest score of a detection that starts a new track.
    match_iou : float, default 0.2
        Lowest IoU for matching a high-score detection to a confirmed track.
    low_match_iou : float, default 0.5
        Lowest IoU for matching a low-score detection.
    tentative_match_iou : float, default 0.3
        Lowest IoU for matching a detection to a tentative track.
    max_age : int, default 30
        A track survives up to this many frames in a row without a detection.
    min_hits : int, default 3
        Matched frames in a row before a new track is confirmed and reported.
    """

    high_score: float = 0.5
    low_score: float = 0.3
    new_track_score: float = 0.5
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    tentative_match_iou: float = 0.3
    max_age: int = 30
    min_hits: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("max_age", "min_hits"):
                if isinstance(v, bool) or not isinstance(v, int) or v < (1 if f.name == "min_hits" else 0):
                    raise ConfigError(f"tracker option {f.name} must be an integer >= {int(f.name == 'min_hits')}")
            elif isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"tracker option {f.name} must be a number in [0, 1], got {v!r}")
        if self.low_score > self.high_score:
            raise ConfigError(f"tracker low_score ({self.low_score}) is above high_score ({self.high_score})")

    @classmethod
    def from_options(cls, options: TrackerConfig | dict[str, Any] | None) -> TrackerConfig:
        """A config from ``None`` (defaults), a config, or a dict of field overrides (unknown keys raise)."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if not isinstance(options, dict):
            raise ConfigError(f"tracking options must be a dict or TrackerConfig, got {type(options).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown tracker option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**options)


@dataclass(frozen=True)
class TrackedDetection:
    """A detection of the current frame assigned to a confirmed track."""

    track_id: int
    detection: Detection
    hits: int


# ------------------------------------------------------------------------------------------------ Kalman filter


class KalmanBoxFilter:
    """Constant-velocity Kalman filter on ``(cx, cy, aspect, height)`` with height-scaled noise (DeepSORT)."""

    _POS = 1.0 / 20
    _VEL = 1.0 / 160

    def __init__(self, box: Box) -> None:
        z = _xyah(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        pos, vel = 2 * self._POS * h, 10 * self._VEL * h
        std = np.array([pos, pos, 1e-2, pos, vel, vel, 1e-5, vel])
        self.cov = np.diag(std**2)

    _F = np.eye(8) + np.eye(8, k=4)
    _H = np.eye(4, 8)

    def predict(self) -> None:
        h = self.mean[3]
        std = np.array(
            [self._POS * h, self._POS * h, 1e-2, self._POS * h, self._VEL * h, self._VEL * h, 1e-5, self._VEL * h]
        )
        self.mean = self._F @ self.mean
        self.cov = self._F @ self.cov @ self._F.T + np.diag(std**2)

    def update(self, box: Box) -> None:
        h = self.mean[3]
        r = np.diag(np.array([self._POS * h, self._POS * h, 1e-1, self._POS * h]) ** 2)
        s = self._H @ self.cov @ self._H.T + r
        k = np.linalg.solve(s, self._H @ self.cov).T  # cov H^T S^-1 (S and cov symmetric)
        self.mean = self.mean + k @ (_xyah(box) - self._H @ self.mean)
        self.cov = self.cov - k @ s @ k.T

    def box(self) -> Box:
        cx, cy, a, h = self.mean[:4]
        h = max(float(h), 1e-3)
        w = max(float(a), 1e-3) * h
        return Box(float(cx) - w / 2, float(cy) - h / 2, float(cx) + w / 2, float(cy) + h / 2)


def _xyah(box: Box) -> np.ndarray:
    h = max(box.height, 1e-3)
    return np.array([(box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, max(box.width, 1e-3) / h, h], dtype=np.float64)


# ------------------------------------------------------------------------------------------------- assignment


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b``, ``[len(a), len(b)]``."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    pa = np.array([[x.x1, x.y1, x.x2, x.y2] for x in a], dtype=np.float64)
    pb = np.array([[x.x1, x.y1, x.x2, x.y2] for x in b], dtype=np.float64)
    iw = np.clip(np.minimum(pa[:, None, 2], pb[None, :, 2]) - np.maximum(pa[:, None, 0], pb[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(pa[:, None, 3], pb[None, :, 3]) - np.maximum(pa[:, None, 1], pb[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (pa[:, 2] - pa[:, 0]) * (pa[:, 3] - pa[:, 1])
    area_b = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def linear_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """The minimum-cost assignment of rows to columns (SciPy's ``linear_sum_assignment``).

    Parameters
    ----------
    cost : numpy.ndarray
        ``[n, m]`` finite costs.

    Returns
    -------
    list of (int, int)
        ``min(n, m)`` pairs ``(row, column)``, each row and each column at most once, sorted by row.
    """
    from scipy.optimize import linear_sum_assignment

    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError("cost must be a 2-D array")
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def _match(iou: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal IoU matching; pairs under ``threshold`` are left unmatched. Returns matches, free rows, free cols."""
    n, m = iou.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    big = 1e6  # an invalid pair costs more than any set of valid ones, so valid pairs are maximised first
    cost = np.where(iou >= threshold, 1.0 - iou, big)
    pairs = [(r, c) for r, c in linear_assignment(cost) if iou[r, c] >= threshold]
    rows, cols = {r for r, _ in pairs}, {c for _, c in pairs}
    return pairs, [r for r in range(n) if r not in rows], [c for c in range(m) if c not in cols]


# ----------------------------------------------------------------------------------------------------- tracker


class _Track:
    __slots__ = ("confirmed", "filter", "hits", "last_box", "misses", "track_id")

    def __init__(self, det: Detection) -> None:
        self.filter = KalmanBoxFilter(det.box)
        self.last_box = det.box
        self.hits = 1
        self.misses = 0  # frames in a row without a match
        self.confirmed = False
        self.track_id = 0


class Tracker:
    """Assigns stable ids to face detections across frames; see the module docstring for the algorithm.

    Parameters
    ----------
    config : TrackerConfig or dict, optional
        Settings, or a dict of overrides of the defaults.

    Examples
    --------
    >>> tracker = Tracker({"min_hits": 1})
    >>> for detections in per_frame_detections:  # doctest: +SKIP
    ...     for t in tracker.update(detections):
    ...         print(t.track_id, t.detection.box)
    """

    def __init__(self, config: TrackerConfig | dict[str, Any] | None = None) -> None:
        self.config = TrackerConfig.from_options(config)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frames = 0
        self.removed_ids: list[int] = []

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks still alive (seen, or lost for at most ``max_age`` frames)."""
        return [t.track_id for t in self._tracks if t.confirmed]

    @property
    def live_boxes(self) -> list[Box]:
        """Where the faces of the last frame are: the boxes of the tracks matched in it, tentative ones included
        (where a region detector looks in the next frame)."""
        return [t.last_box for t in self._tracks if t.misses == 0]

    @property
    def has_lost(self) -> bool:
        """Whether a confirmed track went unmatched in the last frame(s) and is still kept (for ``max_age``)."""
        return any(t.confirmed and t.misses > 0 for t in self._tracks)

    @property
    def ids_assigned(self) -> int:
        """How many track ids have been given so far."""
        return self._next_id - 1

    def update(self, detections: Sequence[Detection]) -> list[TrackedDetection]:
        """Advance one frame.

        Parameters
        ----------
        detections : sequence of Detection
            This frame's detections (any order, any score; those under ``low_score`` are ignored).

        Returns
        -------
        list of TrackedDetection
            The detections assigned to confirmed tracks in this frame, in the order of ``detections``.
            ``removed_ids`` then lists the ids of the tracks removed in this update.
        """
        cfg = self.config
        first_frame = self._frames == 0
        self._frames += 1
        self.removed_ids = []
        for t in self._tracks:
            t.filter.predict()
        dets = list(detections)
        high = [i for i, d in enumerate(dets) if d.score >= cfg.high_score]
        low = [i for i, d in enumerate(dets) if cfg.low_score <= d.score < cfg.high_score]
        confirmed = [t for t in self._tracks if t.confirmed]
        tentative = [t for t in self._tracks if not t.confirmed]
        assigned: dict[int, _Track] = {}  # detection index -> track

        # 1. high-score detections with confirmed tracks (lost ones also by their last seen box)
        iou = iou_matrix([t.filter.box() for t in confirmed], [dets[i].box for i in high])
        if confirmed and high:
            lost = np.array([t.misses > 0 for t in confirmed])
            if lost.any():
                iou_last = iou_matrix([t.last_box for t in confirmed], [dets[i].box for i in high])
                iou = np.where(lost[:, None], np.maximum(iou, iou_last), iou)
        pairs, free_tracks, free_high = _match(iou, cfg.match_iou)
        for r, c in pairs:
            assigned[high[c]] = confirmed[r]
        # 2. low-score detections with tracks seen in the previous frame
        recent = [confirmed[r] for r in free_tracks if confirmed[r].misses == 0]
        pairs, _, _ = _match(
            iou_matrix([t.filter.box() for t in recent], [dets[i].box for i in low]), cfg.low_match_iou
        )
        for r, c in pairs:
            assigned[low[c]] = recent[r]
        # 3. remaining high-score detections with tentative tracks
        rest = [high[c] for c in free_high]
        pairs, _, free_rest = _match(
            iou_matrix([t.filter.box() for t in tentative], [dets[i].box for i in rest]), cfg.tentative_match_iou
        )
        for r, c in pairs:
            assigned[rest[c]] = tentative[r]

        matched = set()
        for i, t in assigned.items():
            matched.add(id(t))
            t.filter.update(dets[i].box)
            t.last_box = dets[i].box
            t.hits = t.hits + 1 if t.misses == 0 else 1
            t.misses = 0
            if not t.confirmed and t.hits >= cfg.min_hits:
                self._confirm(t)
        # 4./5. unmatched tracks: tentative ones die, confirmed ones age
        alive = []
        for t in self._tracks:
            if id(t) not in matched:
                t.misses += 1
                if not t.confirmed or t.misses > cfg.max_age:
                    if t.confirmed:
                        self.removed_ids.append(t.track_id)
                    continue
            alive.append(t)
        # 6. new tracks
        for c in free_rest:
            i = rest[c]
            if dets[i].score >= cfg.new_track_score:
                t = _Track(dets[i])
                if first_frame or cfg.min_hits <= 1:
                    self._confirm(t)
                alive.append(t)
                assigned[i] = t
        self._tracks = alive
        return [TrackedDetection(t.track_id, dets[i], t.hits) for i, t in sorted(assigned.items()) if t.confirmed]

    def _confirm(self, t: _Track) -> None:
        t.confirmed = True
        t.track_id = self._next_id
        self._next_id += 1
