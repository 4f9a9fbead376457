"""``GET /healthz`` (version, models loaded) and ``GET /metrics`` (Prometheus text); neither needs a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from emolens import __version__
from emolens.serve.deps import State

router = APIRouter()


@router.get("/healthz")
def healthz(state: State) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "models_loaded": state.models_loaded()}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(state: State) -> PlainTextResponse:
    return PlainTextResponse(state.metrics.text(), media_type="text/plain; version=0.0.4")
