"""Timing a call the way every speed figure in emolens is taken: warm-up calls first, then the median of timed
calls (the median, because a shared machine adds long outliers that a mean would carry)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def median_seconds(
    fn: Callable[[], object], *, seconds: float = 0.0, min_runs: int = 3, warmup: int = 1
) -> tuple[float, int]:
    """Median wall time of ``fn()`` over at least ``min_runs`` calls and at least ``seconds`` of timing, after
    ``warmup`` untimed calls; returns (median seconds, number of timed calls)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), len(times)
