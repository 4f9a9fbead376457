"""The server-side source of ``WS /v1/source``: the operator's ``--source``, shared by every viewer.

The source is opened when the first viewer connects and closed when the last one leaves; every viewer sees the
same run (one camera can only be opened once). A video file plays at its own frame rate, in a loop, so that it
stands in for a camera. The frames go through one live :class:`emolens.session.Session` (the runner of
``emolens video`` and ``WS /v1/stream``), with the server's gallery for identities; events (one row per track
per second) and alerts (``--alert`` rules) go to the gallery's event log, which the dashboard's feed shows.
A viewer that reads slower than the source gets the newest frame, never a backlog.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from prometheus_client import Counter

from emolens.analyzer import Analyzer
from emolens.errors import EmolensError, VideoError
from emolens.session import Session, SessionConfig, attention_stage
from emolens.video.sources import CaptureSource, Frame, ImageSequenceSource, VideoSource, open_source

if TYPE_CHECKING:
    from emolens.attention import AttentionAnalyzer
    from emolens.serve.config import SourceAttention

__all__ = ["RealTimeSource", "SourceHub", "Viewer", "open_server_source"]

#: What a viewer gets: a frame's JSON and JPEG, or, last, one ``{"end": ...}`` or ``{"error": ...}`` dict.
Item = tuple[dict[str, Any], bytes] | dict[str, Any]

_FLUSH_S = 2.0  # how often the server source's events are written (the dashboard polls every few seconds)


class RealTimeSource(VideoSource):
    """A video file (or image sequence) played at its own frame rate and in a loop, as a camera would deliver it.

    Each pass reopens the file with :func:`~emolens.video.sources.open_source`; frame indices and timestamps
    go on increasing across passes. Each frame carries its pass number (``loop``), so the pipeline tracks the
    clip's people afresh on each pass and their ids repeat (#1, #2, #3 again) instead of climbing.
    It is live, so the pipeline drops old frames rather than fall behind.
    """

    def __init__(self, spec: str, first: VideoSource, loop: bool = True) -> None:
        self.spec, self._first, self.loop = spec, first, loop
        self.name = first.name
        self.live = True
        self.fps = first.fps or 25.0
        self.width, self.height = first.width, first.height
        self._closed = threading.Event()
        self._current: VideoSource | None = first

    def __iter__(self) -> Iterator[Frame]:
        index, offset, period, passes = 0, 0.0, 1.0 / (self.fps or 25.0), 0
        t0 = time.perf_counter()
        src: VideoSource | None = self._first
        while src is not None and not self._closed.is_set():
            self._current = src
            last = -period
            with src:
                for frame in src:
                    if self._closed.is_set():
                        return
                    due = t0 + offset + frame.timestamp_s - time.perf_counter()
                    if due > 0:
                        self._closed.wait(due)
                    last = frame.timestamp_s
                    yield Frame(index, offset + frame.timestamp_s, frame.rgb, time.perf_counter(), loop=passes)
                    index += 1
            if index == 0 or not self.loop:
                return
            offset += last + period
            passes += 1
            src = open_source(self.spec)

    def close(self) -> None:
        self._closed.set()
        if self._current is not None:
            self._current.close()


def open_server_source(spec: str) -> VideoSource:
    """The operator's ``--source``: a camera or stream as it comes, a file or folder paced to real time.

    Raises
    ------
    VideoError
        The source cannot be opened (see :func:`~emolens.video.sources.open_source`).
    """
    src = open_source(spec)
    if isinstance(src, ImageSequenceSource) or (isinstance(src, CaptureSource) and src.kind == "file"):
        return RealTimeSource(spec, src)
    src.live = True
    return src


class Viewer:
    """One WebSocket's mailbox: holds the newest item only (frames it could not send in time are skipped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.skipped = 0
        self._item: Item | None = None
        self._final = False
        self._ready = asyncio.Event()

    def offer(self, item: Item, final: bool = False) -> None:
        """From the hub's thread."""
        try:
            self.loop.call_soon_threadsafe(self._put, item, final)
        except RuntimeError:  # the viewer's event loop has closed
            pass

    def _put(self, item: Item, final: bool) -> None:
        if self._final:
            return
        if self._item is not None:
            self.skipped += 1
        self._item, self._final = item, final
        self._ready.set()

    async def next(self) -> Item | None:
        """The newest frame (JSON and JPEG), or the last message (a dict) once the run has ended."""
        await self._ready.wait()
        self._ready.clear()
        item, self._item = self._item, None
        return item


class SourceHub:
    """The server-side source shared by every ``/v1/source`` viewer; see the module docstring.

    Parameters
    ----------
    spec:
        What ``--source`` named: a video file, an image folder, a camera index or a stream URL.
    analyzer:
        Makes (or returns the loaded) :class:`~emolens.Analyzer` to run; with a gallery, identities are
        followed and events are logged to it.
    alerts:
        Alert rules (``EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]``, or ``distracted``/``drowsy``/``yawn`` with
        ``attention``) checked on every analysed frame.
    attention:
        Head pose, eyes, mouth and attention on every face (a :class:`~emolens.serve.config.SourceAttention`); a
        new stage for every run of the source, which keeps no ended tracks. None: without.
    threads:
        ONNX Runtime threads per attention model (0: ONNX Runtime chooses).
    max_side:
        Frames larger than this (width or height) are scaled down before JPEG encoding.
    """

    def __init__(
        self,
        spec: str,
        analyzer: Callable[[], Analyzer],
        *,
        alerts: list[str] | None = None,
        attention: SourceAttention | None = None,
        threads: int = 0,
        max_side: int = 960,
        quality: int = 80,
        faces_counter: Counter | None = None,
    ) -> None:
        self.spec = spec
        self.faces_counter = faces_counter  # emolens_faces_total: every face the source's frames held
        self.alerts = list(alerts or [])
        self.attention, self.threads = attention, threads
        self.max_side, self.quality = max_side, quality
        self.frames_sent = 0
        self._make_analyzer = analyzer
        self._lock = threading.Lock()
        self._viewers: set[Viewer] = set()
        self._thread: threading.Thread | None = None
        self._session: Session | None = None
        self._exit_hook = False

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Viewer:
        viewer = Viewer(loop)
        with self._lock:
            self._viewers.add(viewer)
            if self._thread is None:
                self._start()
        return viewer

    def _start(self) -> None:
        """Start the run (with the lock held); the process's exit waits for it to close (:meth:`stop`)."""
        if not self._exit_hook:
            atexit.register(self.stop)
            self._exit_hook = True
        self._thread = threading.Thread(target=self._work, name="emolens-source", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the run after its current frame and wait for it to close (at most ``timeout`` seconds), for when the
        app shuts down or the process exits: a run cut off by the interpreter's exit (its pipeline threads in
        native code) aborts the process."""
        with self._lock:
            self._viewers.clear()
            thread, session = self._thread, self._session
        if session is not None:
            session.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def unsubscribe(self, viewer: Viewer) -> None:
        with self._lock:
            self._viewers.discard(viewer)

    def _attention_stage(self) -> AttentionAnalyzer | None:
        a = self.attention
        return None if a is None else attention_stage(a.cone, a.target, self.threads, keep_finished=False)

    def _viewing(self) -> list[Viewer]:
        with self._lock:
            return list(self._viewers)

    def _work(self) -> None:
        final: dict[str, Any] = {"end": "the source ended"}
        session: Session | None = None
        try:
            analyzer = self._make_analyzer()
            config = SessionConfig(
                live=True,
                with_frames=True,
                attention=self._attention_stage(),
                alerts=tuple(self.alerts),
                log_events=analyzer.gallery is not None,
                event_flush_s=_FLUSH_S,
            )
            shown_rules = [_shown(r) for r in config.rules()]  # with each frame: the page says what each needs
            session = Session(analyzer, open_server_source(self.spec), config)
            with self._lock:
                self._session = session
            name = session.open().name
            for step in session:
                if self.faces_counter is not None:
                    self.faces_counter.inc(len(step.result.faces))
                viewers = self._viewing()
                if not viewers:
                    final = {}
                    break
                message = {**step.result.to_dict(), "source": name}
                if shown_rules:
                    message["alert_rules"] = shown_rules
                jpeg = self._jpeg(step.rgb)
                for v in viewers:
                    v.offer((message, jpeg))
                self.frames_sent += 1
        except EmolensError as e:
            final = {"error": e.message}
        except Exception as e:  # never a traceback to a client
            final = {"error": f"internal error in the server source ({type(e).__name__})"}
        finally:
            if session is not None:
                try:
                    session.close()  # flushes the events
                except EmolensError:
                    pass
            with self._lock:
                self._session = None
                viewers = list(self._viewers)
                restart = not final and bool(viewers)  # a viewer came just as the last one left
                if restart:
                    self._start()
                else:
                    self._thread = None
                    self._viewers.clear()
            if not restart:
                for v in viewers:
                    v.offer(final, final=True)

    def _jpeg(self, rgb: np.ndarray) -> bytes:
        h, w = rgb.shape[:2]
        scale = self.max_side / max(h, w)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if scale < 1:
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise VideoError("cannot encode a frame as JPEG", self.spec)
        return buf.tobytes()


def _shown(rule: Any) -> dict[str, Any]:
    """An alert rule as the dashboard shows it: ``kind`` is ``emotion`` or an attention state (``distracted``,
    ``drowsy`` with its PERCLOS ``level``, ``yawn``)."""
    kind = getattr(rule, "kind", "emotion")
    shown = {
        "name": rule.name,
        "kind": kind,
        "emotions": list(getattr(rule, "emotions", ())),
        "seconds": rule.min_seconds,
        "min_score": getattr(rule, "min_score", None),
        "who": rule.who,
    }
    if kind == "drowsy":
        shown["level"] = rule.perclos
    return shown
