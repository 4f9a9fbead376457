"""The stage bundle: detect → align → emotion (+ identity, + attention), from RGB pixels to :class:`Face` values.

:class:`Stages` holds the models (loaded once, lazily, thread-safe) and the face filters (``min_face``,
``max_faces``). Photos (:class:`emolens.Analyzer`), the video pipeline (:mod:`emolens.video.pipeline`) and the
identity gallery (:mod:`emolens.identity.gallery`) all stand on it; it imports none of them.

>>> stages = Stages("yunet")                                   # doctest: +SKIP
>>> faces = stages.analyse(rgb)                                # detect, crop, classify   # doctest: +SKIP
>>> faces = stages.analyse(rgb, detections=tracker_boxes)      # faces already found      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from emolens import detect, registry
from emolens.attention import AttentionAnalyzer, AttentionConfig
from emolens.emotion.classifier import DEFAULT_MODEL, EmotionModel
from emolens.stages.seams import Identifier, IdentityMatch
from emolens.types import Detection, EmotionScores, Face

__all__ = ["DEFAULT_DETECTOR", "AttentionOption", "Prepared", "StageOptions", "Stages", "attention_stage", "make_face"]

#: The default detector of photos, videos and the service (the registry's; docs/benchmarks.md, "Face detection").
DEFAULT_DETECTOR = registry.DEFAULT_DETECTOR

#: How attention is asked for: ``True``, a dict of :class:`~emolens.attention.AttentionConfig` fields, a config,
#: or a ready :class:`~emolens.attention.AttentionAnalyzer`; ``None``/``False`` for none.
AttentionOption = bool | dict[str, Any] | AttentionConfig | AttentionAnalyzer | None


class StageOptions(TypedDict, total=False):
    """The keyword options of :class:`Stages` (and of :class:`emolens.Analyzer`, which passes them on)."""

    min_face: float
    max_faces: int | None
    threads: int
    tta: bool
    detector_options: dict[str, Any] | None
    attention: AttentionOption


@dataclass
class Prepared:
    """One image after detection and alignment: its pixels, the kept faces and their crops (None if no face)."""

    rgb: np.ndarray | None
    detections: list[Detection]
    crops: np.ndarray | None


class Stages:
    """Detector, aligner and emotion model (optionally an identity gallery and attention), loaded lazily.

    ``detector``, ``model`` and the :class:`StageOptions` are those documented on :class:`emolens.Analyzer`.
    ``identity`` is an :class:`~emolens.stages.seams.Identifier` (a gallery): photo faces then carry
    ``identity`` and ``identity_score``.
    """

    def __init__(
        self,
        detector: str = DEFAULT_DETECTOR,
        model: str = DEFAULT_MODEL,
        *,
        min_face: float = 0,
        max_faces: int | None = None,
        threads: int = 0,
        tta: bool = False,
        detector_options: dict[str, Any] | None = None,
        identity: Identifier | None = None,
        attention: AttentionOption = None,
    ) -> None:
        registry.check_detector(detector)  # raises ConfigError naming the available backends
        self.detector_name = detector
        self.model_name = model
        self.min_face = min_face
        self.max_faces = max_faces
        self.threads = threads
        self.tta = tta
        self.detector_options = dict(detector_options or {})
        self.identity = identity
        self.attention = attention_stage(attention, threads)
        self._load_lock = threading.Lock()
        self._detector: detect.Detector | None = None
        self._emotion: EmotionModel | None = None
        self._low_detectors: dict[float, detect.Detector] = {}

    # --- models -------------------------------------------------------------------------------------------

    @property
    def detector(self) -> detect.Detector:
        if self._detector is None:
            with self._load_lock:  # pipeline threads may ask at once; the model loads once
                if self._detector is None:
                    self._detector = registry.build_detector(
                        self.detector_name, threads=self.threads, **self.detector_options
                    )
        return self._detector

    @property
    def emotion(self) -> EmotionModel:
        if self._emotion is None:
            with self._load_lock:
                if self._emotion is None:
                    self._emotion = EmotionModel(self.model_name, threads=self.threads, tta=self.tta)
        return self._emotion

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.emotion.labels)

    @property
    def score_threshold(self) -> float | None:
        """The detector's ``score_threshold`` option, if one was given."""
        value = self.detector_options.get("score_threshold")
        return None if value is None else float(value)

    def tracking_detector(self, low_score: float) -> detect.Detector:
        """The detector run at ``low_score`` (a tracker also uses low-score detections), created once."""
        if low_score >= float(self.detector_options.get("score_threshold", 0.5)):
            return self.detector
        if low_score not in self._low_detectors:
            options = {**self.detector_options, "score_threshold": low_score}
            self._low_detectors[low_score] = registry.build_detector(
                self.detector_name, threads=self.threads, **options
            )
        return self._low_detectors[low_score]

    def with_identity(self, identity: Identifier | None) -> Stages:
        """A copy matching faces against ``identity``, sharing the models loaded so far."""
        other = copy.copy(self)
        other.identity = identity
        return other

    # --- faces --------------------------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detected faces in an RGB image after the ``min_face`` and ``max_faces`` filters, largest first."""
        dets = self.big_enough(self.detector.detect(rgb))
        if self.max_faces is not None:
            dets = sorted(dets, key=lambda d: d.box.area, reverse=True)[: self.max_faces]
        return dets

    def big_enough(self, detections: Sequence[Detection]) -> list[Detection]:
        """The detections whose box side reaches ``min_face``."""
        return [d for d in detections if d.box.size >= self.min_face]

    def prepare(self, rgb: np.ndarray | None, detections: Sequence[Detection] | None = None) -> Prepared:
        """Detection (unless ``detections`` are given, e.g. by a tracker) and aligned crops of one image.

        Thread-safe: worker threads prepare images while another thread classifies.
        """
        if rgb is None:
            return Prepared(None, [], None)
        dets = self.detect(rgb) if detections is None else list(detections)
        return Prepared(rgb, dets, self.emotion.crops(rgb, dets) if dets else None)

    def classify(self, prepared: Sequence[Prepared]) -> list[np.ndarray]:
        """Emotion probabilities ``[faces, classes]`` of each prepared image, in one emotion-model call."""
        crops = [p.crops for p in prepared if p.crops is not None]
        probs = self.emotion.predict(np.concatenate(crops)) if crops else np.zeros((0, len(self.labels)))
        out, k = [], 0
        for p in prepared:
            out.append(probs[k : k + len(p.detections)])
            k += len(p.detections)
        return out

    def identify(self, item: Prepared) -> list[IdentityMatch] | None:
        """Who each face of a prepared image is, or None without an identity gallery."""
        if self.identity is None:
            return None
        if not item.detections or item.rgb is None:
            return []
        return list(self.identity.match(self.identity.embedder.embed(item.rgb, item.detections)))

    def faces(self, item: Prepared, probs: np.ndarray) -> list[Face]:
        """The :class:`Face` values of one prepared image: emotions, identity and attention."""
        matches = self.identify(item)
        faces = [
            make_face(i, d, probs[i], self.labels, match=matches[i] if matches else None)
            for i, d in enumerate(item.detections)
        ]
        if self.attention is not None and faces and item.rgb is not None:
            faces = self.attention.faces(item.rgb, faces)
        return faces

    def finish(self, prepared: Sequence[Prepared]) -> list[list[Face]]:
        """The faces of several prepared images, their emotions predicted in one call."""
        return [self.faces(p, probs) for p, probs in zip(prepared, self.classify(prepared), strict=True)]

    def analyse(self, rgb: np.ndarray, detections: Sequence[Detection] | None = None) -> list[Face]:
        """The faces of one RGB image (found here, or the ``detections`` given)."""
        return self.finish([self.prepare(rgb, detections)])[0]


def make_face(
    index: int,
    detection: Detection,
    probs: np.ndarray,
    labels: tuple[str, ...],
    *,
    match: IdentityMatch | None = None,
    track_id: int | None = None,
    smoothed: np.ndarray | None = None,
    smoothed_label: str | None = None,
) -> Face:
    """One :class:`Face` from a detection, its emotion probabilities and (video) its track and smoothing."""
    return Face(
        index,
        detection.box,
        float(detection.score),
        detection.landmarks,
        EmotionScores(labels, tuple(float(v) for v in probs)),
        identity=match.label if match is not None else None,
        identity_score=float(match.score) if match is not None and np.isfinite(match.score) else None,
        track_id=track_id,
        smoothed=None if smoothed is None else EmotionScores(labels, tuple(float(v) for v in smoothed)),
        smoothed_label=smoothed_label,
    )


def attention_stage(attention: AttentionOption, threads: int) -> AttentionAnalyzer | None:
    """An :class:`~emolens.attention.AttentionAnalyzer` for ``attention``, or None."""
    if attention is None or attention is False:
        return None
    if isinstance(attention, AttentionAnalyzer):
        return attention
    return AttentionAnalyzer(None if attention is True else attention, threads=threads)
