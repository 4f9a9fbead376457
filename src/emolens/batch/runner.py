"""``run_batch``: plan the inputs, skip the finished ones, run the rest on an engine, commit the rows as they come.

The driver (the calling process) plans, schedules chunks, and is the only writer of the output folder; the
workers only analyse. Finished chunks are buffered and committed together (every ``commit_interval`` seconds,
or sooner when ``commit_rows`` face rows are waiting), so a killed run loses at most that much work and a
re-run with the same arguments picks up from the last commit. On an exception (Ctrl-C included) the chunks
already finished are committed before it propagates.

A chunk whose worker died is split: each of its inputs runs again alone, so one input that crashes the
worker (a decoder bug, out of memory) is reported as failed and the others are still done.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from emolens.batch.engines import ENGINES, Engine, Finished, create_engine
from emolens.batch.plan import Chunk, InputError, WorkItem, make_chunks, plan_inputs
from emolens.batch.store import BatchStore
from emolens.batch.work import ChunkResult, ItemOutcome, WorkerOptions
from emolens.emotion.classifier import DEFAULT_MODEL
from emolens.errors import ConfigError
from emolens.types.records import utf8_text

__all__ = ["BatchProgress", "BatchSummary", "Failure", "run_batch"]

#: A short run's chunks are made smaller so that each worker gets at least this many calls (load balance).
CALLS_PER_WORKER = 8


@dataclass(frozen=True)
class Failure:
    """An input that gave no rows: its source, its id, its kind (``None`` for an argument that named no file)
    and one line saying why."""

    source: str
    input_id: str
    kind: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": utf8_text(self.source), "input_id": self.input_id, "kind": self.kind, "error": self.error}


@dataclass(frozen=True)
class BatchProgress:
    """Where a run stands; ``run_batch`` passes one to ``on_progress`` when it starts and after each chunk.

    Attributes
    ----------
    stage : {"planned", "started", "running", "finished"}
        ``planned``: inputs found and finished ones skipped; ``started``: the workers have loaded their models.
    total : int
        Inputs to analyse in this run (found, minus those skipped as finished).
    done, failed : int
        Inputs of this run finished with rows, and failed.
    skipped : int
        Inputs finished by an earlier run.
    faces, frames : int
        Faces (rows) and analysed video frames so far in this run.
    elapsed : float
        Seconds since the workers were ready.
    failures : tuple of Failure
        Failures since the previous call (at ``planned``: the arguments that named no file).
    """

    stage: str
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    faces: int = 0
    frames: int = 0
    elapsed: float = 0.0
    failures: tuple[Failure, ...] = ()

    @property
    def completed(self) -> int:
        return self.done + self.failed


@dataclass(frozen=True)
class BatchSummary:
    """What a run did (``summary.json`` holds the same, from :meth:`to_dict`).

    ``failed`` counts the inputs that failed in this run and the arguments that named no file; ``seconds`` is
    the whole call; ``startup_seconds`` starting the engine (Ray, workers loading models); ``run_seconds``
    from the workers being ready to the last commit, the time ``items_per_second`` is measured over.
    ``done_total`` and ``faces_total`` count every input done in the folder, by this run and earlier ones.
    """

    out: str
    engine: str
    workers: int
    threads: int
    found: int
    skipped: int
    done: int
    failed: int
    faces: int
    frames: int
    seconds: float
    startup_seconds: float
    run_seconds: float
    complete: bool
    done_total: int
    faces_total: int
    ray_init_seconds: float | None = None
    failures: tuple[Failure, ...] = field(default=(), repr=False)

    @property
    def items_per_second(self) -> float:
        """Inputs analysed (done or failed in a worker) per second of ``run_seconds``."""
        analysed = self.done + sum(1 for f in self.failures if f.kind is not None)
        return analysed / self.run_seconds if self.run_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "failures"}
        for k in ("seconds", "startup_seconds", "run_seconds", "ray_init_seconds"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        d["items_per_second"] = round(self.items_per_second, 3)
        return d


def run_batch(
    inputs: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    workers: int | None = None,
    threads: int = 0,
    address: str | None = None,
    detector: str = "yunet",
    model: str = DEFAULT_MODEL,
    video_stride: int = 1,
    min_face: float = 0,
    max_faces: int | None = None,
    detector_options: dict[str, Any] | None = None,
    attention: bool | dict[str, Any] | None = None,
    chunk_size: int = 8,
    overwrite: bool = False,
    commit_interval: float = 10.0,
    commit_rows: int = 100_000,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> BatchSummary:
    """Analyse many photos and videos into partitioned Parquet under ``out``, resuming where a run stopped.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Files, folders (walked recursively for images and videos), ``.txt`` file lists and globs
        (:func:`emolens.batch.plan.plan_inputs`).
    out : str or os.PathLike
        The output folder (layout: :mod:`emolens.batch.store`).
    engine : {"local", "ray"}, default "local"
        Where the workers run (:func:`emolens.batch.engines.create_engine`).
    workers : int, optional
        Worker processes or Ray actors (default: ``local`` one, in this process; ``ray`` one per CPU).
    threads : int, default 0
        ONNX Runtime threads per worker (0: the cores shared out among the workers; 1 per Ray actor).
    address : str, optional
        ``ray``: an existing cluster's address (default: a private local Ray instance).
    detector, model, min_face, max_faces, detector_options
        As for :class:`emolens.Analyzer`.
    attention : bool or dict, optional
        ``True`` or ``{"cone": degrees, "target": "camera" | "YAW,PITCH" | "calibrate:SECONDS"}``: add head pose,
        eyes, mouth and attention to every face (the attention columns of
        :func:`emolens.types.records.batch_face_columns`); ``calibrate:`` needs videos only, since a photo has no
        first seconds to calibrate on.
    video_stride : int, default 1
        Analyse every Nth frame of the videos.
    chunk_size : int, default 8
        Most photos per worker call (a video is always a call of its own); a short run uses smaller chunks so
        that each worker gets at least :data:`CALLS_PER_WORKER` calls.
    overwrite : bool, default False
        Delete the results of earlier runs in ``out`` first; otherwise inputs already done (same path, size
        and modification time) are skipped, and done inputs that changed since are redone.
    commit_interval : float, default 10
        Seconds between commits (0: after every chunk); a killed run redoes at most this much work.
    commit_rows : int, default 100,000
        Commit sooner when this many face rows are waiting (bounds the driver's memory and the part size).
    on_progress : callable, optional
        Called with a :class:`BatchProgress` at the start and after each finished chunk (from this thread).

    Returns
    -------
    BatchSummary

    Raises
    ------
    ConfigError
        A bad option, an output folder that cannot be written, that another run holds, or that holds results
        made with other options (without ``overwrite``); Ray cannot be started or reached; a calibrating attention
        target with photos among the inputs.
    MissingExtraError
        pyarrow is not installed, or Ray for ``engine="ray"``.
    ModelError
        A model cannot be loaded (by the workers, before any input is analysed).
    """
    t0 = time.perf_counter()
    _check(engine, detector, chunk_size, video_stride, commit_interval, commit_rows)
    looking, calibrates = _attention_settings(attention)
    plan = plan_inputs(inputs)
    if calibrates and plan.count("photo"):
        raise ConfigError(
            f"attention target {looking['target']!r} calibrates on a video's first seconds, and photos have none "
            f"(photos among the inputs: {plan.count('photo')}): give camera or YAW,PITCH, or run the photos apart"
        )
    options = WorkerOptions(
        detector, model, 1, video_stride, min_face, max_faces, dict(detector_options or {}), looking
    )
    eng = create_engine(engine, options, workers=workers, threads=threads, address=address)
    if engine == "ray":
        from emolens.batch.ray_engine import import_ray

        import_ray()  # MissingExtraError now, before the output folder is touched
    store = BatchStore(out)
    store.open(options.settings(), overwrite=overwrite)
    run = _Run(store, eng, on_progress, commit_interval, commit_rows)
    try:
        run.prepare(plan.items, plan.errors)
        if run.todo:
            run.execute(chunk_size)
        run.complete = True
    finally:
        try:
            summary = run.finish(out, engine, len(plan.items), time.perf_counter() - t0)
        finally:
            store.close()
    return summary


def _check(engine: str, detector: str, chunk_size: int, video_stride: int, interval: float, rows: int) -> None:
    from emolens import registry

    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    registry.check_detector(detector)  # raises ConfigError naming the available backends
    for name, value in (("chunk_size", chunk_size), ("video_stride", video_stride), ("commit_rows", rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval >= 0:
        raise ConfigError(f"commit_interval must be a number of seconds >= 0, got {interval!r}")


def _attention_settings(attention: bool | dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """The checked attention settings, as the workers and the store's settings record take them (defaults filled
    in, the target as :func:`emolens.session.attention_target` reads it), and whether the target calibrates;
    ``ConfigError`` for ones that cannot be used. ``True`` means the defaults, ``None`` or ``False`` no attention."""
    if attention is None or attention is False:
        return None, False
    from emolens.session import check_attention

    options = {} if attention is True else attention
    if not isinstance(options, dict) or set(options) - {"cone", "target"}:
        raise ConfigError(f"attention takes True or a dict of cone and target, not {attention!r}")
    target = options.get("target") or "camera"
    if not isinstance(target, str):
        raise ConfigError(f"attention target must be text (camera, YAW,PITCH or calibrate:SECONDS), not {target!r}")
    cone = options.get("cone", 25.0)
    calibrates = check_attention(cone, target) is not None
    return {"cone": float(cone), "target": target.strip().lower()}, calibrates


class _Run:
    """The driver's state during one run."""

    def __init__(
        self,
        store: BatchStore,
        engine: Engine,
        on_progress: Callable[[BatchProgress], None] | None,
        commit_interval: float,
        commit_rows: int,
    ) -> None:
        self.store = store
        self.engine = engine
        self.on_progress = on_progress
        self.commit_interval = commit_interval
        self.commit_rows = commit_rows
        self.todo: list[WorkItem] = []
        self.skipped = self.done = self.failed = self.faces = self.frames = 0
        self.failures: list[Failure] = []
        self._failures_written = 0
        self._pending: list[ChunkResult] = []
        self._pending_rows = 0
        self._last_commit = time.perf_counter()
        self.started: float | None = None
        self.startup_seconds = 0.0
        self.ended: float | None = None
        self.complete = False

    def prepare(self, items: tuple[WorkItem, ...], errors: tuple[InputError, ...]) -> None:
        changed = [it.id for it in items if self.store.done_key(it.id) not in (None, it.key)]
        self.store.purge(changed)
        self.todo = [it for it in items if self.store.done_key(it.id) is None]
        self.skipped = len(items) - len(self.todo)
        new = [Failure(e.source, e.id, None, e.error) for e in errors]
        self.failures += new
        self._write_failures()  # replaces the previous run's list: its failed inputs are tried again
        self._report("planned", new)

    def execute(self, chunk_size: int) -> None:
        t = time.perf_counter()
        queue: deque[Chunk] = deque()
        try:
            self.engine.start()
            self.started = time.perf_counter()
            self.startup_seconds = self.started - t
            queue.extend(make_chunks(self.todo, self._chunk_size(chunk_size)))
            self._report("started", [])
            while queue or self.engine.idle < self.engine.workers:
                while queue and self.engine.idle > 0:
                    self.engine.submit(queue.popleft())
                for finished in self.engine.wait():
                    self._take(finished, queue)
                if self._commit_due():
                    self._commit()
            self._commit()
        except BaseException:
            with contextlib.suppress(Exception):  # keep what is finished; the original exception goes on
                self._commit()
            raise
        finally:
            self.ended = time.perf_counter()
            self.engine.close()

    def _chunk_size(self, most: int) -> int:
        """``most``, or less for a short run: each worker gets at least 8 calls, so none idles long at the end."""
        photos = sum(1 for it in self.todo if it.kind == "photo")
        return max(1, min(most, math.ceil(photos / (CALLS_PER_WORKER * max(1, self.engine.workers)))))

    def _take(self, finished: Finished, queue: deque[Chunk]) -> None:
        new: list[Failure] = []
        if finished.result is None:
            items = finished.chunk.items
            if len(items) > 1:  # find the input that kills the worker: each runs again alone
                queue.extendleft(Chunk((it,)) for it in reversed(items))
                return
            it = next(iter(items))  # the one input of the chunk
            new.append(Failure(it.source, it.id, it.kind, f"the worker died analysing this input: {finished.crash}"))
        else:
            self._pending.append(finished.result)
            for o in finished.result.outcomes:
                self._count(o, new)
            self._pending_rows += sum(t.num_rows for t in finished.result.tables.values())
        self.failed += len(new)
        self.failures += new
        self._report("running", new)

    def _count(self, o: ItemOutcome, new: list[Failure]) -> None:
        if o.ok:
            self.done += 1
            self.faces += o.faces
            self.frames += o.frames_analysed or 0
        else:
            new.append(Failure(o.item.source, o.item.id, o.item.kind, o.error or "failed"))

    def _commit_due(self) -> bool:
        if not self._pending:
            return False
        waited = time.perf_counter() - self._last_commit
        return waited >= self.commit_interval or self._pending_rows >= self.commit_rows

    def _commit(self) -> None:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if pending:
            self.store.commit(pending)
        self._last_commit = time.perf_counter()
        if len(self.failures) != self._failures_written:
            self._write_failures()

    def _write_failures(self) -> None:
        self.store.write_failures(f.to_dict() for f in self.failures)
        self._failures_written = len(self.failures)

    def _report(self, stage: str, new: list[Failure]) -> None:
        if self.on_progress is not None:
            elapsed = time.perf_counter() - self.started if self.started is not None else 0.0
            counts = (self.done, self.failed, self.skipped, self.faces, self.frames)
            self.on_progress(BatchProgress(stage, len(self.todo), *counts, elapsed, tuple(new)))

    def finish(self, out: Any, engine: str, found: int, seconds: float) -> BatchSummary:
        run_seconds = (self.ended or time.perf_counter()) - self.started if self.started is not None else 0.0
        summary = BatchSummary(
            out=str(out),
            engine=engine,
            workers=self.engine.workers,
            threads=self.engine.threads,
            found=found,
            skipped=self.skipped,
            done=self.done,
            failed=len(self.failures),
            faces=self.faces,
            frames=self.frames,
            seconds=seconds,
            startup_seconds=self.startup_seconds,
            run_seconds=run_seconds,
            complete=self.complete,
            done_total=self.store.done_inputs,
            faces_total=self.store.done_faces,
            ray_init_seconds=getattr(self.engine, "init_seconds", None),
            failures=tuple(self.failures),
        )
        if len(self.failures) != self._failures_written:
            self._write_failures()
        self.store.write_summary(summary.to_dict())
        if self.complete and self.on_progress is not None:
            self._report("finished", [])
        return summary
