"""The timing helper behind every speed figure: warm-up calls are not timed, and both limits hold."""

import time

from emolens.evaluate.timing import median_seconds


def test_median_counts_only_timed_calls_after_warm_up():
    calls = []
    med, runs = median_seconds(lambda: calls.append(1), min_runs=5, warmup=2)
    assert runs == 5 and len(calls) == 7
    assert 0 <= med < 0.01


def test_timing_runs_for_at_least_the_seconds_given():
    t0 = time.perf_counter()
    med, runs = median_seconds(lambda: time.sleep(0.01), seconds=0.1, min_runs=1, warmup=0)
    assert time.perf_counter() - t0 >= 0.1
    assert runs >= 5 and 0.009 < med < 0.05
