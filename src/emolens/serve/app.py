"""The HTTP and WebSocket service: thin handlers over the library (``pip install 'emolens[serve]'``).

Routes (all JSON; errors are ``{"error": "one line"}`` with a 4xx status, never a traceback):

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

API keys (``X-API-Key`` header, or ``?key=`` for the WebSocket) are required when the key store has any live
key, unless the server was started with keys off. The server never fetches URLs on a client's behalf and stores
no images (enrolment keeps embeddings only).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError, EmolensError, GalleryError, ImageError, ModelError, VideoError

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
    require_keys: bool | None = None  # None: required as soon as a live key exists
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    rate_per_minute: int = 600
    cors_origins: list[str] = field(default_factory=list)
    threads: int = 2
    detector: str = "retinaface"
    detector_options: dict[str, Any] = field(default_factory=dict)  # the library's defaults unless set
    stream_detector: str = "blazeface"
    source: str | None = None  # the operator's server-side source for WS /v1/source (file, camera index, URL)
    source_alerts: list[str] = field(default_factory=list)  # alert rules checked on the server source


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


_IMAGE_TYPES = ("image/", "application/octet-stream")
DETECTORS = ("retinaface", "blazeface")


class _RateLimiter:
    """Sliding one-minute window per client (key id, or address when keys are off)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, who: str, per_minute: int) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._hits[who]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= per_minute:
                return False
            q.append(now)
            return True


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
    from emolens.serve.keys import KeyStore

    cfg = config or ServeConfig()
    for name in (cfg.detector, cfg.stream_detector):
        if name not in DETECTORS:
            raise ConfigError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")
    app = FastAPI(title="emolens", version=__version__, description=__doc__.split("\n\n")[0])
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

    keys = KeyStore(cfg.keys) if cfg.keys is not None or cfg.require_keys else None
    limiter = _RateLimiter()
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
        if name not in DETECTORS:
            raise HttpError(400, f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")

        def make() -> Analyzer:
            options = cfg.detector_options if name == cfg.detector else {}
            a = Analyzer(name, threads=cfg.threads, detector_options=options)
            a.detector  # noqa: B018  (load now, timed)
            a.emotion  # noqa: B018
            return a

        return loaded(f"analyzer-{name}", make)

    def gallery() -> Gallery:
        return loaded("gallery", lambda: Gallery(cfg.gallery, analyzer=analyzer(), threads=cfg.threads))

    def keys_required() -> bool:
        if cfg.require_keys is not None:
            return cfg.require_keys
        return keys is not None and len(keys) > 0

    def authorise(token: str | None, client: str) -> None:
        rate = cfg.rate_per_minute
        who = f"ip:{client}"
        if keys is not None and (keys_required() or token):
            key = keys.check(token)
            if key is None:
                raise HttpError(401, "missing or invalid API key (X-API-Key header)")
            who, rate = f"key:{key.id}", key.rate_per_minute or rate
        if not limiter.allow(who, rate):
            raise HttpError(429, f"rate limit of {rate} requests per minute reached")

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        t = time.perf_counter()
        in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            in_flight.dec()
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        requests.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - t)
        return response

    @app.exception_handler(HttpError)
    async def http_error(_: Request, e: HttpError) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(EmolensError)
    async def emolens_error(_: Request, e: EmolensError) -> JSONResponse:
        status = 503 if isinstance(e, ModelError) else 404 if "no one named" in e.message else 400
        return JSONResponse({"error": str(e)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(e.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:  # never a traceback to the client
        return JSONResponse({"error": f"internal error ({type(e).__name__})"}, status_code=500)

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

        return load_image(data, max_pixels=cfg.max_pixels, source=name).rgb

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "?"

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
            None, description="retinaface (default: thorough) or blazeface (fast; faces over ~1/10 of the image)"
        ),
    ) -> dict[str, Any]:
        authorise(request.headers.get("x-api-key"), client_of(request))
        data = read_upload(image, "image")
        rgb = image_rgb(data, image.filename or "image")
        result = analyzer(detector).analyze(rgb, color_order="rgb", source=image.filename or "image")
        faces.inc(len(result.faces))
        return result.to_dict()

    @app.post("/v1/identify")
    def identify(request: Request, image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        authorise(request.headers.get("x-api-key"), client_of(request))
        rgb = image_rgb(read_upload(image, "image"), image.filename or "image")
        recogniser = loaded("identify", lambda: analyzer().with_identity(gallery()))
        result = recogniser.analyze(rgb, color_order="rgb", source=image.filename or "image")
        faces.inc(len(result.faces))
        return result.to_dict()

    @app.post("/v1/verify")
    def verify(request: Request, a: UploadFile = File(...), b: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        authorise(request.headers.get("x-api-key"), client_of(request))
        ra = image_rgb(read_upload(a, "a"), a.filename or "a")
        rb = image_rgb(read_upload(b, "b"), b.filename or "b")
        v = gallery().verify(ra, rb)
        return {**v.to_dict(), "model": gallery().model}

    @app.get("/v1/people")
    def people(request: Request) -> list[dict[str, Any]]:
        authorise(request.headers.get("x-api-key"), client_of(request))
        return [p.to_dict() for p in gallery().people()]

    @app.post("/v1/people")
    def enrol(
        request: Request,
        name: str = Form(...),
        images: list[UploadFile] = File(...),  # noqa: B008
        replace: bool = Form(False),
    ) -> dict[str, Any]:
        authorise(request.headers.get("x-api-key"), client_of(request))
        pics = [image_rgb(read_upload(u, u.filename or "image"), u.filename or "image") for u in images]
        report = gallery().enroll(name, pics, replace=replace)
        if report.added == 0:
            raise HttpError(422, "no usable face in the images: " + "; ".join(m for _, m in report.failures))
        return report.to_dict()

    @app.delete("/v1/people/{name}")
    def remove(request: Request, name: str) -> dict[str, Any]:
        authorise(request.headers.get("x-api-key"), client_of(request))
        if not gallery().remove(name):
            raise HttpError(404, f"no one named {name!r} is enrolled")
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

        authorise(request.headers.get("x-api-key"), client_of(request))
        q = EventQuery(
            since=since, until=until, identity=identity, emotion=emotion, limit=limit, newest_first=order == "newest"
        )
        return gallery().events(q, alerts=alerts)

    from emolens.serve.stats import stats_router  # GET /v1/stats: DP histograms charged to the gallery's budget

    app.include_router(stats_router(gallery, lambda r: authorise(r.headers.get("x-api-key"), client_of(r))))

    async def accept_ws(ws: WebSocket) -> bool:
        """Check the key (header, or ``?key=``) and the rate; accept the socket, or close it with the reason."""
        try:
            authorise(ws.headers.get("x-api-key") or ws.query_params.get("key"), ws.client.host if ws.client else "?")
        except HttpError as e:
            await ws.close(code=1008, reason=e.message)
            return False
        await ws.accept()
        return True

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket, identify: bool = False, events: bool = False) -> None:
        """``?identify=true`` names the tracks from the gallery; ``?events=true`` also logs them (one row per
        person per second, source ``stream:<client>``) to the event log that ``GET /v1/events`` reads."""
        if await accept_ws(ws):
            analyzer = source_analyzer() if identify or events else stream_analyzer()
            log_as = f"stream:{ws.client.host if ws.client else '?'}" if events else None
            await _run_stream(ws, cfg, analyzer, stream_frames, log_as)

    def stream_analyzer() -> Analyzer:
        return loaded("stream-analyzer", lambda: Analyzer(cfg.stream_detector, threads=cfg.threads))

    def source_analyzer() -> Analyzer:  # the stream's models, plus the gallery for identities and events
        return loaded("source-analyzer", lambda: stream_analyzer().with_identity(gallery()))

    from emolens.serve.dashboard import mount_dashboard

    mount_dashboard(app, cfg, accept_ws=accept_ws, analyzer=source_analyzer, counter=stream_frames)
    return app


async def _run_stream(ws: WebSocket, cfg: ServeConfig, analyzer: Any, counter: Any, log_as: str | None) -> None:
    """One WebSocket: frames in, per-frame results out, through the library's live video pipeline; with
    ``log_as``, each track's emotion once a second into the gallery's event log under that source name."""
    import cv2

    from emolens.identity.events import EventLogger
    from emolens.video.sources import PushSource

    logger = EventLogger(analyzer.gallery.store, interval_s=1.0, flush_s=2.0) if log_as and analyzer.gallery else None
    source = PushSource("websocket")
    run = analyzer.analyze_video(source, live=True)
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def consume() -> None:
        try:
            for result in run:
                if logger is not None:
                    logger.log_frame(log_as, result)
                loop.call_soon_threadsafe(outbox.put_nowait, result.to_dict())
        except (VideoError, EmolensError) as e:
            loop.call_soon_threadsafe(outbox.put_nowait, {"error": str(e)})
        finally:
            if logger is not None:
                logger.close()
            loop.call_soon_threadsafe(outbox.put_nowait, None)

    worker = threading.Thread(target=consume, name="emolens-ws", daemon=True)
    worker.start()

    async def sender() -> None:
        while True:
            item = await outbox.get()
            if item is None:
                return
            try:
                await ws.send_json(item)
            except (RuntimeError, WebSocketDisconnect):  # the client has gone; keep draining
                continue
            counter.labels("analysed").inc()

    send_task = asyncio.create_task(sender())
    try:
        while True:
            msg = await ws.receive()
            if msg.get("type") == "websocket.disconnect":
                break
            data = msg.get("bytes")
            if data is None:
                if (msg.get("text") or "").strip().lower() == "end":
                    break
                await ws.send_json({"error": "send frames as binary JPEG or PNG messages"})
                continue
            if len(data) > cfg.max_upload_bytes:
                await ws.send_json({"error": f"frame larger than {cfg.max_upload_bytes} bytes"})
                counter.labels("rejected").inc()
                continue
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None or bgr.shape[0] * bgr.shape[1] > cfg.max_pixels:
                await ws.send_json({"error": "frame is not a decodable JPEG/PNG image of an accepted size"})
                counter.labels("rejected").inc()
                continue
            counter.labels("received").inc()
            await asyncio.to_thread(source.push, np.ascontiguousarray(bgr[..., ::-1]))
    except WebSocketDisconnect:
        pass
    finally:
        source.end()
        await asyncio.to_thread(worker.join, 10)
        run.close()
        await send_task
        counter.labels("dropped").inc(run.stats.frames_dropped)
    try:
        await ws.close()
    except RuntimeError:
        pass


__all__ = ["ConfigError", "GalleryError", "HttpError", "ImageError", "ServeConfig", "create_app"]
