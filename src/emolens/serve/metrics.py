"""The service's Prometheus metrics (``GET /metrics``) and the middleware that counts and times each request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match

__all__ = ["Metrics", "route_path"]


class Metrics:
    """One registry per app (several apps in one process, as in the tests, do not share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("emolens_requests", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram(
            "emolens_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5),
            registry=r,
        )
        self.faces = Counter("emolens_faces", "Faces analysed", registry=r)
        self.in_flight = Gauge("emolens_in_flight_requests", "Requests being handled (queue depth)", registry=r)
        self.load_time = Gauge("emolens_model_load_seconds", "Time to load each model", ["model"], registry=r)
        self.stream_frames = Counter("emolens_stream_frames", "WebSocket frames", ["outcome"], registry=r)

    def text(self) -> str:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry).decode()

    def observe(self, app: FastAPI) -> Callable[[Request, Any], Awaitable[Response]]:
        """An HTTP middleware for ``app``: requests in flight, and each request's count and time by route."""

        async def observe(request: Request, call_next: Any) -> Response:
            t = time.perf_counter()
            self.in_flight.inc()
            try:
                response = await call_next(request)
            finally:
                self.in_flight.dec()
            path = route_path(app, request.scope)
            self.requests.labels(path, str(response.status_code)).inc()
            self.latency.labels(path).observe(time.perf_counter() - t)
            return response

        return observe


def route_path(app: FastAPI, scope: Any) -> str:
    """The route template a request matched (``/v1/people/{name:path}``, ``/docs``), for metric labels; routes
    that Starlette matches without putting themselves in the scope are found again; "unmatched" for a 404."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    for candidate in app.router.routes:
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"
