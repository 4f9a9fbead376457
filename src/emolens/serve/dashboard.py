"""The web dashboard of ``emolens serve``: its static page, and ``WS /v1/source`` for the server-side source.

- ``GET /`` redirects to ``GET /dashboard``, a static page (``static/index.html``, ``app.js``, ``style.css``,
  bundled in the package: no CDN, no external fonts, no inline script). The page needs no key; the API calls
  it makes send the key the user typed (``X-API-Key``, or ``?key=`` on a WebSocket).
- ``WS /v1/source`` sends what the server-side source shows: for each analysed frame, a JSON text message
  (``FrameResult.to_dict()`` plus ``source``) followed by a binary message with the frame as JPEG. The source is
  chosen by the operator at startup (``emolens serve --source PATH|INDEX|URL``); a client cannot name one, so
  the server never opens a URL a client gave it. Without ``--source`` the socket is accepted, told
  ``{"error": ...}`` and closed with code 4404 and the same line as reason.

The source is opened when the first viewer connects and closed when the last one leaves; every viewer sees the
same run (one camera can only be opened once). A video file plays at its own frame rate, in a loop, so that it
stands in for a camera. The frames go through the library's live video pipeline
(:meth:`emolens.Analyzer.analyze_video` with ``live=True``), with the server's gallery for identities; events
(one row per track per second) and alerts (``--alert`` rules) go to the gallery's event log, which the
dashboard's feed shows. A viewer that reads slower than the source gets the newest frame, never a backlog.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens.errors import EmolensError, VideoError
from emolens.video.sources import CaptureSource, Frame, ImageSequenceSource, VideoSource, open_source

try:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect
    from fastapi.responses import RedirectResponse, Response
except ImportError as e:  # pragma: no cover - exercised only without the extra
    from emolens.errors import MissingExtraError

    raise MissingExtraError(e.name or "fastapi", "serve") from None

if TYPE_CHECKING:
    from emolens.analyzer import Analyzer
    from emolens.serve.app import ServeConfig

__all__ = ["NO_SOURCE", "SourceHub", "mount_dashboard"]

#: The line a ``/v1/source`` client gets when the server was started without ``--source``.
NO_SOURCE = "no server source: the operator starts one with `emolens serve --source PATH|INDEX|URL`"
NO_SOURCE_CODE = 4404

_ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Same origin only: no CDN, no inline script or style, no eval, no framing by other sites.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_FLUSH_S = 2.0  # how often the server source's events are written (the dashboard polls every few seconds)


def asset(name: str) -> bytes:
    """The bytes of one bundled dashboard file (``index.html``, ``app.js``, ``style.css``)."""
    return resources.files("emolens.serve").joinpath("static", name).read_bytes()


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


class _Viewer:
    """One WebSocket's mailbox: holds the newest item only (frames it could not send in time are skipped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.skipped = 0
        self._item: Any = None
        self._final = False
        self._ready = asyncio.Event()

    def offer(self, item: Any, final: bool = False) -> None:
        """From the hub's thread."""
        try:
            self.loop.call_soon_threadsafe(self._put, item, final)
        except RuntimeError:  # the viewer's event loop has closed
            pass

    def _put(self, item: Any, final: bool) -> None:
        if self._final:
            return
        if self._item is not None:
            self.skipped += 1
        self._item, self._final = item, final
        self._ready.set()

    async def next(self) -> tuple[Any, bool]:
        await self._ready.wait()
        self._ready.clear()
        item, self._item = self._item, None
        return item, self._final


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
        Alert rules (``EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]``) checked on every analysed frame.
    max_side:
        Frames larger than this (width or height) are scaled down before JPEG encoding.
    """

    def __init__(
        self,
        spec: str,
        analyzer: Callable[[], Analyzer],
        *,
        alerts: list[str] | None = None,
        max_side: int = 960,
        quality: int = 80,
        faces_counter: Any = None,
    ) -> None:
        self.spec = spec
        self.faces_counter = faces_counter  # emolens_faces_total: every face the source's frames held
        self.alerts = list(alerts or [])
        self.max_side, self.quality = max_side, quality
        self.frames_sent = 0
        self._make_analyzer = analyzer
        self._lock = threading.Lock()
        self._viewers: set[_Viewer] = set()
        self._thread: threading.Thread | None = None

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> _Viewer:
        viewer = _Viewer(loop)
        with self._lock:
            self._viewers.add(viewer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="emolens-source", daemon=True)
                self._thread.start()
        return viewer

    def unsubscribe(self, viewer: _Viewer) -> None:
        with self._lock:
            self._viewers.discard(viewer)

    def _viewing(self) -> list[_Viewer]:
        with self._lock:
            return list(self._viewers)

    def _work(self) -> None:
        from emolens.events import AlertEngine, AlertRule, EventLogger

        final: dict[str, Any] = {"end": "the source ended"}
        run = logger = None
        try:
            analyzer = self._make_analyzer()
            rules = [AlertRule.parse(a) for a in self.alerts]
            shown_rules = [  # sent with each frame, so the page can say what each rule needs
                {
                    "name": r.name,
                    "emotions": list(r.emotions),
                    "seconds": r.min_seconds,
                    "min_score": r.min_score,
                    "who": r.who,
                }
                for r in rules
            ]
            if analyzer.gallery is not None:
                store = analyzer.gallery.store
                engine = AlertEngine(rules, store=store) if rules else None
                logger = EventLogger(store, interval_s=1.0, engine=engine, flush_s=_FLUSH_S)
            source = open_server_source(self.spec)
            run = analyzer.analyze_video(source, live=True, with_frames=True)
            name = source.name
            for result, frame in run:
                if self.faces_counter is not None:
                    self.faces_counter.inc(len(result.faces))
                if logger is not None:
                    logger.log_frame(name, result)
                viewers = self._viewing()
                if not viewers:
                    final = {}
                    break
                message = {**result.to_dict(), "source": name}
                if shown_rules:
                    message["alert_rules"] = shown_rules
                jpeg = self._jpeg(frame.rgb)
                for v in viewers:
                    v.offer((message, jpeg))
                self.frames_sent += 1
        except EmolensError as e:
            final = {"error": e.message}
        except Exception as e:  # never a traceback to a client
            final = {"error": f"internal error in the server source ({type(e).__name__})"}
        finally:
            if run is not None:
                run.close()
            if logger is not None:
                try:
                    logger.close()
                except EmolensError:
                    pass
            with self._lock:
                viewers = list(self._viewers)
                restart = not final and bool(viewers)  # a viewer came just as the last one left
                if restart:
                    self._thread = threading.Thread(target=self._work, name="emolens-source", daemon=True)
                    self._thread.start()
                else:
                    self._thread = None
                    self._viewers.clear()
            if not restart:
                for v in viewers:
                    v.offer(final, final=True)

    def _jpeg(self, rgb: np.ndarray) -> bytes:
        import cv2

        h, w = rgb.shape[:2]
        scale = self.max_side / max(h, w)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if scale < 1:
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise VideoError("cannot encode a frame as JPEG", self.spec)
        return buf.tobytes()


def mount_dashboard(
    app: FastAPI,
    cfg: ServeConfig,
    *,
    accept_ws: Callable[[WebSocket], Awaitable[bool]],
    analyzer: Callable[[], Analyzer],
    counter: Any,
    faces_counter: Any = None,
) -> SourceHub | None:
    """Add ``/``, ``/dashboard`` (and its assets) and ``WS /v1/source`` to ``app``; returns the source hub."""
    from emolens.serve.app import HttpError

    hub = (
        SourceHub(cfg.source, analyzer, alerts=cfg.source_alerts, faces_counter=faces_counter)
        if cfg.source is not None
        else None
    )
    app.state.source_hub = hub

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=307)

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> Response:
        return Response(asset("index.html"), media_type=_ASSETS["index.html"], headers=_HEADERS)

    @app.get("/dashboard/{name}", include_in_schema=False)
    def dashboard_asset(name: str) -> Response:
        if name not in _ASSETS:
            raise HttpError(404, f"no dashboard file named {name!r}")
        return Response(asset(name), media_type=_ASSETS[name], headers=_HEADERS)

    @app.websocket("/v1/source")
    async def source(ws: WebSocket) -> None:
        if not await accept_ws(ws):
            return
        if hub is None:
            await ws.send_json({"error": NO_SOURCE})
            await ws.close(code=NO_SOURCE_CODE, reason=NO_SOURCE)
            return
        await _watch(ws, hub, counter)

    return hub


async def _watch(ws: WebSocket, hub: SourceHub, counter: Any) -> None:
    """Send the hub's frames to one viewer until either side ends (the client may send the text ``end``)."""
    viewer = hub.subscribe(asyncio.get_running_loop())

    async def client_gone() -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect" or (msg.get("text") or "").strip().lower() == "end":
                    return
        except (RuntimeError, WebSocketDisconnect, OSError):
            return

    gone = asyncio.create_task(client_gone())
    code, reason = 1000, ""
    try:
        while True:
            wait = asyncio.create_task(viewer.next())
            await asyncio.wait({wait, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not wait.done():
                wait.cancel()
                return
            item, final = wait.result()
            if final:
                await ws.send_json(item)
                code, reason = (1011, item["error"]) if "error" in item else (1000, item.get("end", ""))
                break
            message, jpeg = item
            await ws.send_json(message)
            await ws.send_bytes(jpeg)
            counter.labels("source-sent").inc()
    except (RuntimeError, WebSocketDisconnect, OSError):  # the client has gone
        return
    finally:
        hub.unsubscribe(viewer)
        gone.cancel()
        counter.labels("source-skipped").inc(viewer.skipped)
    try:
        await ws.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))  # the protocol's limit
    except (RuntimeError, WebSocketDisconnect, OSError):  # the client went first
        pass
