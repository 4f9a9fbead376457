"""``GET /v1/stats`` lives in :mod:`emolens.serve.routes.stats`; this name stays importable."""

from emolens.serve.routes.stats import stats_router

__all__ = ["stats_router"]
