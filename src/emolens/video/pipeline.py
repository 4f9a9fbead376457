"""The video pipeline: decode, detect + track, and classify + smooth run in three threads with bounded queues.

::

    source ──► [decode] ──q1──► [detect, track, align] ──q2──► [classify, smooth] ──q3──► caller (iterator)

- ``q1`` is a bounded queue for files, folders and non-live URLs: decoding waits for the slower stages, so every
  sampled frame is analysed (lossless). For a live source (camera, RTSP) it is a small ring buffer that drops
  the *oldest* frame when full, so the results follow the camera instead of lagging further and further
  behind; the drops are counted in :attr:`VideoStats.frames_dropped`.
- The classify stage takes every frame waiting in ``q2`` (up to ``batch_frames``; for files it waits until it
  has that many) and sends all their faces to the emotion model in one call.
- Every queue is bounded and the tracker and smoother forget removed tracks, so memory stays flat however long
  the video runs.
- Results come out in frame order. An error in a stage travels down the queues after the frames before it,
  so the caller first gets every result that could be made and then the error (a truncated file: the frames it
  had, then :class:`~emolens.errors.VideoError`). To stop early, close the run (``run.close()``, or leave its
  ``with`` block): that stops the threads and releases the source. A run abandoned half-read without closing
  keeps its threads waiting until the process ends (they are daemon threads).

ONNX Runtime and OpenCV release the GIL while they compute, so the stages overlap on several cores.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from emolens.detect.regions import RegionDetector
from emolens.errors import ConfigError
from emolens.stages import AttentionOption, Prepared, Stages, TrackIdentifier, attention_stage, make_face
from emolens.types import FrameResult
from emolens.video.queues import Closed, End, Ring, VideoStats
from emolens.video.smoothing import SmoothingConfig, TrackSmoother
from emolens.video.sources import Frame, VideoSource, open_source
from emolens.video.tracker import TrackedDetection, Tracker, TrackerConfig

if TYPE_CHECKING:
    import os

__all__ = ["VideoOptions", "VideoRun", "VideoStats"]

_POLL = 0.05  # seconds between checks of the stop flags while waiting on a queue


class VideoOptions(TypedDict, total=False):
    """The options of a video run (documented on :meth:`emolens.Analyzer.analyze_video`)."""

    every_n_frames: int
    target_fps: float | None
    max_frames: int | None
    smoothing: str
    smoothing_options: SmoothingConfig | dict[str, Any] | None
    tracking: TrackerConfig | dict[str, Any] | None
    live: bool | None
    with_frames: bool
    batch_frames: int
    buffer_frames: int
    sequence_fps: float
    attention: AttentionOption
    full_detect_every: int


@dataclass
class _Detected:
    frame: Frame
    tracked: list[TrackedDetection]
    prepared: Prepared  # the tracked faces' detections and crops
    removed: list[int]
    forget: list[int] = field(default_factory=list)  # ids to forget before this frame (the source restarted)


class VideoRun:
    """An iterator over the per-frame results of one video; made by :meth:`emolens.Analyzer.analyze_video`,
    or directly on a :class:`~emolens.stages.Stages` (its detector, emotion model and face filters).

    Iterate it (once) for :class:`~emolens.types.FrameResult` objects, or ``(FrameResult, Frame)`` pairs with
    ``with_frames``. The threads start on the first ``next()``. Use it as a context manager, or call
    :meth:`close`, to stop early and release the source.

    Attributes
    ----------
    source : VideoSource
        The open source (``fps``, ``frame_count``, ``width``, ``height``, ``live``, ``name``).
    labels : tuple of str
        The emotion labels of the probabilities.
    stats : VideoStats
        Counters, updated as the run goes.
    tracker_config : TrackerConfig
    smoothing_config : SmoothingConfig
    """

    def __init__(
        self,
        stages: Stages,
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
        queue_frames: int = 8,
        sequence_fps: float = 25.0,
        attention: AttentionOption = None,
        identities: TrackIdentifier | None = None,
        full_detect_every: int = 5,
    ) -> None:
        _check_int("every_n_frames", every_n_frames, 1)
        _check_int("full_detect_every", full_detect_every, 1)
        if target_fps is not None and (_bad_number(target_fps) or target_fps <= 0):
            raise ConfigError(f"target_fps must be a positive number, got {target_fps!r}")
        if max_frames is not None:
            _check_int("max_frames", max_frames, 1)
        _check_int("batch_frames", batch_frames, 1)
        _check_int("buffer_frames", buffer_frames, 1)
        _check_int("queue_frames", queue_frames, 1)
        self.every_n_frames = every_n_frames
        self.target_fps = None if target_fps is None else float(target_fps)
        self.max_frames = max_frames
        self.smoothing_config = SmoothingConfig.from_options(smoothing, smoothing_options)
        self.tracker_config = TrackerConfig.from_options(tracking)
        self.with_frames = with_frames
        self.batch_frames = batch_frames
        self.stats = VideoStats()
        # Models first (a ModelError before the source is opened), then the source.
        self._stages = stages
        self._detector = stages.tracking_detector(self.tracker_config.low_score)
        self.full_detect_every = full_detect_every
        self._identities = identities
        self._attention = attention_stage(attention, stages.threads)
        #: the :class:`emolens.attention.AttentionAnalyzer` of the run (its ``finished`` tracks hold the focus
        #: spells, blinks, eye closures and yawns of tracks that ended), or None without attention
        self.attention = self._attention
        self.labels: tuple[str, ...] = stages.labels
        self.source: VideoSource = open_source(source, live=live, sequence_fps=sequence_fps)
        live_now = self.source.live
        self._q1: Any = Ring(buffer_frames, self.stats) if live_now else queue.Queue(queue_frames)
        self._q2: queue.Queue[Any] = queue.Queue(max(queue_frames, batch_frames))
        self._q3: queue.Queue[Any] = queue.Queue(queue_frames)
        self._closed = threading.Event()
        self._failed_at = -1  # index of the latest stage that failed; the stages before it stop
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._gen: Generator[Any, None, None] | None = None
        self._done = False

    # ---------------------------------------------------------------------------------------- iterator protocol

    def __iter__(self) -> VideoRun:
        return self

    def __next__(self) -> Any:
        if self._gen is None:
            if self._done:
                raise StopIteration
            self._start()
            self._gen = self._results()
        return next(self._gen)

    def close(self) -> None:
        """Stop the threads and release the source; results not yet taken are discarded. Idempotent."""
        self._done = True
        self._closed.set()
        if self._gen is not None:
            self._gen.close()
        for t in self._threads:
            t.join(timeout=5)
        # The decode thread closes the source itself; never release a capture while that thread may be reading.
        if not self._threads or not self._threads[0].is_alive():
            self.source.close()

    def __enter__(self) -> VideoRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ stages

    def _start(self) -> None:
        for name, target in (("decode", self._decode), ("detect", self._detect), ("classify", self._classify)):
            t = threading.Thread(target=target, name=f"emolens-video-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _results(self) -> Generator[Any, None, None]:
        try:
            while True:
                item = self._get(self._q3, stage=3)
                if isinstance(item, End):
                    if item.error is not None:
                        raise item.error
                    return
                result, frame = item
                self.stats.frames_analysed += 1
                self.stats.faces += len(result.faces)
                yield (result, frame) if self.with_frames else result
        except Closed:
            return
        finally:
            self._done = True
            self._closed.set()

    def _stopping(self, stage: int) -> bool:
        return self._closed.is_set() or self._failed_at > stage

    def _fail(self, stage: int) -> None:
        with self._lock:
            self._failed_at = max(self._failed_at, stage)

    def _put(self, q: Any, item: Any, stage: int) -> None:
        while True:
            if self._stopping(stage):
                raise Closed
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _get(self, q: Any, stage: int) -> Any:
        while True:
            if self._stopping(stage):
                raise Closed
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _run_stage(self, stage: int, body: Callable[[], None], out: Any) -> None:
        """Run a stage body; send its end marker (with the error, if it failed) down ``out``."""
        try:
            body()
            end = End()
        except Closed:
            return
        except BaseException as e:  # handed to the caller's thread, which re-raises it
            self._fail(stage)
            end = End(e)
        try:
            self._put(out, end, stage)
        except Closed:
            pass

    def _decode(self) -> None:
        try:
            self._run_stage(0, self._decode_body, self._q1)
        finally:
            self.source.close()

    def _decode_body(self) -> None:
        every, period = self.every_n_frames, (1.0 / self.target_fps if self.target_fps else None)
        next_t = 0.0
        for frame in self.source:
            if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                break
            self.stats.frames_read += 1
            if frame.index % every:
                continue
            if period is not None:
                if frame.timestamp_s + 1e-6 < next_t:
                    continue
                next_t = max(next_t + period, frame.timestamp_s + period / 2)
            self.stats.frames_sampled += 1
            self._put(self._q1, frame, 0)
            if self._stopping(0):
                raise Closed

    def _detect(self) -> None:
        self._run_stage(1, self._detect_body, self._q2)

    def _detect_body(self) -> None:
        tracker = Tracker(self.tracker_config)
        detector = RegionDetector(self._detector, self.full_detect_every)
        assigned_before = 0  # ids given by the trackers of earlier passes of a looping source
        loop = 0
        while True:
            item = self._get(self._q1, 1)
            if isinstance(item, End):
                if item.error is not None:
                    raise item.error
                return
            frame: Frame = item
            forget: list[int] = []
            if frame.loop != loop:  # the same footage again: its people get the ids of the first pass, not new ones
                loop = frame.loop
                forget = tracker.active_ids
                assigned_before += tracker.ids_assigned
                tracker = Tracker(self.tracker_config)
                detector.reset()
            # a face lost in the last frame(s) is looked for in the whole frame until it is found or dropped
            near = [] if tracker.has_lost else tracker.live_boxes
            found = detector.detect(frame.rgb, near=near, t=frame.timestamp_s)
            tracked = tracker.update(self._stages.big_enough(found))
            self.stats.tracks = assigned_before + tracker.ids_assigned
            self.stats.frames_searched_whole = detector.full_frames
            most = self._stages.max_faces
            if most is not None and len(tracked) > most:
                keep = sorted(tracked, key=lambda t: t.detection.box.area, reverse=True)
                keep_ids = {t.track_id for t in keep[:most]}
                tracked = [t for t in tracked if t.track_id in keep_ids]
            prepared = self._stages.prepare(frame.rgb, [t.detection for t in tracked])
            self._put(self._q2, _Detected(frame, tracked, prepared, list(tracker.removed_ids), forget), 1)

    def _classify(self) -> None:
        self._run_stage(2, self._classify_body, self._q3)

    def _classify_body(self) -> None:
        smoother = TrackSmoother(self.labels, self.smoothing_config)
        wait_for_batch = not self.source.live
        while True:
            batch: list[_Detected] = []
            end: End | None = None
            item = self._get(self._q2, 2)
            while True:
                if isinstance(item, End):
                    end = item
                    break
                batch.append(item)
                if len(batch) >= self.batch_frames:
                    break
                if wait_for_batch:
                    item = self._get(self._q2, 2)
                else:
                    try:
                        item = self._q2.get_nowait()
                    except queue.Empty:
                        break
            if batch:
                for out in self._classify_batch(batch, smoother):
                    self._put(self._q3, out, 2)
            if end is not None:
                if end.error is not None:
                    raise end.error
                return

    def _classify_batch(self, batch: list[_Detected], smoother: TrackSmoother) -> list[tuple[FrameResult, Frame]]:
        probs = self._stages.classify([d.prepared for d in batch])
        n_faces = sum(len(d.tracked) for d in batch)
        if n_faces:
            self.stats.model_calls += 1
            self.stats.max_batch_faces = max(self.stats.max_batch_faces, n_faces)
        out = []
        for d, frame_probs in zip(batch, probs, strict=True):
            self._forget(d.forget, smoother)
            who = (
                self._identities.update(d.frame.rgb, [(t.track_id, t.detection) for t in d.tracked])
                if self._identities is not None and d.tracked
                else {}
            )
            faces = []
            for i, (t, p) in enumerate(zip(d.tracked, frame_probs, strict=True)):
                s, label = smoother.update(t.track_id, p)
                faces.append(
                    make_face(
                        i,
                        t.detection,
                        p,
                        self.labels,
                        match=who.get(t.track_id),
                        track_id=t.track_id,
                        smoothed=s,
                        smoothed_label=label,
                    )
                )
            if self._attention is not None:
                faces = self._attention.frame(d.frame.rgb, d.frame.timestamp_s, faces, d.removed)
            self._forget(d.removed, smoother)
            h, w = d.frame.rgb.shape[:2]
            out.append((FrameResult(d.frame.index, d.frame.timestamp_s, tuple(faces), w, h), d.frame))
        return out

    def _forget(self, track_ids: list[int], smoother: TrackSmoother) -> None:
        for tid in track_ids:
            smoother.drop(tid)
            if self._identities is not None:
                self._identities.drop(tid)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _bad_number(v: object) -> bool:
    return isinstance(v, bool) or not isinstance(v, int | float) or v != v


def wait_idle(run: VideoRun, timeout: float = 5.0) -> bool:
    """Whether all threads of ``run`` have ended within ``timeout`` seconds (for tests and diagnostics)."""
    end = time.monotonic() + timeout
    for t in run._threads:
        t.join(max(0.0, end - time.monotonic()))
    return not any(t.is_alive() for t in run._threads)
