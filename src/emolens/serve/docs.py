"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from this process, with no CDN: they work offline.

The JavaScript and CSS come from the ``fastapi-offline`` package (its ``static/`` folder: ``swagger-ui-bundle.js``,
``swagger-ui.css``, ``redoc.standalone.js``, ``favicon.png``), served under ``/docs/assets/``. The pages are
FastAPI's own (``get_swagger_ui_html``, ``get_redoc_html``) pointed at those files, each with a
Content-Security-Policy of ``'self'`` only: Swagger UI's one inline start-up script is allowed by its sha256,
nothing else inline runs; ReDoc needs inline styles (it writes its CSS at run time) and a ``blob:`` worker.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS", "docs_policy", "mount_docs", "redoc_policy"]

#: The files served under ``/docs/assets/`` and their content types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_PREFIX = "/docs/assets/"
_COMMON = "default-src 'none'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def docs_policy(html: str) -> str:
    """Swagger UI's policy: scripts and styles from this server, the page's inline scripts by their sha256."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    return f"{_COMMON}; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:"


def redoc_policy() -> str:
    """ReDoc's policy: its script from this server; inline styles (written at run time) and a blob: worker."""
    return f"{_COMMON}; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src blob:"


def _asset(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def mount_docs(app: FastAPI, title: str) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to an app created with ``docs_url=None, redoc_url=None``."""
    openapi = app.openapi_url or "/openapi.json"
    swagger_response = get_swagger_ui_html(
        openapi_url=openapi,
        title=f"{title} - Swagger UI",
        swagger_js_url=_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=_PREFIX + "swagger-ui.css",
        swagger_favicon_url=_PREFIX + "favicon.png",
    )
    redoc_response = get_redoc_html(
        openapi_url=openapi,
        title=f"{title} - ReDoc",
        redoc_js_url=_PREFIX + "redoc.standalone.js",
        redoc_favicon_url=_PREFIX + "favicon.png",
        with_google_fonts=False,
    )
    swagger, redoc = bytes(swagger_response.body).decode(), bytes(redoc_response.body).decode()
    swagger_headers = {"Content-Security-Policy": docs_policy(swagger)}
    redoc_headers = {"Content-Security-Policy": redoc_policy()}
    cache: dict[str, bytes] = {}

    @app.get("/docs", include_in_schema=False)
    def swagger_page() -> HTMLResponse:
        return HTMLResponse(swagger, headers=swagger_headers)

    @app.get("/redoc", include_in_schema=False)
    def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc, headers=redoc_headers)

    @app.get(_PREFIX + "{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(b'{"error": "no such file"}', status_code=404, media_type="application/json")
        if name not in cache:
            cache[name] = _asset(name)
        return Response(cache[name], media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})
