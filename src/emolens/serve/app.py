"""The HTTP and WebSocket service: thin handlers over the library (``pip install 'emolens[serve]'``).

Routes (all JSON; errors are ``{"error": "one line"}``: 4xx for what the client sent, 5xx for what the server
cannot do, never a traceback and never a server path):

- ``POST /v1/analyze`` (multipart ``image``): faces, boxes, landmarks, emotions (``ImageResult.to_dict()``)
- ``POST /v1/verify`` (``a``, ``b``): same person or not, score, threshold
- ``POST /v1/identify`` (``image``): every face with its identity and emotions
- ``GET /v1/people``, ``POST /v1/people`` (``name`` + ``images``), ``DELETE /v1/people/{name}``
- ``GET /v1/events`` (``identity``, ``emotion``, ``since``, ``until``, ``limit``, ``alerts``, ``order``)
- ``GET /v1/stats`` (``by``, ``epsilon``, ``max_per_person``, ``since``, ``until``): DP histograms (serve/stats.py)
- ``WS /v1/stream``: the client sends JPEG/PNG frames as binary messages; each analysed frame comes back as JSON
  (``FrameResult.to_dict()``: track ids, raw and smoothed emotions); frames the server cannot keep up with are
  dropped (oldest first) and counted
- ``WS /v1/source``: what the operator's ``--source`` shows, as JSON results each followed by the JPEG frame
- ``GET /dashboard`` (``GET /`` redirects there): the web dashboard (:mod:`emolens.serve.dashboard`)
- ``GET /healthz``, ``GET /metrics`` (Prometheus text), ``GET /openapi.json``

API keys (``X-API-Key`` header, or ``?key=`` for the WebSocket) are required when the server was started with
``require_keys=True`` or, by default, when the key store says so (:attr:`emolens.serve.keys.KeyStore.required`:
on once a key was created, whatever happens to the keys later). Host, Origin, key, rate and size are checked
before a handler runs (:mod:`emolens.serve.guard`). The server never fetches URLs on a client's behalf and
stores no images (enrolment keeps embeddings only).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import (
    AudioError,
    ConfigError,
    EmolensError,
    GalleryError,
    ImageError,
    TextError,
    VideoError,
)

try:
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse, PlainTextResponse
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as e:  # pragma: no cover - exercised only without the extra
    from emolens.errors import MissingExtraError

    raise MissingExtraError(e.name or "fastapi", "serve") from None


@dataclass
class ServeConfig:
    """Settings of one server process."""

    gallery: Path | None = None
    keys: Path | None = None
    require_keys: bool | None = None  # None: as the key store's setting says (on once a key was created)
    host: str | None = None  # the bind address, when known: loopback names only are answered on loopback
    allow_keyless_network: bool = False  # keyless on a non-loopback bind is refused unless this is set
    trusted_proxies: list[str] = field(default_factory=list)  # addresses/networks whose X-Forwarded-For is read
    max_upload_bytes: int = 10 * 1024 * 1024
    max_enrol_images: int = 10
    max_pixels: int = 40_000_000
    rate_per_minute: int = 600
    cors_origins: list[str] = field(default_factory=list)
    threads: int = 1  # one ONNX Runtime thread per model: requests run side by side (docs/benchmarks.md)
    detector: str = "yunet"
    detector_options: dict[str, Any] = field(default_factory=dict)  # the library's defaults unless set
    stream_detector: str = "blazeface"
    source: str | None = None  # the operator's server-side source for WS /v1/source (file, camera index, URL)
    source_alerts: list[str] = field(default_factory=list)  # alert rules checked on the server source


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers


_IMAGE_TYPES = ("image/", "application/octet-stream")
log = logging.getLogger("emolens.serve")

#: What a client is told when the server cannot do its part (the server's log has the details).
UNAVAILABLE = "the service cannot do this right now (a server-side fault; the server's log says why)"
#: Errors about what the client sent (4xx); every other error a handler meets is the server's (5xx).
CLIENT_ERRORS = (ImageError, ConfigError, TextError, AudioError)
#: Faults of the server's own files, models or sources: 503 with :data:`UNAVAILABLE`, logged in one line.
SERVER_FAULTS = (GalleryError, VideoError, EmolensError, sqlite3.Error, OSError)


def _one_line(text: str, limit: int = 100) -> str:
    """A client-given name made safe to echo: printable, one line, bounded."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def _validation_message(errors: Any) -> str:
    """FastAPI's list of validation errors as one line: ``image: field required; limit: ...``."""
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header"))
        parts.append(f"{where or 'request'}: {str(e.get('msg', 'invalid')).lower()}")
    return "; ".join(parts) or "invalid request"


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application; models load once, at the first request that needs them."""
    from emolens import __version__
    from emolens.analyzer import Analyzer
    from emolens.identity import Gallery
    from emolens.identity.gallery import Verification
    from emolens.identity.names import check_name
    from emolens.registry import check_detector
    from emolens.serve.guard import Guard, RefusedError, SecurityHeaders, is_loopback, parse_proxies
    from emolens.serve.keys import KeyStore

    cfg = config or ServeConfig()
    for name in (cfg.detector, cfg.stream_detector):
        check_detector(name)
    try:
        parse_proxies(cfg.trusted_proxies)
    except ValueError as e:
        raise ConfigError(f"--trusted-proxy: {e}") from None
    keys = KeyStore(cfg.keys) if cfg.keys is not None or cfg.require_keys else None
    if cfg.require_keys and keys is not None:
        keys.set_required(True)  # a server that once required keys keeps requiring them
    guard = Guard(cfg, keys)
    if cfg.host is not None and not is_loopback(cfg.host) and not guard.keys_required():
        if not cfg.allow_keyless_network:
            raise ConfigError(
                f"refusing to serve without API keys on {cfg.host}, which other machines can reach: create a key "
                "(`emolens keys create NAME`), bind to 127.0.0.1, or force it with --insecure-keyless-network"
            )
        log.warning("WARNING: serving WITHOUT API keys on %s: anyone who can reach it can use it", cfg.host)
    if keys is not None and guard.keys_required() and len(keys) == 0:
        log.warning("API keys are required but none is live: every API call will be refused until one is created")
    app = FastAPI(
        title="emolens", version=__version__, description=__doc__.split("\n\n")[0], docs_url=None, redoc_url=None
    )
    app.add_middleware(_GuardMiddleware, guard=guard)
    if cfg.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["*"], allow_headers=["*"])

    registry = CollectorRegistry()
    requests = Counter("emolens_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram(
        "emolens_request_seconds",
        "Request latency",
        ["route"],
        buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5),
        registry=registry,
    )
    faces = Counter("emolens_faces", "Faces analysed", registry=registry)
    in_flight = Gauge("emolens_in_flight_requests", "Requests being handled (queue depth)", registry=registry)
    load_time = Gauge("emolens_model_load_seconds", "Time to load each model", ["model"], registry=registry)
    stream_frames = Counter("emolens_stream_frames", "WebSocket frames", ["outcome"], registry=registry)

    state: dict[str, Any] = {}
    lock = threading.RLock()  # the gallery's loader loads the analyzer

    def loaded(name: str, make: Any) -> Any:
        with lock:
            if name not in state:
                t = time.perf_counter()
                state[name] = make()
                load_time.labels(name).set(time.perf_counter() - t)
            return state[name]

    def analyzer(detector: str | None = None) -> Analyzer:
        name = detector or cfg.detector
        try:
            check_detector(name)
        except ConfigError as e:
            raise HttpError(400, e.message) from None

        def make() -> Analyzer:
            options = cfg.detector_options if name == cfg.detector else {}
            a = Analyzer(name, threads=cfg.threads, detector_options=options)
            a.detector  # noqa: B018  (load now, timed)
            a.emotion  # noqa: B018
            return a

        return loaded(f"analyzer-{name}", make)

    def gallery() -> Gallery:
        def make() -> Gallery:
            try:
                return Gallery(cfg.gallery, analyzer=analyzer(), threads=cfg.threads)
            except GalleryError as e:  # the server's own file: not the client's fault
                log.warning("gallery: %s", e)
                raise HttpError(
                    503, "the gallery cannot be read (a server-side fault; the server's log says why)"
                ) from None

        return loaded("gallery", make)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        t = time.perf_counter()
        in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            in_flight.dec()
        path = _route_path(app, request.scope)
        requests.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - t)
        return response

    app.add_middleware(SecurityHeaders)  # the outermost: every response, the guard's refusals included

    @app.exception_handler(HttpError)
    async def http_error(_: Request, e: HttpError) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status, headers=e.headers)

    async def fault(request: Request, e: Exception) -> JSONResponse:
        if isinstance(e, CLIENT_ERRORS):  # the message only: a source may be a server path
            return JSONResponse({"error": e.message}, status_code=400)
        route = getattr(request.scope.get("route"), "path", request.url.path)
        log.warning("%s %s: server-side fault: %s: %s", request.method, route, type(e).__name__, e)
        return JSONResponse({"error": UNAVAILABLE}, status_code=503)

    for kind in (*CLIENT_ERRORS, *SERVER_FAULTS):
        app.add_exception_handler(kind, fault)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(e.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:  # never a traceback to the client
        return JSONResponse({"error": f"internal error ({type(e).__name__})"}, status_code=500)

    # For the handlers below, host, Origin, key, rate and body size were checked by the guard (``/v1/`` routes).

    def read_upload(upload: UploadFile, field_name: str) -> bytes:
        ctype = (upload.content_type or "application/octet-stream").lower()
        if not ctype.startswith(_IMAGE_TYPES):
            raise HttpError(415, f"{field_name}: expected an image upload, got content type {ctype}")
        data = upload.file.read(cfg.max_upload_bytes + 1)
        if len(data) > cfg.max_upload_bytes:
            raise HttpError(413, f"{field_name}: upload larger than {cfg.max_upload_bytes} bytes")
        if not data:
            raise HttpError(400, f"{field_name}: empty upload")
        return data

    def image_rgb(data: bytes, name: str) -> np.ndarray:
        from emolens.io.images import load_image

        try:
            return load_image(data, max_pixels=cfg.max_pixels, source=name).rgb
        except ImageError as e:
            raise HttpError(400, f"{_one_line(name)}: {e.message}") from None

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "models_loaded": sorted(state)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/analyze")
    def analyze(
        request: Request,
        image: UploadFile = File(...),  # noqa: B008
        detector: str | None = Query(
            None, description="yunet (default), retinaface (thorough) or blazeface (faces over ~1/10 of the image)"
        ),
    ) -> dict[str, Any]:
        data = read_upload(image, "image")
        rgb = image_rgb(data, image.filename or "image")
        result = analyzer(detector).analyze(rgb, color_order="rgb", source=image.filename or "image")
        faces.inc(len(result.faces))
        return result.to_dict()

    @app.post("/v1/identify")
    def identify(request: Request, image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        rgb = image_rgb(read_upload(image, "image"), image.filename or "image")
        recogniser = loaded("identify", lambda: analyzer().with_identity(gallery()))
        result = recogniser.analyze(rgb, color_order="rgb", source=image.filename or "image")
        faces.inc(len(result.faces))
        return result.to_dict()

    @app.post("/v1/verify")
    def verify(request: Request, a: UploadFile = File(...), b: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        g = gallery()
        embedded = []
        for upload, field_name in ((a, "a"), (b, "b")):
            rgb = image_rgb(read_upload(upload, field_name), upload.filename or field_name)
            try:
                embedded.append(g.embedding(rgb, source=field_name))
            except ImageError as e:  # e.g. no face: say which photo, never the pixels
                raise HttpError(422, f"{field_name}: {e.message}") from None
        score = float(embedded[0] @ embedded[1])
        v = Verification(score >= g.threshold, score, g.threshold)
        return {**v.to_dict(), "model": g.model}

    @app.get("/v1/people")
    def people(request: Request) -> list[dict[str, Any]]:
        return [p.to_dict() for p in gallery().people()]

    @app.post("/v1/people")
    def enrol(
        request: Request,
        name: str = Form(...),
        images: list[UploadFile] = File(...),  # noqa: B008
        replace: bool = Form(False),
    ) -> dict[str, Any]:
        try:
            name = check_name(name)
        except ConfigError as e:
            raise HttpError(422, f"name: {e.message}") from None
        if len(images) > cfg.max_enrol_images:
            raise HttpError(413, f"at most {cfg.max_enrol_images} images per enrolment")
        pics = [image_rgb(read_upload(u, u.filename or "image"), u.filename or "image") for u in images]
        report = gallery().enroll(name, pics, replace=replace)
        if report.added == 0:
            raise HttpError(422, "no usable face in the images: " + "; ".join(m for _, m in report.failures))
        return report.to_dict()

    @app.delete("/v1/people/{name:path}")  # :path, so that a name enrolled before names were checked can go
    def remove(request: Request, name: str) -> dict[str, Any]:
        if not gallery().remove(name):
            raise HttpError(404, f"no one named {_one_line(name)!r} is enrolled")
        return {"removed": name}

    @app.get("/v1/events")
    def events(
        request: Request,
        identity: str | None = None,
        emotion: str | None = None,
        since: float | None = Query(None, description="Unix time"),
        until: float | None = Query(None, description="Unix time"),
        limit: int = Query(1000, ge=1, le=100_000),
        alerts: bool = False,
        order: str = Query("oldest", pattern="^(oldest|newest)$", description="oldest or newest first"),
    ) -> list[dict[str, Any]]:
        from emolens.identity import EventQuery

        q = EventQuery(
            since=since, until=until, identity=identity, emotion=emotion, limit=limit, newest_first=order == "newest"
        )
        return gallery().events(q, alerts=alerts)

    from emolens.serve.stats import stats_router  # GET /v1/stats: DP histograms charged to the gallery's budget

    app.include_router(stats_router(gallery, lambda r: guard.client_address(r.scope)))

    async def accept_ws(ws: WebSocket) -> bool:
        """Check host, Origin, key (header, or ``?key=``) and rate; accept the socket, or refuse the handshake
        (HTTP 403 to the client; the reason goes to the server's log at debug level)."""
        try:
            guard.check_websocket(ws.scope)
        except RefusedError as e:
            log.debug("websocket %s refused: %s", ws.url.path, e.message)
            await ws.close(code=1008, reason=e.message)
            return False
        await ws.accept()
        return True

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket, identify: bool = False, events: bool = False, attention: bool = False) -> None:
        """``?identify=true`` names the tracks from the gallery; ``?events=true`` also logs them (one row per
        person per second, source ``stream:<client>``) to the event log that ``GET /v1/events`` reads;
        ``?attention=true`` adds head pose, eyes, mouth and attention to every face (:mod:`emolens.attention`)."""
        if await accept_ws(ws):
            analyzer = source_analyzer() if identify or events else stream_analyzer()
            log_as = f"stream:{guard.client_address(ws.scope)}" if events else None
            await _run_stream(ws, cfg, analyzer, stream_frames, log_as, attention, faces=faces)

    def stream_analyzer() -> Analyzer:
        return loaded("stream-analyzer", lambda: Analyzer(cfg.stream_detector, threads=cfg.threads))

    def source_analyzer() -> Analyzer:  # the stream's models, plus the gallery for identities and events
        return loaded("source-analyzer", lambda: stream_analyzer().with_identity(gallery()))

    from emolens.serve.dashboard import mount_dashboard
    from emolens.serve.docs import mount_docs

    mount_docs(app, "emolens")
    mount_dashboard(app, cfg, accept_ws=accept_ws, analyzer=source_analyzer, counter=stream_frames, faces_counter=faces)
    return app


async def _run_stream(
    ws: WebSocket,
    cfg: ServeConfig,
    analyzer: Any,
    counter: Any,
    log_as: str | None,
    attention: bool = False,
    *,
    faces: Any = None,
) -> None:
    """One WebSocket: frames in, per-frame results out, through the library's live video pipeline; with
    ``log_as``, each track's emotion once a second into the gallery's event log under that source name."""
    from emolens.events import EventLogger
    from emolens.io.images import load_image
    from emolens.video.sources import PushSource

    logger = EventLogger(analyzer.gallery.store, interval_s=1.0, flush_s=2.0) if log_as and analyzer.gallery else None
    source = PushSource("websocket")
    run = analyzer.analyze_video(source, live=True, attention=attention or None)
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def consume() -> None:
        try:
            for result in run:
                if faces is not None:
                    faces.inc(len(result.faces))
                if logger is not None:
                    logger.log_frame(log_as, result)
                loop.call_soon_threadsafe(outbox.put_nowait, result.to_dict())
        except EmolensError as e:
            loop.call_soon_threadsafe(outbox.put_nowait, {"error": e.message})
        finally:
            if logger is not None:
                logger.close()
            loop.call_soon_threadsafe(outbox.put_nowait, None)

    worker = threading.Thread(target=consume, name="emolens-ws", daemon=True)
    worker.start()
    gone = False  # the client has closed the socket (or it broke): nothing more is sent

    async def reply(item: dict[str, Any]) -> bool:
        nonlocal gone
        if gone:
            return False
        try:
            await ws.send_json(item)
            return True
        except _GONE:
            gone = True
            return False

    async def sender() -> None:
        while True:
            item = await outbox.get()
            if item is None:
                return
            if await reply(item):  # once the client has gone, the rest is drained unsent
                counter.labels("analysed").inc()

    send_task = asyncio.create_task(sender())
    try:
        while not gone:
            try:
                msg = await ws.receive()
            except _GONE:
                gone = True
                break
            if msg.get("type") == "websocket.disconnect":
                gone = True
                break
            data = msg.get("bytes")
            if data is None:
                if (msg.get("text") or "").strip().lower() == "end":
                    break
                await reply({"error": "send frames as binary JPEG or PNG messages"})
                continue
            if len(data) > cfg.max_upload_bytes:
                await reply({"error": f"frame larger than {cfg.max_upload_bytes} bytes"})
                counter.labels("rejected").inc()
                continue
            try:  # the one loader: the size is checked from the header before any pixel is decoded
                frame = await asyncio.to_thread(load_image, data, max_pixels=cfg.max_pixels, source="frame")
            except ImageError as e:
                await reply({"error": f"frame: {e.message}"})
                counter.labels("rejected").inc()
                continue
            counter.labels("received").inc()
            await asyncio.to_thread(source.push, frame.rgb)
    finally:
        source.end()
        await asyncio.to_thread(worker.join, 10)
        run.close()
        await send_task
        counter.labels("dropped").inc(run.stats.frames_dropped)
    if not gone:
        try:
            await ws.close()
        except _GONE:
            pass


def _route_path(app: FastAPI, scope: Any) -> str:
    """The route template a request matched (``/v1/people/{name:path}``, ``/docs``), for metric labels; routes
    that Starlette matches without putting themselves in the scope are found again; "unmatched" for a 404."""
    from starlette.routing import Match

    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    for candidate in app.router.routes:
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class _GuardMiddleware:
    """:class:`emolens.serve.guard.Guard` in the form ``app.add_middleware`` takes."""

    def __init__(self, app: Any, guard: Any) -> None:
        self._app = guard.middleware(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


#: What sending to or receiving from a socket whose client has gone raises (Starlette, uvicorn, the protocol).
_GONE = (WebSocketDisconnect, RuntimeError, OSError)

__all__ = ["ConfigError", "GalleryError", "HttpError", "ImageError", "ServeConfig", "create_app"]
