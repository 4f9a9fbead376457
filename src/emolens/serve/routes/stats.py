"""``GET /v1/stats``: differentially private histograms of the gallery's event log.

``/v1/stats?by=emotion&epsilon=0.5&max_per_person=10[&since=&until=]`` returns noisy counts per bin (OpenDP's
discrete Laplace, each person's contribution bounded), charged to the gallery's privacy budget; a query over
the budget is refused with 403 and one line (the status of :class:`~emolens.errors.PrivacyBudgetError` in
:data:`emolens.serve.errors.STATUS`). Each query is written to the audit log with the client's address.
Registered by the app with ``app.include_router(stats_router(gallery, client))``; the app's guard has checked
the key, the rate and the Origin before a request reaches it, as for every ``/v1/`` route. The route answers its
errors itself, by the same table, so that the router also works in an app without the service's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request

from emolens.errors import EmolensError
from emolens.identity import EventQuery, Gallery
from emolens.privacy.release import private_histogram
from emolens.serve.errors import error_response


def stats_router(gallery: Callable[[], Gallery], client: Callable[[Request], str]) -> APIRouter:
    """The router; ``gallery()`` returns the server's loaded Gallery and ``client(request)`` names the caller for
    the budget ledger (the address the guard believes)."""
    router = APIRouter()

    @router.get("/v1/stats")
    def stats(
        request: Request,
        by: str = Query("emotion", pattern="^(emotion|hour|weekday)$"),
        epsilon: float = Query(..., ge=0.001, le=10, description="ε this release spends from the gallery's budget"),
        max_per_person: int = Query(10, ge=1, le=1000),
        since: float | None = Query(None, description="Unix time"),
        until: float | None = Query(None, description="Unix time"),
    ) -> Any:
        store = gallery().store
        who = f"service {client(request)}"
        rows = store.events(EventQuery(since=since, until=until))
        try:
            release = private_histogram(
                rows, by, epsilon, max_per_person, charge=lambda e, q: store.charge_privacy(e, f"/v1/stats {q}", who)
            )
        except EmolensError as e:  # over the budget: 403; a bad query: 400
            return error_response(e, "GET /v1/stats")
        return release.to_dict()

    return router
