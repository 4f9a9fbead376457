"""The Analyzer wires the stages: load → detect → align → classify → results. Models load once, lazily."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from emolens import detect, registry
from emolens.emotion.classifier import DEFAULT_MODEL, EmotionModel, crops_from
from emolens.errors import ConfigError, EmolensError, ImageError
from emolens.io.images import load_image
from emolens.io.inputs import InputItem
from emolens.types import Detection, Face, ImageResult

if TYPE_CHECKING:
    import os

    from emolens.video.pipeline import VideoRun
    from emolens.video.smoothing import SmoothingConfig
    from emolens.video.sources import VideoSource
    from emolens.video.tracker import TrackerConfig

ImageInput = Any  # a path, bytes, a numpy array (with ``color_order``) or a PIL image
_Loaded = tuple[str, np.ndarray | None, str | None]  # source, RGB pixels, error
_Detected = tuple[str, np.ndarray | None, str | None, list[Detection], np.ndarray | None]  # ... faces, crops

#: The default detector of photos, videos and the service: the fastest that meets the recall bar measured in
#: docs/benchmarks.md ("Face detection"); ``"retinaface"`` is the thorough choice for crowds of tiny faces.
DEFAULT_DETECTOR = "yunet"


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
        min_face: float = 0,
        max_faces: int | None = None,
        threads: int = 0,
        tta: bool = False,
        detector_options: dict[str, Any] | None = None,
        identity: Any = None,
        workers: int = 1,
        attention: Any = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self._load_lock = threading.Lock()
        self.detector_name = detector
        self.model_name = model
        self.min_face = min_face
        self.max_faces = max_faces
        self.threads = threads
        self.tta = tta
        self.detector_options = dict(detector_options or {})
        self._detector: detect.Detector | None = None
        self._emotion: EmotionModel | None = None
        self._low_detectors: dict[float, detect.Detector] = {}
        registry.check_detector(detector)  # raises ConfigError naming the available backends
        self.gallery = _gallery(identity, self)
        self.attention = _attention(attention, threads)

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

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detected faces in an RGB image after the ``min_face`` and ``max_faces`` filters, largest first."""
        dets = [d for d in self.detector.detect(rgb) if d.box.size >= self.min_face]
        if self.max_faces is not None:
            dets = sorted(dets, key=lambda d: d.box.area, reverse=True)[: self.max_faces]
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
        if self.workers > 1 and len(images) > 1:
            pairs = zip(images, srcs, strict=True)
            return [r for r, _ in self._pipeline(pairs, color_order, raise_errors, max(1, len(images)))]
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
        Yields ``ImageResult``, or ``(ImageResult, rgb or None)`` with ``with_images``, in input order. With
        ``workers > 1`` the photos are decoded and detected ahead in threads (at most ``2 * workers + batch_size``
        photos held at once), and a batch goes to the emotion model as soon as the next photo is not ready yet.
        """
        if self.workers > 1:
            pairs = ((img, None) for img in images)
            for pair in self._pipeline(pairs, color_order, False, batch_size):
                yield pair if with_images else pair[0]
            return
        batch: list[_Loaded] = []
        for img in images:
            batch.append(self._load(img, None, color_order, False))
            if len(batch) == batch_size:
                yield from (pair if with_images else pair[0] for pair in self._run(batch))
                batch = []
        if batch:
            yield from (pair if with_images else pair[0] for pair in self._run(batch))

    def _pipeline(
        self,
        pairs: Iterable[tuple[ImageInput, str | None]],
        color_order: str | None,
        raise_errors: bool,
        batch_size: int,
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """Producer/consumer: ``workers`` threads load, detect and crop; this thread classifies, in input order."""
        from concurrent.futures import Future, ThreadPoolExecutor

        self.detector, self.emotion  # noqa: B018 - load once, here, before the threads start

        def prepare(img: ImageInput, src: str | None) -> _Detected:
            return self._detect_one(self._load(img, src, color_order, raise_errors))

        ahead = 2 * self.workers  # photos being prepared beyond the batch being filled: bounds memory
        pending: deque[Future[_Detected]] = deque()
        source = iter(pairs)
        exhausted = False
        with ThreadPoolExecutor(self.workers, thread_name_prefix="emolens-photo") as pool:
            try:
                batch: list[_Detected] = []
                while True:
                    while not exhausted and len(pending) + len(batch) < ahead + batch_size:
                        try:
                            img, src = next(source)
                        except StopIteration:
                            exhausted = True
                            break
                        pending.append(pool.submit(prepare, img, src))
                    if not pending:
                        break
                    batch.append(pending.popleft().result())
                    if len(batch) >= batch_size or not pending or not pending[0].done():
                        yield from self._finish(batch)
                        batch = []
                if batch:
                    yield from self._finish(batch)
            finally:
                for f in pending:
                    f.cancel()

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
        return self._finish([self._detect_one(item) for item in loaded])

    def _detect_one(self, loaded: _Loaded) -> _Detected:
        """Detection and aligned crops of one loaded image (thread-safe: the pipeline's worker threads call it)."""
        source, rgb, error = loaded
        dets = self.detect(rgb) if rgb is not None else []
        crops = None
        if dets:
            # A grey model's crops come from the grey image: convert it once, not once per face.
            src = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self.emotion.grey and len(dets) > 1 else rgb
            crops = crops_from(src, dets, self.emotion)
        return (source, rgb, error, dets, crops)

    def _finish(self, detected: list[_Detected]) -> list[tuple[ImageResult, np.ndarray | None]]:
        """Identity (with a gallery) and one emotion-model call for all faces of the images, then the results."""
        per_image = [item[3] for item in detected]
        matches: list[list[Any]] = []
        if self.gallery is not None:
            for _, rgb, _, dets, _ in detected:
                matches.append(self.gallery.match(self.gallery.embedder.embed(rgb, dets)) if dets else [])
        crops = [item[4] for item in detected if item[4] is not None]
        loaded = [item[:3] for item in detected]
        scores = self.emotion.scores(np.concatenate(crops)) if crops else []
        out: list[tuple[ImageResult, np.ndarray | None]] = []
        k = 0
        for n, ((source, rgb, error), dets) in enumerate(zip(loaded, per_image, strict=True)):
            faces = []
            for i, d in enumerate(dets):
                who = matches[n][i] if matches else None
                faces.append(
                    Face(
                        i,
                        d.box,
                        d.score,
                        d.landmarks,
                        scores[k],
                        identity=who.label if who is not None else None,
                        identity_score=who.score if who is not None and np.isfinite(who.score) else None,
                    )
                )
                k += 1
            if self.attention is not None and faces and rgb is not None:
                faces = self.attention.faces(rgb, faces)
            h, w = rgb.shape[:2] if rgb is not None else (0, 0)
            out.append((ImageResult(source, w, h, tuple(faces), error), rgb))
        return out

    def analyze_video(
        self,
        source: VideoSource | str | int | os.PathLike[str],
        *,
        every_n_frames: int = 1,
        target_fps: float | None = None,
        max_frames: int | None = None,
        smoothing: str = "ema",
        smoothing_options: SmoothingConfig | dict[str, Any] | None = None,
        tracking: TrackerConfig | dict[str, Any] | None = None,
        live: bool | None = None,
        with_frames: bool = False,
        batch_frames: int = 8,
        buffer_frames: int = 2,
        sequence_fps: float = 25.0,
        attention: Any = None,
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
        from emolens.video.pipeline import VideoRun

        tracking_cfg = _tracking_config(tracking, self.detector_options.get("score_threshold"))
        return VideoRun(
            self,
            source,
            every_n_frames=every_n_frames,
            target_fps=target_fps,
            max_frames=max_frames,
            smoothing=smoothing,
            smoothing_options=smoothing_options,
            tracking=tracking_cfg,
            live=live,
            with_frames=with_frames,
            batch_frames=batch_frames,
            buffer_frames=buffer_frames,
            sequence_fps=sequence_fps,
            attention=attention,
        )

    def with_identity(self, identity: Any) -> Analyzer:
        """A copy that also recognises people (``identity`` as in the constructor), sharing the loaded models."""
        other = copy.copy(self)
        other.gallery = _gallery(identity, other)
        return other

    def track_identities(self) -> Any:
        """A fresh per-track identity follower for one video run, or ``None`` without a gallery."""
        if self.gallery is None:
            return None
        from emolens.identity.tracks import TrackIdentities

        self.gallery.embedder  # load now: a ModelError before the video starts  # noqa: B018
        return TrackIdentities(self.gallery)

    def _tracking_detector(self, low_score: float) -> detect.Detector:
        """The detector run at ``low_score`` (the tracker also uses low-score detections), created once."""
        if low_score >= float(self.detector_options.get("score_threshold", 0.5)):
            return self.detector
        if low_score not in self._low_detectors:
            options = {**self.detector_options, "score_threshold": low_score}
            self._low_detectors[low_score] = registry.build_detector(
                self.detector_name, threads=self.threads, **options
            )
        return self._low_detectors[low_score]

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Emotion probabilities for faces that are already cropped (e.g. FER2013 48x48 images)."""
        return self.emotion.predict(crops)


def _tracking_config(tracking: Any, score_threshold: float | None) -> Any:
    """The tracker config, with ``high_score`` defaulting to the detector's score threshold."""
    from emolens.video.tracker import TrackerConfig

    if score_threshold is None or not (tracking is None or isinstance(tracking, dict)):
        return tracking
    options = dict(tracking or {})
    options.setdefault("high_score", float(score_threshold))
    options.setdefault("new_track_score", options["high_score"])
    options.setdefault("low_score", min(TrackerConfig.low_score, options["high_score"]))
    return options


def _gallery(identity: Any, analyzer: Analyzer) -> Any:
    if identity is None or identity is False:
        return None
    from emolens.identity.gallery import Gallery

    if isinstance(identity, Gallery):
        return identity
    if identity is True:
        return Gallery(analyzer=analyzer, threads=analyzer.threads)
    return Gallery(identity, analyzer=analyzer, threads=analyzer.threads)


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


def _attention(attention: Any, threads: int) -> Any:
    """The photo attention stage for ``Analyzer(attention=...)``, or None."""
    if attention is None or attention is False:
        return None
    from emolens.attention import AttentionAnalyzer

    if isinstance(attention, AttentionAnalyzer):
        return attention
    return AttentionAnalyzer(None if attention is True else attention, threads=threads)
