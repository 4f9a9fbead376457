"""Results of a photo (:class:`ImageResult`) and of a video frame (:class:`FrameResult`): their faces, with NumPy
views, pandas rows (:mod:`emolens.types.tables`) and supervision detections (:mod:`emolens.types.supervision`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolens.errors import ConfigError
from emolens.types.faces import Face
from emolens.types.supervision import from_detections, to_detections
from emolens.types.tables import frames_to_dataframe, results_to_dataframe

__all__ = ["FrameResult", "ImageResult"]


class _FaceArrays:
    """NumPy views of a result's faces, one row per face, as supervision and other detection tools name them."""

    faces: tuple[Face, ...]

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self) -> Iterator[Face]:
        return iter(self.faces)

    def __getitem__(self, i: int) -> Face:
        return self.faces[i]

    @property
    def xyxy(self) -> np.ndarray:
        """Face boxes ``[n, 4]`` float32: ``x1, y1, x2, y2`` in pixels."""
        return _xyxy(self.faces)

    @property
    def confidence(self) -> np.ndarray:
        """Detector scores ``[n]`` float32."""
        return np.array([f.score for f in self.faces], dtype=np.float32)

    @property
    def class_id(self) -> np.ndarray:
        """Index of each face's top (raw) emotion in its label set (``face.emotions.labels``), ``[n]`` int64."""
        return _class_id(self.faces)

    @property
    def emotion_probs(self) -> np.ndarray:
        """Raw emotion probabilities ``[n, len(labels)]`` float32 (faces share one label set)."""
        return _probs(self.faces)


@dataclass(frozen=True)
class ImageResult(_FaceArrays):
    """All faces found in one image, or the error that stopped it."""

    source: str
    width: int
    height: int
    faces: tuple[Face, ...] = field(default_factory=tuple)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_pandas(self):
        """The faces as a pandas DataFrame, one row per face (one row with empty face columns when there is none).

        Columns as ``emolens analyze --format csv`` writes them (:func:`emolens.types.records.record_columns`);
        ``width``, ``height`` and ``face`` are nullable integers. Needs pandas (``emolens[pandas]``).
        """
        return results_to_dataframe([self])

    def to_supervision(self):
        """The faces as ``supervision.Detections`` (:func:`emolens.types.supervision.to_detections`)."""
        return to_detections(self)

    @classmethod
    def from_supervision(cls, detections, source: str = "", width: int = 0, height: int = 0) -> ImageResult:
        """An ImageResult from ``supervision.Detections`` made by :meth:`to_supervision`."""
        return ImageResult(source, width, height, from_detections(detections))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file": self.source,
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
        }
        if self.error is not None:
            d["error"] = self.error
        return d


@dataclass(frozen=True)
class FrameResult(_FaceArrays):
    """The tracked faces of one analysed video frame.

    Attributes
    ----------
    index : int
        0-based frame number in decode order (frames skipped by sampling keep their numbers).
    timestamp : float
        Seconds from the start of the video (for a live source: from the first frame captured).
    faces : tuple of Face
        Faces of confirmed tracks seen in this frame, each with ``track_id``, ``smoothed`` and
        ``smoothed_label`` set.
    width, height : int
        Frame size in pixels.
    """

    index: int
    timestamp: float
    faces: tuple[Face, ...] = field(default_factory=tuple)
    width: int = 0
    height: int = 0

    @property
    def tracker_id(self) -> np.ndarray:
        """Track ids ``[n]`` int64 (-1 for a face without one)."""
        return np.array([-1 if f.track_id is None else f.track_id for f in self.faces], dtype=np.int64)

    def to_pandas(self):
        """The frame's faces as a pandas DataFrame, one row per face (the columns of ``frames.csv``).

        Needs pandas (``emolens[pandas]``). For a whole video use
        :func:`emolens.types.tables.frames_to_dataframe` on the results.
        """
        return frames_to_dataframe([self])

    def to_supervision(self):
        """The faces as ``supervision.Detections``, with ``tracker_id``
        (:func:`emolens.types.supervision.to_detections`)."""
        return to_detections(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.index,
            "timestamp": round(self.timestamp, 4),
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
        }


def _xyxy(faces: tuple[Face, ...]) -> np.ndarray:
    return np.array([[f.box.x1, f.box.y1, f.box.x2, f.box.y2] for f in faces], dtype=np.float32).reshape(-1, 4)


def _class_id(faces: tuple[Face, ...]) -> np.ndarray:
    return np.array([f.emotions.labels.index(f.label) for f in faces], dtype=np.int64)


def _probs(faces: tuple[Face, ...]) -> np.ndarray:
    if not faces:
        return np.zeros((0, 0), dtype=np.float32)
    labels = faces[0].emotions.labels
    if any(f.emotions.labels != labels for f in faces):
        raise ConfigError("the faces have different emotion label sets")
    return np.array([f.emotions.probs for f in faces], dtype=np.float32)
