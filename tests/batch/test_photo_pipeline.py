"""Photos in a pipeline (``Analyzer(workers=N)``): same results, same order and same error reporting as one by one."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from emolens import Analyzer
from emolens.errors import ConfigError, ImageError
from emolens.io.inputs import expand_inputs


def _summary(results) -> list[tuple]:
    out = []
    for r in results:
        boxes = tuple(tuple(round(v, 2) for v in (f.box.x1, f.box.y1, f.box.x2, f.box.y2)) for f in r.faces)
        out.append((r.source, r.error, r.width, r.height, boxes, tuple(f.label for f in r.faces)))
    return out


@pytest.fixture(scope="module")
def serial() -> Analyzer:
    return Analyzer(threads=1)


@pytest.fixture(scope="module")
def piped() -> Analyzer:
    return Analyzer(threads=1, workers=2)


def test_the_default_detector_is_yunet(serial) -> None:
    assert serial.detector_name == "yunet" and serial.workers == 1


def test_pipeline_gives_the_serial_results_in_input_order(tmp_path: Path, photos, bad_inputs, serial, piped) -> None:
    # Good and bad photos interleaved, more of them than one emotion batch and than the read-ahead window.
    items = [photos[0], bad_inputs["text"], photos[2], photos[1], bad_inputs["corrupt"]] * 3 + [photos[0]]
    want = _summary(serial.iter_analyze([str(p) for p in items], batch_size=4))
    got_results = list(piped.iter_analyze([str(p) for p in items], batch_size=4))
    got = _summary(got_results)
    assert got == want
    assert [r.source for r in got_results] == [str(p) for p in items]
    assert [len(r.faces) for r in got_results[:5]] == [2, 0, 25, 0, 0]
    assert [r.ok for r in got_results[:5]] == [True, False, True, True, False]
    # the probabilities too, not only the labels (the same crops reach the same model)
    for a, b in zip(serial.iter_analyze([str(photos[2])]), got_results[2:3], strict=True):
        np.testing.assert_allclose([f.emotions.probs for f in a], [f.emotions.probs for f in b], atol=1e-5)


def test_pipeline_keeps_expand_inputs_errors_and_analyze_batch(tmp_path: Path, photos, piped) -> None:
    items = list(expand_inputs([str(photos[0]), str(tmp_path / "missing.jpg"), str(photos[1])]))
    results = list(piped.iter_analyze(items, with_images=True))
    assert [r.ok for r, _ in results] == [True, False, True]
    assert results[0][1] is not None and results[1][1] is None
    batch = piped.analyze_batch([str(photos[0]), str(photos[1])])
    assert [len(r.faces) for r in batch] == [2, 0]
    with pytest.raises(ImageError):
        piped.analyze_batch([str(photos[0]), str(tmp_path / "missing.jpg")], raise_errors=True)


def test_pipeline_runs_detection_in_worker_threads_and_loads_models_once(photos) -> None:
    analyzer = Analyzer(threads=1, workers=2)
    assert analyzer.stages._detector is None and analyzer.stages._emotion is None  # lazy: nothing loaded yet
    seen: set[str] = set()
    detect = analyzer.detect

    def spy(rgb):
        seen.add(threading.current_thread().name)
        return detect(rgb)

    analyzer.detect = spy  # type: ignore[method-assign]
    first = analyzer.stages._detector
    results = list(analyzer.iter_analyze([str(photos[0])] * 6, batch_size=2))
    assert len(results) == 6 and all(len(r.faces) == 2 for r in results)
    assert seen and all(name.startswith("emolens-photo") for name in seen)
    assert first is None and analyzer.stages._detector is not None


def test_pipeline_stops_cleanly_when_the_caller_stops_early(photos, piped) -> None:
    stream = piped.iter_analyze([str(photos[0])] * 50, batch_size=2)
    assert len(next(stream).faces) == 2
    stream.close()  # cancels what is queued; the worker threads finish and exit
    assert not [t for t in threading.enumerate() if t.name.startswith("emolens-photo")]


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts_are_config_errors(workers) -> None:
    with pytest.raises(ConfigError, match="workers"):
        Analyzer(workers=workers)
