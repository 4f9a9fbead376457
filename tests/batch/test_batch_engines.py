"""Engines: a worker that dies is reported for its chunk and replaced; the runner isolates the input that kills it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from emolens.batch import run_batch, runner
from emolens.batch.engines import Finished, ProcessEngine, create_engine
from emolens.batch.plan import Chunk, plan_inputs
from emolens.batch.work import WorkerOptions


def test_killed_worker_process_is_reported_and_replaced(clip: Path, photos: list[Path]) -> None:
    engine = ProcessEngine(WorkerOptions(detector="blazeface", threads=1), workers=1)
    engine.start()
    try:
        video = Chunk(plan_inputs([clip]).items)
        engine.submit(video)
        os.kill(engine._procs[0].proc.pid, signal.SIGKILL)  # a 138-frame clip cannot be done yet
        (finished,) = engine.wait()
        assert finished.chunk == video and finished.result is None
        assert finished.crash == "worker process local-0 died (killed by SIGKILL)"
        assert engine.idle == 1
        engine.submit(Chunk(plan_inputs(photos).items))  # the replacement works
        (finished,) = engine.wait()
        assert finished.crash is None and finished.result.worker == "local-1"
        assert [o.faces > 0 for o in finished.result.outcomes] == [True, False, True]
    finally:
        engine.close()
    assert engine._procs == []


def test_input_that_kills_its_worker_is_isolated(monkeypatch, tmp_path: Path, photos, fast, read_faces) -> None:
    poison = photos[2]
    poison_id = plan_inputs([poison]).items[0].id
    crashes: list[int] = []

    class PoisonEngine:
        """The real engine, except that a chunk holding the poison input 'crashes' its worker."""

        def __init__(self, inner) -> None:
            self.inner, self.crashed = inner, []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def submit(self, chunk: Chunk) -> None:
            if any(it.id == poison_id for it in chunk.items):
                crashes.append(len(chunk.items))
                self.crashed.append(chunk)
            else:
                self.inner.submit(chunk)

        @property
        def idle(self) -> int:
            return self.inner.idle - len(self.crashed)

        def wait(self) -> list[Finished]:
            if self.crashed:
                return [Finished(self.crashed.pop(), crash="boom")]
            return self.inner.wait()

    real = runner.create_engine
    monkeypatch.setattr(runner, "create_engine", lambda *a, **k: PoisonEngine(real(*a, **k)))
    monkeypatch.setattr(runner, "CALLS_PER_WORKER", 1)  # keep the three photos in one chunk
    out = tmp_path / "out"
    summary = run_batch(photos, out, chunk_size=3, **fast)
    assert crashes == [3, 1]  # the chunk, then the poison alone; the other two ran again alone and finished
    assert (summary.done, summary.failed) == (2, 1)
    (failure,) = summary.failures
    assert failure.source == str(poison) and failure.error == "the worker died analysing this input: boom"
    assert set(read_faces(out)["source"]) == {str(photos[0])}  # landscape has no face


def test_threads_are_shared_out_among_local_workers(monkeypatch) -> None:
    from emolens.batch import engines

    monkeypatch.setattr(engines, "available_cores", lambda: 8)
    options = WorkerOptions()
    assert create_engine("local", options).threads == 8
    assert create_engine("local", options, workers=3).threads == 2
    assert create_engine("local", options, workers=16).threads == 1
    assert create_engine("local", options, workers=2, threads=3).threads == 3


def test_missing_pyarrow_names_the_extra(monkeypatch, tmp_path: Path, photos) -> None:
    import sys

    from emolens.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'emolens\[batch\]'"):
        run_batch(photos[:1], tmp_path / "out", detector="blazeface")


def test_short_runs_get_smaller_chunks(monkeypatch, tmp_path: Path, photos, fast) -> None:
    sizes: list[int] = []
    real = runner.make_chunks
    monkeypatch.setattr(runner, "make_chunks", lambda items, size: sizes.append(size) or real(items, size))
    run_batch(photos, tmp_path / "a", chunk_size=8, **fast)
    assert sizes == [1]  # 3 photos, 1 worker: 8 calls wanted, so one photo a call
    copies = []
    for k in range(40):
        copies.append(tmp_path / "in" / f"{k}.jpg")
        copies[-1].parent.mkdir(exist_ok=True)
        copies[-1].write_bytes(photos[1].read_bytes())
    run_batch(copies, tmp_path / "b", chunk_size=4, **fast)
    assert sizes[-1] == 4  # 40 photos: ceil(40 / 8) = 5, capped at --chunk-size
