"""Results to and from ``supervision.Detections``, so that supervision's annotators and trackers work on faces.

Needs the ``supervision`` extra (``pip install 'emolens[supervision]'``).

>>> import supervision as sv
>>> result = emolens.analyze("group.jpg")
>>> detections = result.to_supervision()          # xyxy, confidence (detector), class_id (top emotion)
>>> image = sv.BoxAnnotator().annotate(image, detections)
>>> image = sv.LabelAnnotator().annotate(image, detections, labels=list(detections.data["class_name"]))
>>> happy = detections[detections.data["class_name"] == "happy"]
>>> faces = emolens.types.supervision.from_detections(happy)   # back to Face objects (with a tracker's ids, if set)

Mapping:

==========================  ===============================================================================
``Detections``              emolens
==========================  ===============================================================================
``xyxy``                    ``face.box``
``confidence``              ``face.score`` (the detector's)
``class_id``                index of the top emotion in the label set (``metadata["emotion_labels"]``)
``tracker_id``              ``face.track_id`` (video results; set by a supervision tracker otherwise)
``data["class_name"]``      the top emotion (``face.label``)
``data["emotion_probs"]``   ``face.emotions.probs``, ``[n, len(labels)]``
``data["landmarks"]``       the five landmarks, ``[n, 5, 2]`` (NaN where missing)
``data["identity"]``        ``face.identity`` (only when some face has one)
``data["face_index"]``      ``face.index``
==========================  ===============================================================================
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from emolens.errors import ConfigError, MissingExtraError
from emolens.types.faces import Box, EmotionScores, Face, Landmarks, PartialLandmarks

__all__ = ["from_detections", "to_detections"]


class FaceArrays(Protocol):
    """What :func:`to_detections` reads of an ``ImageResult`` or ``FrameResult``: the faces and their arrays."""

    @property
    def faces(self) -> tuple[Face, ...]: ...
    @property
    def xyxy(self) -> np.ndarray: ...
    @property
    def confidence(self) -> np.ndarray: ...
    @property
    def class_id(self) -> np.ndarray: ...
    @property
    def emotion_probs(self) -> np.ndarray: ...


def _sv() -> Any:
    try:
        import supervision
    except ImportError:
        raise MissingExtraError("supervision", "supervision") from None
    return supervision


def to_detections(result: FaceArrays):
    """The faces of an image or video-frame result as ``supervision.Detections`` (see the module's mapping).

    Raises
    ------
    MissingExtraError
        supervision is not installed.
    ConfigError
        The faces have different emotion label sets.
    """
    sv = _sv()
    faces = result.faces
    labels = faces[0].emotions.labels if faces else ()
    n = len(faces)
    landmarks = np.full((n, 5, 2), np.nan, dtype=np.float32)
    for k, f in enumerate(faces):
        if f.landmarks is not None:
            landmarks[k] = np.asarray(f.landmarks.points, dtype=np.float32).reshape(5, 2)
    data: dict[str, Any] = {
        "class_name": np.array([f.label for f in faces], dtype=object).reshape(n),
        "emotion_probs": result.emotion_probs.reshape(n, len(labels)),
        "landmarks": landmarks,
        "face_index": np.array([f.index for f in faces], dtype=np.int64),
    }
    if any(f.identity is not None for f in faces):
        data["identity"] = np.array([f.identity for f in faces], dtype=object)
    tracker_id = None
    if n and all(f.track_id is not None for f in faces):
        tracker_id = np.array([f.track_id for f in faces], dtype=np.int64)
    return sv.Detections(
        xyxy=result.xyxy,
        confidence=result.confidence,
        class_id=result.class_id,
        tracker_id=tracker_id,
        data=data,
        metadata={"emotion_labels": list(labels)},
    )


def from_detections(detections, labels: tuple[str, ...] | None = None) -> tuple[Face, ...]:
    """Faces from ``supervision.Detections`` that carry emotion probabilities (as :func:`to_detections` makes).

    Boxes, scores and probabilities come from the detections, so filtering, merging or tracking them in
    supervision carries over; a ``tracker_id`` becomes ``face.track_id``.

    Parameters
    ----------
    detections : supervision.Detections
    labels : tuple of str, optional
        The label set of ``data["emotion_probs"]``; default ``metadata["emotion_labels"]``.

    Raises
    ------
    ConfigError
        The detections carry no ``emotion_probs`` (detections from another model: run emolens on the image
        instead), or no label set, or one that does not fit the probabilities.
    """
    data = getattr(detections, "data", None) or {}
    n = len(detections)
    if n == 0:
        return ()
    if "emotion_probs" not in data:
        raise ConfigError("these detections carry no emotion probabilities (data['emotion_probs'])")
    probs = np.asarray(data["emotion_probs"], dtype=np.float64).reshape(n, -1)
    if labels is None:
        labels = tuple((getattr(detections, "metadata", None) or {}).get("emotion_labels") or ())
    labels = tuple(labels)
    if len(labels) != probs.shape[1]:
        raise ConfigError(
            f"{probs.shape[1]} emotion probabilities per face but {len(labels)} labels "
            "(pass labels=, or keep metadata['emotion_labels'])"
        )
    xyxy = np.asarray(detections.xyxy, dtype=np.float64).reshape(n, 4)
    conf = detections.confidence
    lms = data.get("landmarks")
    ids = data.get("identity")
    index = data.get("face_index")
    tracker = detections.tracker_id
    faces = []
    for k in range(n):
        landmarks = None
        if lms is not None:
            pts = np.asarray(lms[k], dtype=np.float64).reshape(5, 2)
            points = tuple((float(x), float(y)) for x, y in pts)
            if np.isfinite(pts).all():
                landmarks = Landmarks(points)
            elif np.isfinite(pts).any():
                landmarks = PartialLandmarks(points)
        faces.append(
            Face(
                index=int(index[k]) if index is not None else k,
                box=Box(*(float(v) for v in xyxy[k])),
                score=float(conf[k]) if conf is not None else 1.0,
                landmarks=landmarks,
                emotions=EmotionScores(labels, tuple(float(p) for p in probs[k])),
                identity=None if ids is None or ids[k] is None else str(ids[k]),
                track_id=None if tracker is None else int(tracker[k]),
            )
        )
    return tuple(faces)
