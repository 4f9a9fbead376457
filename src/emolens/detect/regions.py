"""Detection in video where the faces are: the whole frame now and then, only around the tracked faces between.

A face moves little from one frame to the next, so a video needs the whole frame searched only to find faces that
are new. :class:`RegionDetector` runs its detector on the whole frame every ``full_every`` frames and, in the
frames between, only on a square around each face of the previous frame, a face larger than ``face_px`` shrunk to
about that size there (never finer than the whole-frame search sees it): the three faces of ``stage_three.mp4``
(640x480) take under a quarter of the frame's pixels, and a face that fills the frame is searched at a fraction of
its size. It goes back to the whole frame at once when a face is not found again in its square, when the shrunk
squares would cost more than ``max_share`` of the whole-frame search, when there are more than ``max_regions``
faces, or when the frames are more than ``max_gap_s`` of video time apart (sparse sampling, dropped live frames),
so a lost face or a crowd costs nothing in recall. Backends with a fixed input size (BlazeFace) always search the
whole frame. MediaPipe's face pipelines skip their detector in the same way, tracking from the previous frame's
landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from emolens.detect.base import Detector
from emolens.detect.common import check_fraction, check_int
from emolens.errors import ConfigError
from emolens.types import Box, Detection


@dataclass(frozen=True)
class Region:
    """A square of the frame searched for one face: corners in frame pixels, and the scale it is shrunk by."""

    x1: int
    y1: int
    x2: int
    y2: int
    scale: float  # frame pixels per pixel of the searched crop (>= 1)


def region_around(box: Box, width: int, height: int, context: float, face_px: float, min_scale: float = 1.0) -> Region:
    """The square ``context`` times the face's side around ``box``'s centre, clipped to the frame, and how much
    it is shrunk so that the face is about ``face_px`` pixels (never enlarged; at least ``min_scale``, the shrink
    of the whole-frame search, so a face is never searched finer than there)."""
    half = context * box.size / 2
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
    x2, y2 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    return Region(x1, y1, x2, y2, max(1.0, min_scale, box.size / face_px))


def _to_frame(d: Detection, r: Region) -> Detection:
    """A detection in a region's crop, in frame pixels."""

    def point(x: float, y: float) -> tuple[float, float]:
        return (x * r.scale + r.x1, y * r.scale + r.y1)

    b = d.box
    (x1, y1), (x2, y2) = point(b.x1, b.y1), point(b.x2, b.y2)
    marks = d.landmarks
    if marks is not None:  # the five points (a NaN one stays NaN), and BlazeFace's mouth centre
        centre = getattr(marks, "mouth_center", None)
        extra = {} if centre is None else {"mouth_center": point(*centre)}
        marks = replace(marks, points=tuple(point(x, y) for x, y in marks.points), **extra)
    return Detection(Box(x1, y1, x2, y2), d.score, marks)


def _cut(b: Box, r: Region, width: int, height: int, margin: float = 2.0) -> bool:
    """Whether ``b`` touches an edge of the region that is not an edge of the frame: a face cut by the crop."""
    return (
        (r.x1 > 0 and b.x1 <= r.x1 + margin)
        or (r.y1 > 0 and b.y1 <= r.y1 + margin)
        or (r.x2 < width and b.x2 >= r.x2 - margin)
        or (r.y2 < height and b.y2 >= r.y2 - margin)
    )


class RegionDetector:
    """A :class:`~emolens.detect.Detector` for video that searches the whole frame every ``full_every`` frames
    and, between, only around the boxes it is given (``near``: where the tracked faces were in the last frame).

    Parameters
    ----------
    detector
        The detector that does the work (its score threshold, NMS and ``min_face`` apply in each square).
    full_every
        Frames from one whole-frame search to the next (1: every frame is searched whole).
    context
        Side of each square around a face, in face sides.
    face_px
        A larger face is searched in its square shrunk to about this size.
    max_regions
        More faces than this: the whole frame is searched.
    max_share
        Squares that, once shrunk, hold more than this share of the pixels the whole-frame search takes (after the
        detector's own ``max_size`` shrink): the whole frame is searched.
    max_gap_s
        Frames further apart than this in video time (``t``): the whole frame is searched, since faces may have
        moved far or appeared.
    min_iou
        A face counts as found again when a face found in its square overlaps its last box by this much (IoU);
        else the whole frame is searched.
    """

    def __init__(
        self,
        detector: Detector,
        full_every: int = 5,
        *,
        context: float = 1.6,
        face_px: int = 192,
        max_regions: int = 4,
        max_share: float = 0.4,
        min_iou: float = 0.3,
        max_gap_s: float = 0.25,
    ) -> None:
        self.detector = detector
        self.name = detector.name
        self.full_every = check_int("full_every", full_every, 1)
        if not context >= 1.2:
            raise ConfigError(f"context must be at least 1.2 face sides, got {context}")
        self.context = float(context)
        self.face_px = check_int("face_px", face_px, 32)
        self.max_regions = check_int("max_regions", max_regions, 1)
        self.max_share = check_fraction("max_share", max_share)
        self.min_iou = check_fraction("min_iou", min_iou)
        self.max_gap_s = float(max_gap_s)
        self._last_t: float | None = None
        # A backend with a fixed input size (BlazeFace: 128 px) letterboxes any square to it and was seen to
        # lose faces there (stage_three.mp4: one of three tracks for 47 of 90 frames); it searches whole frames.
        self.resizable = bool(getattr(detector, "stride", 0))
        self._since_full = 0  # frames since the last whole-frame search (0: the next one is whole)
        #: frames searched whole and searched in squares so far
        self.full_frames = 0
        self.region_frames = 0

    def reset(self) -> None:
        """Search the next frame whole (e.g. a new pass of a looping source)."""
        self._since_full = 0

    def detect(self, image: np.ndarray, near: Sequence[Box] = (), t: float | None = None) -> list[Detection]:
        """Faces in ``image`` (RGB uint8), sorted by score: in the whole frame, or only around ``near`` (where the
        faces were in the frame before, ``t`` seconds of video time: the frame's own time, when known)."""
        gap = t is not None and self._last_t is not None and not 0 <= t - self._last_t <= self.max_gap_s
        self._last_t = t
        regions = None if gap else self._regions(image, near)
        if regions is not None:
            found = self._search(image, regions, near)
            if found is not None:
                self._since_full += 1
                self.region_frames += 1
                return found
        self._since_full = 1
        self.full_frames += 1
        return self.detector.detect(image)

    def _regions(self, image: np.ndarray, near: Sequence[Box]) -> list[Region] | None:
        if (
            not self.resizable
            or not near
            or self._since_full == 0
            or self._since_full >= self.full_every
            or len(near) > self.max_regions
        ):
            return None
        h, w = image.shape[:2]
        limit = getattr(self.detector, "max_size", None)  # the whole-frame search shrinks the frame to this side
        whole = max(1.0, max(w, h) / limit) if limit else 1.0
        regions = [region_around(b, w, h, self.context, self.face_px, whole) for b in near]
        searched = sum((r.x2 - r.x1) * (r.y2 - r.y1) / r.scale**2 for r in regions)  # pixels, once shrunk
        if searched > self.max_share * w * h / whole**2 or any(r.x2 - r.x1 < 8 or r.y2 - r.y1 < 8 for r in regions):
            return None
        return regions

    def _search(self, image: np.ndarray, regions: list[Region], near: Sequence[Box]) -> list[Detection] | None:
        """Each region's faces in frame pixels, overlaps merged; None when a region has lost its face (nothing
        found in it overlaps where the face was)."""
        h, w = image.shape[:2]
        found: list[Detection] = []
        for r, was in zip(regions, near, strict=True):
            crop = image[r.y1 : r.y2, r.x1 : r.x2]
            if r.scale > 1.0:
                size = (max(1, round((r.x2 - r.x1) / r.scale)), max(1, round((r.y2 - r.y1) / r.scale)))
                crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
            faces = [_to_frame(d, r) for d in self.detector.detect(np.ascontiguousarray(crop))]
            faces = [d for d in faces if not _cut(d.box, r, w, h)]
            if not any(d.box.iou(was) >= self.min_iou for d in faces):
                return None
            found += faces
        found.sort(key=lambda d: d.score, reverse=True)
        kept: list[Detection] = []
        for d in found:  # a face seen in two overlapping squares is one face: the higher score stays
            if all(d.box.iou(k.box) < 0.5 for k in kept):
                kept.append(d)
        return kept
