"""Errors of the service and the one table that turns an exception's type into an HTTP status.

Every error a handler meets is answered as ``{"error": "one line"}`` by its type (:data:`STATUS`, looked up
along the exception's class hierarchy, nearest class first): 4xx for what the client sent, with the error's own
line; 5xx for what the server cannot do, with :data:`UNAVAILABLE` (the details, which may hold a server path, go
to the server's log only); 500 with the exception's type only for anything unexpected, never a traceback.

Routes raise the library's typed errors (:mod:`emolens.errors`) as they come, or one of the request errors
below when the status depends on what the request was (an upload of the wrong type, a name that is not enrolled).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from emolens.errors import (
    AudioError,
    ConfigError,
    EmolensError,
    GalleryError,
    ImageError,
    MissingExtraError,
    ModelError,
    PrivacyBudgetError,
    TextError,
    VideoError,
)

__all__ = [
    "STATUS",
    "UNAVAILABLE",
    "BadRequestError",
    "NotFoundError",
    "RequestError",
    "TooLargeError",
    "UnavailableError",
    "UnprocessableError",
    "UnsupportedTypeError",
    "error_response",
    "install_error_handlers",
    "one_line",
    "status_of",
]

log = logging.getLogger("emolens.serve")

#: What a client is told when the server cannot do its part (the server's log has the details).
UNAVAILABLE = "the service cannot do this right now (a server-side fault; the server's log says why)"


class RequestError(Exception):
    """A request the service refuses; one line for the client (no server path), extra response headers."""

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.headers = message, headers


class BadRequestError(RequestError):
    """What the client sent cannot be used (an image that does not decode)."""


class NotFoundError(RequestError):
    """The request names something that does not exist (a person not enrolled, a dashboard file)."""


class TooLargeError(RequestError):
    """An upload, or a count of uploads, over the server's limit."""


class UnsupportedTypeError(RequestError):
    """An upload whose content type the route does not take."""


class UnprocessableError(RequestError):
    """Well-formed, but not usable for what was asked (a photo without a face to verify, a bad name)."""


class UnavailableError(RequestError):
    """The server cannot do its part; the message is written for the client and names no server path."""


#: The one mapping from an exception's type to the HTTP status of its answer.
STATUS: dict[type[BaseException], int] = {
    BadRequestError: 400,
    NotFoundError: 404,
    TooLargeError: 413,
    UnsupportedTypeError: 415,
    UnprocessableError: 422,
    UnavailableError: 503,
    RequestValidationError: 422,
    # The library's errors about what the client sent: 4xx with their one line.
    ImageError: 400,
    ConfigError: 400,
    TextError: 400,
    AudioError: 400,
    PrivacyBudgetError: 403,
    # Faults of the server's own files, models, packages or sources: 503 with UNAVAILABLE, logged in one line.
    GalleryError: 503,
    VideoError: 503,
    ModelError: 503,
    MissingExtraError: 503,
    EmolensError: 503,
    sqlite3.Error: 503,
    OSError: 503,
}


def status_of(e: BaseException) -> int:
    """The HTTP status of ``e`` by :data:`STATUS` (nearest class of its hierarchy first); 500 when none matches."""
    for kind in type(e).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def one_line(text: str, limit: int = 100) -> str:
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


def error_response(e: Exception, where: str = "") -> JSONResponse:
    """``{"error": ...}`` with the status of ``e``'s type; a server-side fault is logged (with ``where``)."""
    status = status_of(e)
    headers = e.headers if isinstance(e, RequestError) else None
    if isinstance(e, RequestError):
        message = e.message
    elif isinstance(e, RequestValidationError):
        message = _validation_message(e.errors())
    elif status == 500:  # never a traceback to the client
        message = f"internal error ({type(e).__name__})"
    elif status >= 500:
        log.warning("%s: server-side fault: %s: %s", where or "request", type(e).__name__, e)
        message = UNAVAILABLE
    else:  # the message only: a source may be a server path
        message = e.message if isinstance(e, EmolensError) else str(e)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every type of :data:`STATUS` (and Starlette's own HTTP errors, and anything else) by the table."""

    async def mapped(request: Request, e: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return error_response(e, f"{request.method} {route}")

    for kind in STATUS:
        app.add_exception_handler(kind, mapped)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, mapped)

    async def starlette_error(_: Request, e: StarletteHTTPException) -> JSONResponse:  # 404, 405, 413 while read
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    app.add_exception_handler(StarletteHTTPException, starlette_error)  # type: ignore[arg-type]
