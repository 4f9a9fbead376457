"""``GET /v1/events``: the gallery's event log (what the streams and the server source logged), and its alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from emolens.identity import EventQuery
from emolens.serve.deps import State

router = APIRouter()


@router.get("/v1/events")
def events(
    state: State,
    identity: str | None = None,
    emotion: str | None = None,
    since: float | None = Query(None, description="Unix time"),
    until: float | None = Query(None, description="Unix time"),
    limit: int = Query(1000, ge=1, le=100_000),
    alerts: bool = False,
    order: str = Query("oldest", pattern="^(oldest|newest)$", description="oldest or newest first"),
) -> list[dict[str, Any]]:
    q = EventQuery(
        since=since, until=until, identity=identity, emotion=emotion, limit=limit, newest_first=order == "newest"
    )
    return state.gallery().events(q, alerts=alerts)
