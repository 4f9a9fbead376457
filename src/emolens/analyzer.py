"""The Analyzer wires the stages: load → detect → align → classify → results. Models load once, lazily."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from emolens import detect
from emolens.emotion.classifier import DEFAULT_MODEL, EmotionModel, crops_from
from emolens.errors import EmolensError, ImageError
from emolens.io.images import load_image
from emolens.io.inputs import InputItem
from emolens.types import Detection, Face, ImageResult

ImageInput = Any  # a path, bytes, a numpy array (with ``color_order``) or a PIL image
_Loaded = tuple[str, np.ndarray | None, str | None]  # source, RGB pixels, error


class Analyzer:
    """Finds faces and predicts their emotions; reuse one instance across calls.

    Parameters
    ----------
    detector:
        Name of a registered detector backend (``emolens.detect.available()``).
    model:
        Name of a shipped emotion model, or the path of a manifest.
    min_face:
        Ignore faces whose box side is smaller than this, in pixels.
    max_faces:
        Keep at most this many faces per image (the largest first); ``None`` keeps all.
    threads:
        ONNX Runtime threads per model (0: ONNX Runtime's default).
    tta:
        Test-time augmentation for the emotion model (mirror average).
    detector_options:
        Extra keyword options for the detector backend (e.g. ``score_threshold``, ``max_size``).
    """

    def __init__(
        self,
        detector: str = "retinaface",
        model: str = DEFAULT_MODEL,
        *,
        min_face: float = 0,
        max_faces: int | None = None,
        threads: int = 0,
        tta: bool = False,
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        self.detector_name = detector
        self.model_name = model
        self.min_face = min_face
        self.max_faces = max_faces
        self.threads = threads
        self.tta = tta
        self.detector_options = dict(detector_options or {})
        self._detector: detect.Detector | None = None
        self._emotion: EmotionModel | None = None
        if detector not in detect.available():
            detect.create(detector)  # raises ConfigError naming the available backends

    @property
    def detector(self) -> detect.Detector:
        if self._detector is None:
            self._detector = detect.create(self.detector_name, threads=self.threads, **self.detector_options)
        return self._detector

    @property
    def emotion(self) -> EmotionModel:
        if self._emotion is None:
            self._emotion = EmotionModel(self.model_name, threads=self.threads, tta=self.tta)
        return self._emotion

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detected faces in an RGB image after the ``min_face`` and ``max_faces`` filters, largest first."""
        dets = [d for d in self.detector.detect(rgb) if d.box.size >= self.min_face]
        if self.max_faces is not None:
            dets = sorted(dets, key=lambda d: d.box.width * d.box.height, reverse=True)[: self.max_faces]
        return dets

    def analyze(self, image: ImageInput, *, color_order: str | None = None, source: str | None = None) -> ImageResult:
        """Analyse one image; raises ``emolens.errors.ImageError`` if it cannot be read."""
        return self.analyze_batch([image], color_order=color_order, sources=[source], raise_errors=True)[0]

    def analyze_batch(
        self,
        images: Iterable[ImageInput],
        *,
        color_order: str | None = None,
        sources: list[str | None] | None = None,
        raise_errors: bool = False,
    ) -> list[ImageResult]:
        """Analyse several images, sending all their faces to the emotion model in one batch.

        An image that cannot be read gives an ``ImageResult`` with ``error`` set (or raises, with
        ``raise_errors``); the others go on.
        """
        images = list(images)
        srcs = sources or [None] * len(images)
        loaded = [self._load(img, src, color_order, raise_errors) for img, src in zip(images, srcs, strict=True)]
        return [r for r, _ in self._run(loaded)]

    def iter_analyze(
        self,
        images: Iterable[ImageInput],
        *,
        batch_size: int = 8,
        color_order: str | None = None,
        with_images: bool = False,
    ) -> Iterator[Any]:
        """Stream results for many images, batching the emotion model over ``batch_size`` images at a time.

        Items may be anything ``analyze`` takes, or ``emolens.io.inputs.InputItem`` from ``expand_inputs``.
        Yields ``ImageResult``, or ``(ImageResult, rgb or None)`` with ``with_images``.
        """
        batch: list[_Loaded] = []
        for img in images:
            batch.append(self._load(img, None, color_order, False))
            if len(batch) == batch_size:
                yield from (pair if with_images else pair[0] for pair in self._run(batch))
                batch = []
        if batch:
            yield from (pair if with_images else pair[0] for pair in self._run(batch))

    def _load(self, img: ImageInput, src: str | None, color_order: str | None, raise_errors: bool) -> _Loaded:
        if isinstance(img, InputItem):
            if img.error is not None:
                if raise_errors:
                    raise ImageError(img.error, img.source)
                return (img.source, None, img.error)
            src, img = img.source, img.path
        try:
            li = load_image(img, color_order=color_order if isinstance(img, np.ndarray) else None, source=src)
        except EmolensError as e:
            if raise_errors:
                raise
            return (e.source or src or _describe(img), None, e.message)
        return (li.source, li.rgb, None)

    def _run(self, loaded: list[_Loaded]) -> list[tuple[ImageResult, np.ndarray | None]]:
        per_image: list[list[Detection]] = []
        crops: list[np.ndarray] = []
        for _, rgb, _ in loaded:
            dets = self.detect(rgb) if rgb is not None else []
            per_image.append(dets)
            if dets:
                crops.append(crops_from(rgb, dets, self.emotion))
        scores = self.emotion.scores(np.concatenate(crops)) if crops else []
        out: list[tuple[ImageResult, np.ndarray | None]] = []
        k = 0
        for (source, rgb, error), dets in zip(loaded, per_image, strict=True):
            faces = []
            for i, d in enumerate(dets):
                faces.append(Face(i, d.box, d.score, d.landmarks, scores[k]))
                k += 1
            h, w = rgb.shape[:2] if rgb is not None else (0, 0)
            out.append((ImageResult(source, w, h, tuple(faces), error), rgb))
        return out

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Emotion probabilities for faces that are already cropped (e.g. FER2013 48x48 images)."""
        return self.emotion.predict(crops)


def _describe(img: object) -> str:
    if isinstance(img, str):
        return img
    return f"<{type(img).__name__}>"


_default: Analyzer | None = None


def analyze(image: ImageInput, *, color_order: str | None = None) -> ImageResult:
    """Analyse one image with a shared default ``Analyzer``.

    Returns an ``ImageResult``: iterate it, index it or take ``len()`` to get the faces.
    """
    global _default
    if _default is None:
        _default = Analyzer()
    return _default.analyze(image, color_order=color_order)
