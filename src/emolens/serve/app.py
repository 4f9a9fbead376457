"""The HTTP and WebSocket service: thin handlers over the library (``pip install 'emolens[serve]'``).

Routes (all JSON; errors are ``{"error": "one line"}``: 4xx for what the client sent, 5xx for what the server
cannot do, never a traceback and never a server path; the status comes from the error's type,
:data:`emolens.serve.errors.STATUS`), one router per resource under :mod:`emolens.serve.routes`:

- ``POST /v1/analyze`` (multipart ``image``): faces, boxes, landmarks, emotions (``routes/analyze.py``)
- ``POST /v1/verify`` (``a``, ``b``), ``POST /v1/identify`` (``image``), ``GET /v1/people``,
  ``POST /v1/people`` (``name`` + ``images``), ``DELETE /v1/people/{name}`` (``routes/identity.py``)
- ``GET /v1/events`` (``identity``, ``emotion``, ``since``, ``until``, ``limit``, ``alerts``, ``order``)
- ``GET /v1/stats`` (``by``, ``epsilon``, ``max_per_person``, ``since``, ``until``): DP histograms
- ``WS /v1/stream``: frames in, per-frame tracked results out (``routes/stream.py``)
- ``WS /v1/source``, ``GET /dashboard`` (``GET /`` redirects there): the web dashboard and the operator's
  ``--source`` (``routes/dashboard.py``)
- ``GET /healthz``, ``GET /metrics`` (Prometheus text), ``GET /openapi.json``, ``GET /docs``, ``GET /redoc``

API keys (``X-API-Key`` header, or ``?key=`` for the WebSocket) are required when the server was started with
``require_keys=True`` or, by default, when the key store says so (:attr:`emolens.serve.keys.KeyStore.required`:
on once a key was created, whatever happens to the keys later). Host, Origin, key, rate and size are checked
before a handler runs (:mod:`emolens.serve.guard`). The server never fetches URLs on a client's behalf and
stores no images (enrolment keeps embeddings only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from emolens.errors import ConfigError, MissingExtraError

try:
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(e.name or "fastapi", "serve") from None

from emolens import __version__
from emolens.registry import check_detector
from emolens.serve.config import ServeConfig
from emolens.serve.docs import mount_docs
from emolens.serve.errors import install_error_handlers
from emolens.serve.guard import Guard, GuardMiddleware, SecurityHeaders, is_loopback, parse_proxies
from emolens.serve.keys import KeyStore
from emolens.serve.metrics import Metrics
from emolens.serve.routes import analyze, dashboard, events, health, identity, stream
from emolens.serve.routes.stats import stats_router
from emolens.serve.state import ServeState

__all__ = ["ServeConfig", "create_app"]

log = logging.getLogger("emolens.serve")


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application; models load once, at the first request that needs them.

    Raises
    ------
    ConfigError
        A setting the server cannot start with: an unknown detector, a bad ``--trusted-proxy``, or no API keys
        on an address other machines can reach (unless ``allow_keyless_network``).
    """
    cfg = config or ServeConfig()
    guard = _guard(cfg)
    state = ServeState(cfg, guard, Metrics())
    app = FastAPI(
        title="emolens",
        version=__version__,
        description=(__doc__ or "").split("\n\n")[0],
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.serve = state
    app.add_middleware(GuardMiddleware, guard=guard)
    if cfg.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.middleware("http")(state.metrics.observe(app))
    app.add_middleware(SecurityHeaders)  # the outermost: every response, the guard's refusals included
    install_error_handlers(app)
    # For the routes below, host, Origin, key, rate and body size were checked by the guard (``/v1/`` routes).
    for module in (health, analyze, identity, events):
        app.include_router(module.router)
    app.include_router(stats_router(state.gallery, lambda r: guard.client_address(r.scope)))
    app.include_router(stream.router)
    mount_docs(app, "emolens")
    app.include_router(dashboard.router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, the server source's run ends and closes (its events flushed) before the process goes."""
    yield
    state: ServeState = app.state.serve
    if state.source_hub is not None:
        await asyncio.to_thread(state.source_hub.stop)


def _guard(cfg: ServeConfig) -> Guard:
    """The guard of ``cfg`` and its key store; refuses settings the server must not start with."""
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
    return guard
