"""The Ray engine, for real, on a local Ray instance (2 CPUs): the same rows as the local engine, a dead actor
reported for its chunk and replaced, and a clear error without Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from emolens.batch import run_batch
from emolens.batch.plan import Chunk, plan_inputs
from emolens.batch.ray_engine import RayEngine
from emolens.batch.work import WorkerOptions
from emolens.errors import MissingExtraError


def test_ray_gives_the_same_rows_as_local(
    ray_local, tmp_path: Path, photos, clip, bad_inputs, fast, read_faces
) -> None:
    inputs = [*photos, clip, bad_inputs["corrupt"]]
    local, ray = tmp_path / "local", tmp_path / "ray"
    expected = run_batch(inputs, local, video_stride=5, **fast)
    summary = run_batch(inputs, ray, engine="ray", workers=2, chunk_size=1, video_stride=5, **fast)
    assert (summary.engine, summary.workers, summary.threads) == ("ray", 2, 1)
    assert (
        (summary.done, summary.failed, summary.faces) == (expected.done, expected.failed, expected.faces) == (4, 1, 30)
    )
    assert summary.failures[0].source == str(bad_inputs["corrupt"])
    pd.testing.assert_frame_equal(read_faces(ray), read_faces(local), check_exact=False, atol=2e-4)
    assert set(pd.read_parquet(ray / "inputs")["worker"]) <= {"ray-0", "ray-1"}
    assert ray_local.is_initialized()  # an instance it did not start is left running
    again = run_batch(inputs, ray, engine="ray", workers=2, video_stride=5, **fast)
    assert (again.skipped, again.done) == (4, 0)


def test_dead_actor_is_reported_for_its_chunk_and_replaced(ray_local, clip: Path, photos) -> None:
    engine = RayEngine(WorkerOptions(detector="blazeface", threads=1), workers=1)
    engine.start()
    try:
        video = Chunk(plan_inputs([clip]).items)
        engine.submit(video)
        ray_local.kill(engine._actors[0], no_restart=True)
        (finished,) = engine.wait()
        assert finished.chunk == video and finished.result is None
        assert finished.crash.startswith("Ray worker died")
        engine.submit(Chunk(plan_inputs(photos).items))
        (finished,) = engine.wait()
        assert finished.crash is None and finished.result.worker == "ray-1"
        assert [o.ok for o in finished.result.outcomes] == [True, True, True]
    finally:
        engine.close()


def test_without_ray_the_error_names_the_extra(monkeypatch, tmp_path: Path, photos) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"'ray' package: pip install 'emolens\[batch\]'"):
        run_batch(photos, tmp_path / "out", engine="ray")
    assert not (tmp_path / "out").exists()
