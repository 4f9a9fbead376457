"""The web dashboard: its static page, and ``WS /v1/source`` for the server-side source.

- ``GET /`` redirects to ``GET /dashboard``, a static page (``static/index.html``, ``style.css`` and the
  JavaScript modules ``app.js``, ``common.js``, ``draw.js``, ``gallery.js``, bundled in the package: no CDN, no
  external fonts, no inline script). The page needs no key; the API calls
  it makes send the key the user typed (``X-API-Key``, or ``?key=`` on a WebSocket).
- ``WS /v1/source`` sends what the server-side source shows (:class:`emolens.serve.source.SourceHub`): for each
  analysed frame, a JSON text message (``FrameResult.to_dict()`` plus ``source``) followed by a binary message
  with the frame as JPEG. The source is chosen by the operator at startup (``emolens serve --source
  PATH|INDEX|URL``); a client cannot name one, so the server never opens a URL a client gave it. Without
  ``--source`` the socket is accepted, told ``{"error": ...}`` and closed with code 4404 and the same line as
  reason.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from fastapi import APIRouter, WebSocket
from fastapi.responses import RedirectResponse, Response

from emolens.serve.deps import GONE, accept_ws, get_state
from emolens.serve.errors import NotFoundError
from emolens.serve.source import SourceHub
from emolens.serve.state import ServeState

__all__ = ["NO_SOURCE", "NO_SOURCE_CODE", "asset", "router"]

#: The line a ``/v1/source`` client gets when the server was started without ``--source``.
NO_SOURCE = "no server source: the operator starts one with `emolens serve --source PATH|INDEX|URL`"
NO_SOURCE_CODE = 4404

_JS = "text/javascript; charset=utf-8"
_ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": _JS,  # the page's one script: a module that imports the three below
    "common.js": _JS,
    "draw.js": _JS,
    "gallery.js": _JS,
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

router = APIRouter()


def asset(name: str) -> bytes:
    """The bytes of one bundled dashboard file (``index.html``, ``app.js``, ``style.css``, ...)."""
    return resources.files("emolens.serve").joinpath("static", name).read_bytes()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard", include_in_schema=False)
def dashboard() -> Response:
    return Response(asset("index.html"), media_type=_ASSETS["index.html"], headers=_HEADERS)


@router.get("/dashboard/{name}", include_in_schema=False)
def dashboard_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFoundError(f"no dashboard file named {name!r}")
    return Response(asset(name), media_type=_ASSETS[name], headers=_HEADERS)


@router.websocket("/v1/source")
async def source(ws: WebSocket) -> None:
    state = get_state(ws)
    if not await accept_ws(ws, state):
        return
    if state.source_hub is None:
        await ws.send_json({"error": NO_SOURCE})
        await ws.close(code=NO_SOURCE_CODE, reason=NO_SOURCE)
        return
    await _watch(ws, state.source_hub, state)


async def _watch(ws: WebSocket, hub: SourceHub, state: ServeState) -> None:
    """Send the hub's frames to one viewer until either side ends (the client may send the text ``end``)."""
    counter = state.metrics.stream_frames
    viewer = hub.subscribe(asyncio.get_running_loop())

    async def client_gone() -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect" or (msg.get("text") or "").strip().lower() == "end":
                    return
        except GONE:
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
            item = wait.result()
            if isinstance(item, dict):  # the last message: the source ended, or failed
                await ws.send_json(item)
                code, reason = (1011, item["error"]) if "error" in item else (1000, item.get("end", ""))
                break
            if item is None:
                continue
            message, jpeg = item
            await ws.send_json(message)
            await ws.send_bytes(jpeg)
            counter.labels("source-sent").inc()
    except GONE:  # the client has gone
        return
    finally:
        hub.unsubscribe(viewer)
        gone.cancel()
        counter.labels("source-skipped").inc(viewer.skipped)
    try:
        await ws.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))  # the protocol's limit
    except GONE:  # the client went first
        pass
