"""``WS /v1/stream``: the client sends JPEG/PNG frames as binary messages; each analysed frame comes back as JSON
(``FrameResult.to_dict()``: track ids, raw and smoothed emotions). Frames the server cannot keep up with are
dropped (oldest first) and counted (``emolens_stream_frames_total{outcome="dropped"}``).

``?identify=true`` names the tracks from the gallery; ``?events=true`` also logs them (one row per person per
second, source ``stream:<client>``) to the event log that ``GET /v1/events`` reads; ``?attention=true`` adds head
pose, eyes, mouth and attention to every face (:mod:`emolens.attention`). The client may send the text ``end``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import APIRouter, WebSocket

from emolens.analyzer import Analyzer
from emolens.errors import EmolensError, ImageError
from emolens.io.images import load_image
from emolens.serve.deps import GONE, accept_ws, get_state
from emolens.serve.state import ServeState
from emolens.session import Session, SessionConfig
from emolens.video.sources import PushSource

__all__ = ["router"]

router = APIRouter()


@router.websocket("/v1/stream")
async def stream(ws: WebSocket, identify: bool = False, events: bool = False, attention: bool = False) -> None:
    state = get_state(ws)
    if await accept_ws(ws, state):
        analyzer = state.source_analyzer() if identify or events else state.stream_analyzer()
        log_as = f"stream:{state.guard.client_address(ws.scope)}" if events else None
        await _run_stream(ws, state, analyzer, log_as, attention)


async def _run_stream(
    ws: WebSocket, state: ServeState, analyzer: Analyzer, log_as: str | None, attention: bool
) -> None:
    """One WebSocket: frames in, per-frame results out, through one live :class:`~emolens.session.Session`;
    with ``log_as``, each track's emotion once a second into the gallery's event log under that source name."""
    cfg, counter, faces = state.cfg, state.metrics.stream_frames, state.metrics.faces
    source = PushSource("websocket")
    session = Session(
        analyzer,
        source,
        SessionConfig(
            live=True,
            attention=attention or None,
            log_events=log_as is not None,
            event_flush_s=2.0,
            source_name=log_as,
        ),
    )
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def consume() -> None:
        try:
            with session:
                for step in session:
                    faces.inc(len(step.result.faces))
                    loop.call_soon_threadsafe(outbox.put_nowait, step.result.to_dict())
        except EmolensError as e:
            loop.call_soon_threadsafe(outbox.put_nowait, {"error": e.message})
        finally:
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
        except GONE:
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
            except GONE:
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
        try:
            summary = session.close()  # the worker closed it (flushing the events) unless it is stuck
        except EmolensError:  # said to the client by the worker already
            summary = None
        await send_task
        if summary is not None:
            counter.labels("dropped").inc(summary.stats.frames_dropped)
    if not gone:
        try:
            await ws.close()
        except GONE:
            pass
