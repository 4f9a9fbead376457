"""The face types: a box, landmarks, emotion scores, attention measures and the :class:`Face` that holds them.

Frozen dataclasses with ``to_dict()``; coordinates are pixels of the input image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box, corners ``(x1, y1)`` top-left and ``(x2, y2)`` bottom-right, in pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def size(self) -> float:
        """The side of the box: the larger of width and height."""
        return max(self.width, self.height)

    def iou(self, other: Box) -> float:
        iw = min(self.x2, other.x2) - max(self.x1, other.x1)
        ih = min(self.y2, other.y2) - max(self.y1, other.y1)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.width * self.height + other.width * other.height - inter)

    def to_list(self) -> list[float]:
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Landmarks:
    """Five facial points in pixels, in the order of ``LANDMARK_NAMES``.

    "left" and "right" are as seen in the image (the person's right eye is ``left_eye``).
    """

    points: tuple[tuple[float, float], ...]

    def as_array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float32)

    def to_list(self) -> list[list[float]]:
        return [[round(x, 1), round(y, 1)] for x, y in self.points]


@dataclass(frozen=True)
class PartialLandmarks(Landmarks):
    """Five-point landmarks from a backend that does not locate all five points (BlazeFace).

    ``points`` keeps the five slots of ``emolens.types.LANDMARK_NAMES``; a slot the backend does not
    measure holds ``(nan, nan)``, and ``to_list()`` writes it as ``[None, None]``. Nothing is invented:
    BlazeFace gives the mouth centre, not its corners, so ``mouth_left`` and ``mouth_right`` are NaN and
    the centre is in ``mouth_center``. :func:`landmark_correspondences` pairs the located points with
    a five-point template (the mouth centre with the midpoint of the template's mouth corners).
    """

    mouth_center: tuple[float, float] | None = None

    @property
    def measured(self) -> tuple[bool, ...]:
        """For each of the five slots, whether the backend located that point."""
        return tuple(math.isfinite(x) and math.isfinite(y) for x, y in self.points)

    def available(self) -> dict[str, tuple[float, float]]:
        """The located points by name: the measured slots, plus ``mouth_center`` when there is one."""
        out = {n: p for n, p, ok in zip(LANDMARK_NAMES, self.points, self.measured, strict=True) if ok}
        if self.mouth_center is not None:
            out["mouth_center"] = self.mouth_center
        return out

    def to_list(self) -> list[list[float | None]]:  # type: ignore[override]
        return [
            [round(x, 1), round(y, 1)] if ok else [None, None]
            for (x, y), ok in zip(self.points, self.measured, strict=True)
        ]


@dataclass(frozen=True)
class Detection:
    """What a detector returns for one face."""

    box: Box
    score: float
    landmarks: Landmarks | None = None


@dataclass(frozen=True)
class EmotionScores:
    """Probabilities over a label set (they sum to 1), in the order of ``labels``; ``top`` is the most likely
    label and ``scores["happy"]`` one label's probability."""

    labels: tuple[str, ...]
    probs: tuple[float, ...]

    @property
    def top(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(max(self.probs))

    def __getitem__(self, label: str) -> float:
        return self.probs[self.labels.index(label)]

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in zip(self.labels, self.probs, strict=True)}


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


@dataclass(frozen=True)
class HeadPose:
    """Head orientation in degrees (AFLW2000-3D convention): ``yaw`` > 0 turned towards the image left,
    ``pitch`` > 0 looking up, ``roll`` the tilt in the image plane."""

    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict[str, Any]:
        return {"yaw": _r(self.yaw, 1), "pitch": _r(self.pitch, 1), "roll": _r(self.roll, 1)}


@dataclass(frozen=True)
class EyeState:
    """Eye openness (eye aspect ratio on the iris model's contour: about 0.48 open, 0.3 shut) of the eye on the
    image left and right,
    whether they are ``closed`` (mean under the threshold), the eye-in-head gaze in degrees where the irises were
    located, and, in video, ``blink``: a blink ended at this frame."""

    left: float
    right: float
    closed: bool
    gaze_yaw: float | None = None
    gaze_pitch: float | None = None
    blink: bool = False

    @property
    def openness(self) -> float:
        return (self.left + self.right) / 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"left": _r(self.left, 3), "right": _r(self.right, 3), "closed": self.closed}
        d["gaze_yaw"], d["gaze_pitch"] = _r(self.gaze_yaw, 1), _r(self.gaze_pitch, 1)
        if self.blink:
            d["blink"] = True
        return d


@dataclass(frozen=True)
class MouthState:
    """Mouth ``opening`` (inner-lip gap over face height), whether it is a yawn (in video: held long enough), and
    the yawn classifier's ``yawn_score`` (0-1; ``None`` without the iris model)."""

    opening: float
    yawn: bool
    yawn_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"opening": _r(self.opening, 3), "yawn": self.yawn, "yawn_score": _r(self.yawn_score, 3)}


@dataclass(frozen=True)
class AttentionState:
    """Whether the face attends to the target: head (plus gaze, where known) within ``cone`` degrees of it.

    ``off_target`` is the angle in degrees between where the face looks and the target (``target_yaw``,
    ``target_pitch``). In video the running per-track measures are set too: ``focus_s`` (length of the current
    focus spell, 0 when not attending), ``perclos`` (share of the last minute with the eyes closed),
    ``blink_rate`` (blinks per minute over the last minute) and ``spell_start`` (video time at which the current
    focus spell began: rows with the same value belong to one spell, so the event log holds each spell's start,
    end and duration).
    """

    attending: bool
    off_target: float
    cone: float
    target_yaw: float = 0.0
    target_pitch: float = 0.0
    focus_s: float | None = None
    perclos: float | None = None
    blink_rate: float | None = None
    spell_start: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"attending": self.attending, "off_target": _r(self.off_target, 1), "cone": self.cone}
        for k in ("focus_s", "perclos", "blink_rate", "spell_start"):
            v = getattr(self, k)
            if v is not None:
                d[k] = _r(v, 3)
        return d


@dataclass(frozen=True)
class Face:
    """One face in an image: where it is and how the person feels.

    In video results (:class:`FrameResult`) a face also carries its ``track_id`` (stable across frames, never
    reused within one run), its temporally ``smoothed`` probabilities and the ``smoothed_label`` chosen from
    them (which may be ``"uncertain"`` under a confidence threshold, or the kept label under hysteresis).
    These three are ``None`` for still images.

    With attention analysis (``emolens.attention``) a face also carries its head ``pose``, ``eyes``, ``mouth``
    and ``attention`` state; otherwise they are ``None``.
    """

    index: int
    box: Box
    score: float
    landmarks: Landmarks | None
    emotions: EmotionScores
    # with a gallery
    identity: str | None = None
    identity_score: float | None = None
    # in video results
    track_id: int | None = None
    smoothed: EmotionScores | None = None
    smoothed_label: str | None = None
    # with attention analysis
    pose: HeadPose | None = None
    eyes: EyeState | None = None
    mouth: MouthState | None = None
    attention: AttentionState | None = None

    @property
    def label(self) -> str:
        return self.emotions.top

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "face": self.index,
            "box": self.box.to_list(),
            "score": round(self.score, 4),
            "landmarks": self.landmarks.to_list() if self.landmarks else None,
            "emotions": self.emotions.to_dict(),
            "label": self.label,
        }
        if self.identity is not None:
            d["identity"] = self.identity
            d["identity_score"] = None if self.identity_score is None else round(self.identity_score, 4)
        if self.track_id is not None:
            d["track_id"] = self.track_id
            d["smoothed"] = self.smoothed.to_dict() if self.smoothed is not None else None
            d["smoothed_label"] = self.smoothed_label
        for key in ("pose", "eyes", "mouth", "attention"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value.to_dict()
        return d
