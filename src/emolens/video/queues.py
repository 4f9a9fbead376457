"""The hand-over between the video pipeline's threads: a live ring buffer, the end marker, the stop signal, and
the run's counters (see :mod:`emolens.video.pipeline`)."""

from __future__ import annotations

import collections
import queue
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Closed", "End", "Ring", "VideoStats"]


@dataclass
class VideoStats:
    """Counters of a run, updated as it goes (read them during or after the iteration).

    Attributes
    ----------
    frames_read : int
        Frames decoded from the source.
    frames_sampled : int
        Frames kept by ``every_n_frames`` / ``target_fps`` and sent to detection.
    frames_dropped : int
        Sampled frames dropped by the live ring buffer because the analysis could not keep up.
    frames_analysed : int
        Results yielded.
    faces : int
        Faces in the yielded results.
    tracks : int
        Track ids given.
    model_calls : int
        Emotion-model calls (each may hold the faces of several frames).
    max_batch_faces : int
        Most faces sent to the emotion model in one call.
    frames_searched_whole : int
        Sampled frames in which the detector searched the whole frame; in the others it searched only around the
        faces being tracked (see ``full_detect_every``).
    """

    frames_read: int = 0
    frames_sampled: int = 0
    frames_dropped: int = 0
    frames_analysed: int = 0
    faces: int = 0
    tracks: int = 0
    model_calls: int = 0
    max_batch_faces: int = 0
    frames_searched_whole: int = 0


class End:
    """The last item a stage sends; ``error`` is the exception that ended the stream, if any."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Closed(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raised inside a stage when it must stop (the caller closed the run, or a later stage failed)."""


class Ring:
    """A bounded buffer that drops its oldest frame when full (end markers are never dropped)."""

    def __init__(self, size: int, stats: VideoStats) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._size = size
        self._cond = threading.Condition()
        self._stats = stats

    def put(self, item: Any, timeout: float) -> None:
        with self._cond:
            while len(self._items) >= self._size and not isinstance(self._items[0], End):
                self._items.popleft()
                self._stats.frames_dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> Any:
        with self._cond:
            if not self._items and not self._cond.wait(timeout):
                raise queue.Empty
            if not self._items:
                raise queue.Empty
            return self._items.popleft()
