"""What routes share: the app's :class:`~emolens.serve.state.ServeState` as a dependency, uploads read within the
server's limits, and the WebSocket handshake checks."""

from __future__ import annotations

import logging
from typing import Annotated

import numpy as np
from fastapi import Depends, UploadFile, WebSocket, WebSocketDisconnect
from starlette.requests import HTTPConnection

from emolens.errors import ImageError
from emolens.io.images import load_image
from emolens.serve.errors import BadRequestError, TooLargeError, UnsupportedTypeError, one_line
from emolens.serve.guard import RefusedError
from emolens.serve.state import ServeState

__all__ = ["GONE", "State", "accept_ws", "get_state", "image_rgb", "read_upload"]

log = logging.getLogger("emolens.serve")
_IMAGE_TYPES = ("image/", "application/octet-stream")

#: What sending to or receiving from a socket whose client has gone raises (Starlette, uvicorn, the protocol).
GONE = (WebSocketDisconnect, RuntimeError, OSError)


def get_state(conn: HTTPConnection) -> ServeState:
    """The state of the app that received the request or socket (set by :func:`emolens.serve.app.create_app`)."""
    state: ServeState = conn.app.state.serve
    return state


#: A route's parameter ``state: State`` receives the app's :class:`ServeState`.
State = Annotated[ServeState, Depends(get_state)]


def read_upload(state: ServeState, upload: UploadFile, field_name: str) -> bytes:
    """The bytes of an image upload: an image content type (415), at most ``max_upload_bytes`` (413), not empty."""
    ctype = (upload.content_type or "application/octet-stream").lower()
    if not ctype.startswith(_IMAGE_TYPES):
        raise UnsupportedTypeError(f"{field_name}: expected an image upload, got content type {ctype}")
    limit = state.cfg.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"{field_name}: upload larger than {limit} bytes")
    if not data:
        raise BadRequestError(f"{field_name}: empty upload")
    return data


def image_rgb(state: ServeState, upload: UploadFile, field_name: str = "image") -> np.ndarray:
    """An image upload decoded by the one loader (``max_pixels`` checked from the header first), as RGB."""
    data = read_upload(state, upload, field_name)
    name = upload.filename or field_name
    try:
        return load_image(data, max_pixels=state.cfg.max_pixels, source=name).rgb
    except ImageError as e:
        raise BadRequestError(f"{one_line(name)}: {e.message}") from None


async def accept_ws(ws: WebSocket, state: ServeState) -> bool:
    """Check host, Origin, key (header, or ``?key=``) and rate; accept the socket, or refuse the handshake
    (HTTP 403 to the client; the reason goes to the server's log at debug level)."""
    try:
        state.guard.check_websocket(ws.scope)
    except RefusedError as e:
        log.debug("websocket %s refused: %s", ws.url.path, e.message)
        await ws.close(code=1008, reason=e.message)
        return False
    await ws.accept()
    return True
