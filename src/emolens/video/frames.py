"""What every video source is: a :class:`VideoSource` yields :class:`Frame` s (RGB pixels with their time) and is
closed after use. :class:`PushSource` is the one whose frames are handed in by the caller; the decoding sources
(files, cameras, streams, image folders) and :func:`~emolens.video.sources.open_source` are in
:mod:`emolens.video.sources`."""

from __future__ import annotations

import queue
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from emolens.errors import VideoError


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        0-based frame number in decode order.
    timestamp_s : float
        Seconds from the start of the video; for a live source, from the first frame read.
    rgb : numpy.ndarray
        The pixels, ``uint8`` ``[H, W, 3]``, RGB.
    captured_at : float
        ``time.perf_counter()`` when the frame was read (for latency measurements).
    loop : int
        Which pass over the source this frame is from (0, then 1, 2... for a file played in a loop): when it
        changes, the pipeline tracks the people afresh, so track ids start again from 1 on every pass instead of
        climbing. A number rather than a flag on the first frame of a pass, which a live pipeline may drop.
    """

    index: int
    timestamp_s: float
    rgb: np.ndarray
    captured_at: float = 0.0
    loop: int = 0


class VideoSource(AbstractContextManager["VideoSource"]):
    """A stream of frames; iterate it once, then close it (or use it as a context manager).

    Attributes
    ----------
    name : str
        The source as a user would recognise it (a path, ``camera 0``, a URL without its password).
    live : bool
        Whether frames arrive in real time (camera, RTSP); the pipeline then drops old frames rather than lag.
    fps : float or None
        Frames per second if known.
    frame_count : int or None
        Number of frames if known (from the file header; ``None`` for live sources).
    width, height : int
        Frame size in pixels (0 when not known before reading).
    """

    name: str = "<video>"
    live: bool = False
    fps: float | None = None
    frame_count: int | None = None
    width: int = 0
    height: int = 0

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Yield the frames in order; may raise :class:`~emolens.errors.VideoError` after the last good one."""

    def close(self) -> None:
        """Release the file, camera or connection. Calling it twice is harmless."""

    def __exit__(self, *exc: object) -> None:
        self.close()


class PushSource(VideoSource):
    """Frames handed in by the caller (a WebSocket, a GUI, another library) instead of read from a device.

    ``push(rgb)`` adds a frame, stamped with the time since the first one; ``end()`` finishes the stream.
    It is live: when the analysis falls behind, the pipeline's ring buffer drops the oldest frames.
    """

    def __init__(self, name: str = "<push>", max_queue: int = 4) -> None:
        self.name = name
        self.live = True
        self._queue: queue.Queue[Frame | None] = queue.Queue(max_queue)
        self._index = 0
        self._t0: float | None = None
        self._ended = False

    def push(self, rgb: np.ndarray, timestamp_s: float | None = None) -> int:
        """Add one RGB frame; returns its index. Blocks while the small hand-over queue is full."""
        if self._ended:
            raise VideoError("the stream has ended", self.name)
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        t = now - self._t0 if timestamp_s is None else float(timestamp_s)
        idx = self._index
        self._queue.put(Frame(idx, t, rgb, now))
        self._index += 1
        return idx

    def end(self) -> None:
        """No more frames: the analysis finishes what it has and stops."""
        if not self._ended:
            self._ended = True
            while True:  # never block here: make room by dropping the oldest frame
                try:
                    self._queue.put_nowait(None)
                    return
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        self.end()
