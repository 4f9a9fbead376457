"""The Analyzer: the facade for app developers over :class:`emolens.stages.Stages` (load → detect → align →
classify → results), with photo batches in worker threads, video runs and identity. Models load once, lazily."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack, overload

import numpy as np

from emolens import detect
from emolens.attention import AttentionAnalyzer
from emolens.emotion.classifier import DEFAULT_MODEL, EmotionModel
from emolens.errors import ConfigError
from emolens.identity.gallery import Gallery
from emolens.identity.tracks import TrackIdentities
from emolens.stages import DEFAULT_DETECTOR, ImageInput, PhotoRun, StageOptions, Stages
from emolens.types import Detection, ImageResult
from emolens.video.pipeline import VideoOptions, VideoRun
from emolens.video.sources import VideoSource
from emolens.video.tracker import TrackerConfig

__all__ = ["DEFAULT_DETECTOR", "Analyzer", "AnalyzerOptions", "IdentityOption", "ImageInput", "analyze"]

#: How identity is asked for: a :class:`~emolens.identity.Gallery`, the path of a gallery database, ``True``
#: (the default gallery), or ``None``/``False`` for none.
IdentityOption = Gallery | str | os.PathLike[str] | bool | None
_T = TypeVar("_T")


class AnalyzerOptions(StageOptions, total=False):
    """Every keyword of :class:`Analyzer` (for code that builds one from options, e.g. ``analyze_many``)."""

    detector: str
    model: str
    identity: IdentityOption
    workers: int


class _Batching(TypedDict, total=False):
    batch_size: int
    color_order: str | None


class _FromStages(Generic[_T]):
    """An attribute of the analyzer that is its stages' attribute of the same name (read and set there)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, analyzer: Analyzer, owner: type | None = None) -> _T:
        return getattr(analyzer.stages, self.name)

    def __set__(self, analyzer: Analyzer, value: _T) -> None:
        setattr(analyzer.stages, self.name, value)


class Analyzer:
    """Finds faces and predicts their emotions; reuse one instance across calls.

    Parameters
    ----------
    detector:
        Name of a detector backend (``emolens.registry.detector_names()``).
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
    identity:
        A :class:`~emolens.identity.Gallery` (or the path of a gallery database): every face is then matched
        against the enrolled people and ``Face.identity`` holds the name or ``"unknown"``. In videos each track
        is embedded a few times and its mean matched (:mod:`emolens.identity.tracks`).
    workers:
        Photos decoded, detected and cropped at once, in that many threads, by ``analyze_batch`` and
        ``iter_analyze``, while the calling thread runs the emotion model on the faces of the photos already
        detected (ONNX Runtime, OpenCV and Pillow release the GIL, so the threads use several cores). Results
        keep the input order. 1 (the default) runs the photos one after another in the calling thread.
    attention:
        ``True``, a dict of :class:`~emolens.attention.AttentionConfig` fields, or an
        :class:`~emolens.attention.AttentionAnalyzer`: every face of a photo then has ``pose``, ``eyes``, ``mouth``
        and ``attention`` (:mod:`emolens.attention`). For video pass ``attention`` to :meth:`analyze_video`.
    """

    def __init__(
        self,
        detector: str = DEFAULT_DETECTOR,
        model: str = DEFAULT_MODEL,
        *,
        identity: IdentityOption = None,
        workers: int = 1,
        **options: Unpack[StageOptions],
    ) -> None:
        self._setup(Stages(detector, model, **options), identity, workers)

    @classmethod
    def from_stages(cls, stages: Stages, *, identity: IdentityOption = None, workers: int = 1) -> Analyzer:
        """An analyzer over ready stages (e.g. a gallery's), sharing their models."""
        analyzer = cls.__new__(cls)
        analyzer._setup(stages, identity, workers)
        return analyzer

    def _setup(self, stages: Stages, identity: IdentityOption, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self.stages = stages
        self._gallery: Gallery | None = None
        self._set_gallery(identity)

    def _set_gallery(self, identity: IdentityOption) -> None:
        self._gallery = _gallery(identity, self.stages)
        self.stages = self.stages.with_identity(self._gallery)

    # --- what the stages hold ------------------------------------------------------------------------------

    @property
    def gallery(self) -> Gallery | None:
        """The identity gallery faces are matched against, or None."""
        return self._gallery

    detector = _FromStages[detect.Detector]()
    emotion = _FromStages[EmotionModel]()
    attention = _FromStages[AttentionAnalyzer | None]()
    detector_name = _FromStages[str]()
    model_name = _FromStages[str]()
    min_face = _FromStages[float]()
    max_faces = _FromStages[int | None]()
    threads = _FromStages[int]()
    tta = _FromStages[bool]()
    detector_options = _FromStages[dict[str, Any]]()

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detected faces in an RGB image after the ``min_face`` and ``max_faces`` filters, largest first."""
        return self.stages.detect(rgb)

    # --- photos --------------------------------------------------------------------------------------------

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
        pairs = zip(images, sources or [None] * len(images), strict=True)
        return [r for r, _ in self._photos()(pairs, color_order, raise_errors, max(1, len(images)))]

    @overload
    def iter_analyze(
        self, images: Iterable[ImageInput], *, with_images: Literal[False] = ..., **options: Unpack[_Batching]
    ) -> Iterator[ImageResult]: ...

    @overload
    def iter_analyze(
        self, images: Iterable[ImageInput], *, with_images: Literal[True], **options: Unpack[_Batching]
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]: ...

    def iter_analyze(
        self,
        images: Iterable[ImageInput],
        *,
        with_images: bool = False,
        batch_size: int = 8,
        color_order: str | None = None,
    ) -> Iterator[ImageResult] | Iterator[tuple[ImageResult, np.ndarray | None]]:
        """Stream results for many images, batching the emotion model over ``batch_size`` images at a time.

        Items may be anything ``analyze`` takes, or ``emolens.io.inputs.InputItem`` from ``expand_inputs``.
        Yields ``ImageResult``, or ``(ImageResult, rgb or None)`` with ``with_images``, in input order. With
        ``workers > 1`` the photos are decoded and detected ahead in threads (at most ``2 * workers + batch_size``
        photos held at once), and a batch goes to the emotion model as soon as the next photo is not ready yet.
        """
        pairs = self._photos()(((img, None) for img in images), color_order, False, batch_size)
        return pairs if with_images else (result for result, _ in pairs)

    def _photos(self) -> PhotoRun:
        return PhotoRun(self.stages, self.workers, self.detect)

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Emotion probabilities for faces that are already cropped (e.g. FER2013 48x48 images)."""
        return self.emotion.predict(crops)

    # --- video and identity --------------------------------------------------------------------------------

    def analyze_video(
        self, source: VideoSource | str | int | os.PathLike[str], **options: Unpack[VideoOptions]
    ) -> VideoRun:
        """Analyse a video, camera or stream: tracked faces with raw and smoothed emotions, frame by frame.

        Decoding, detection with tracking, and classification with smoothing run in three threads joined by
        bounded queues (see :mod:`emolens.video.pipeline`); the faces of several frames go to the emotion model
        in one call. Nothing is held for the whole video: results are yielded as they are made.

        Parameters
        ----------
        source : VideoSource, str, int or os.PathLike
            A video file, a folder of images (an image sequence), a camera index (``0`` or ``"0"``), a stream
            URL (``rtsp://...``, ``http://...``), or an open :class:`~emolens.video.sources.VideoSource`.
        every_n_frames : int, default 1
            Analyse frames whose index is a multiple of this.
        full_detect_every : int, default 5
            Search the whole frame for faces every this many analysed frames; in the frames between, only the
            squares around the faces of the previous frame, a face larger than 192 px shrunk to about that size
            (:class:`~emolens.detect.regions.RegionDetector`). A face lost or not found again, more than four
            faces, squares that would cost over 40% of the whole search, analysed frames more than 0.25 s of video
            apart, a new pass of a looping source and BlazeFace bring the whole-frame search back at once. 1: the
            whole frame every time.
        target_fps : float, optional
            Analyse at most this many frames per second of video time (combined with ``every_n_frames``).
        max_frames : int, optional
            Stop after reading this many frames from the source.
        smoothing : {"ema", "hysteresis", "none"}, default "ema"
            Temporal smoothing of each track's probabilities (:mod:`emolens.video.smoothing`).
        smoothing_options : SmoothingConfig or dict, optional
            Overrides of :class:`~emolens.video.smoothing.SmoothingConfig` (``alpha``, ``margin``,
            ``hold_frames``, ``min_confidence``).
        tracking : TrackerConfig or dict, optional
            Overrides of :class:`~emolens.video.tracker.TrackerConfig` (``max_age``, ``min_hits``, ...). The
            detector's ``score_threshold`` (``detector_options``, default 0.5) is the default ``high_score``.
        live : bool, optional
            Treat the source as live: a ring buffer drops the oldest frames when the analysis cannot keep up.
            Default: cameras and RTSP/RTMP/UDP/SRT streams are live; files, folders and HTTP URLs are lossless.
        with_frames : bool, default False
            Yield ``(FrameResult, Frame)`` pairs, the frame holding the RGB pixels (for drawing).
        batch_frames : int, default 8
            Most frames whose faces share one emotion-model call.
        buffer_frames : int, default 2
            Size of the ring buffer of a live source.
        sequence_fps : float, default 25
            Frame rate that stamps an image sequence.
        attention : bool, dict, AttentionConfig or AttentionAnalyzer, optional
            Add head pose, eyes, mouth and attention (with blinks, PERCLOS, focus and yawns per track) to every
            face (:mod:`emolens.attention`); ``True`` for the defaults.

        Returns
        -------
        VideoRun
            An iterator of :class:`~emolens.types.FrameResult` (one per analysed frame, in order), with
            ``source``, ``labels`` and ``stats`` attributes; close it (or use ``with``) to stop early.

        Raises
        ------
        VideoError
            At once when the source cannot be opened (missing or undecodable file, no camera at that index,
            unreachable stream); during the iteration, after the frames that could be read, when a file turns
            out truncated or images of a sequence cannot be read.
        ConfigError
            An option has a value that cannot be used.
        ModelError
            A model cannot be loaded.

        Examples
        --------
        >>> analyzer = Analyzer("blazeface")
        >>> with analyzer.analyze_video("clip.mp4", every_n_frames=2) as run:  # doctest: +SKIP
        ...     for frame in run:
        ...         for face in frame:
        ...             print(frame.index, face.track_id, face.smoothed_label)
        """
        options["tracking"] = _tracking_config(options.get("tracking"), self.stages.score_threshold)
        return VideoRun(self.stages, source, identities=self.track_identities(), **options)

    def with_identity(self, identity: IdentityOption) -> Analyzer:
        """A copy that also recognises people (``identity`` as in the constructor), sharing the loaded models."""
        return Analyzer.from_stages(self.stages, identity=identity, workers=self.workers)

    def track_identities(self) -> TrackIdentities | None:
        """A fresh per-track identity follower for one video run, or ``None`` without a gallery."""
        if self._gallery is None:
            return None
        self._gallery.embedder  # load now: a ModelError before the video starts  # noqa: B018
        return TrackIdentities(self._gallery)


def _tracking_config(
    tracking: TrackerConfig | dict[str, Any] | None, score_threshold: float | None
) -> TrackerConfig | dict[str, Any] | None:
    """The tracker config, with ``high_score`` defaulting to the detector's score threshold."""
    if score_threshold is None or not (tracking is None or isinstance(tracking, dict)):
        return tracking
    options = dict(tracking or {})
    options.setdefault("high_score", float(score_threshold))
    options.setdefault("new_track_score", options["high_score"])
    options.setdefault("low_score", min(TrackerConfig.low_score, options["high_score"]))
    return options


def _gallery(identity: IdentityOption, stages: Stages) -> Gallery | None:
    if identity is None or identity is False:
        return None
    if isinstance(identity, Gallery):
        return identity
    path = None if identity is True else identity
    return Gallery(path, stages=stages.with_identity(None), threads=stages.threads)


_default: Analyzer | None = None


def analyze(image: ImageInput, *, color_order: str | None = None) -> ImageResult:
    """Analyse one image with a shared default ``Analyzer``.

    Returns an ``ImageResult``: iterate it, index it or take ``len()`` to get the faces.
    """
    global _default
    if _default is None:
        _default = Analyzer()
    return _default.analyze(image, color_order=color_order)
