"""The worker side of a batch run: one :class:`ChunkWorker` per process (or Ray actor) runs chunks of inputs.

A worker loads the models once and runs the library's own pipelines (``Analyzer.analyze_batch`` for photos,
``Analyzer.analyze_video`` for videos). Every input ends as an :class:`ItemOutcome`; an input that fails
(unreadable, corrupt, not an image, a truncated video, or an unexpected exception) is an outcome with ``error``
set and contributes no rows, so a retried input never leaves half its rows behind.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from emolens import errors
from emolens.batch.plan import Chunk, WorkItem
from emolens.batch.tables import face_rows, face_schema, frame_rows, require_pyarrow
from emolens.emotion.classifier import DEFAULT_MODEL
from emolens.errors import EmolensError

__all__ = ["ChunkResult", "ChunkWorker", "ItemOutcome", "WorkerOptions", "error_payload", "rebuild_error"]


@dataclass(frozen=True)
class WorkerOptions:
    """What every worker needs to build its ``Analyzer`` and run its chunks (sent to each worker once).

    ``threads`` is the ONNX Runtime (and OpenCV) thread count per model in one worker; the engines set it.
    ``attention`` (``{"cone": degrees, "target": text}`` as :func:`emolens.session.attention_stage` takes them)
    adds head pose, eyes, mouth and attention to every face; each video gets a fresh stage (its own tracks and,
    with ``calibrate:``, its own target).
    """

    detector: str = "yunet"
    model: str = DEFAULT_MODEL
    threads: int = 1
    video_stride: int = 1
    min_face: float = 0
    max_faces: int | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    attention: dict[str, Any] | None = None

    def settings(self) -> dict[str, Any]:
        """The options that change the results (a resumed run must use the same): all but ``threads``."""
        settings = asdict(self)
        del settings["threads"]
        settings["detector_options"] = dict(sorted(self.detector_options.items()))
        if settings["attention"] is None:  # as folders written before the option existed record it
            del settings["attention"]
        return settings


@dataclass(frozen=True)
class ItemOutcome:
    """How one input went: ``error`` is ``None`` when its rows are in the chunk's table."""

    item: WorkItem
    error: str | None = None
    faces: int = 0
    width: int | None = None
    height: int | None = None
    frames_read: int | None = None
    frames_analysed: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk: outcomes in input order and the face rows of each kind."""

    outcomes: tuple[ItemOutcome, ...]
    tables: dict[str, Any]  # kind -> pyarrow.Table of face rows (only kinds with rows)
    worker: str
    seconds: float


class ChunkWorker:
    """Loads the models once (now: a broken model fails here, not on the first input) and runs chunks."""

    def __init__(self, options: WorkerOptions, name: str = "main") -> None:
        from emolens.analyzer import Analyzer

        self.pa = require_pyarrow()
        self.options = options
        self.name = name
        if options.threads > 0:
            import cv2

            cv2.setNumThreads(options.threads)
        # The photos of a chunk go through the Analyzer's pipeline: one thread per core decodes and detects
        # (one ONNX Runtime thread each) while this thread classifies the faces already found.
        pipeline = max(1, options.threads)
        self.attention = options.attention is not None
        self.analyzer = Analyzer(
            options.detector,
            options.model,
            threads=1 if pipeline > 1 else options.threads,
            workers=pipeline,
            min_face=options.min_face,
            max_faces=options.max_faces,
            detector_options=options.detector_options,
            attention=self._attention_stage(),
        )
        self.analyzer.detector  # noqa: B018 - load now
        self.labels: tuple[str, ...] = tuple(self.analyzer.emotion.labels)
        self.schema = face_schema(self.labels, self.attention)

    def _attention_stage(self) -> Any:
        """A fresh attention stage, or None without ``attention``: the photos share one, each video gets its own."""
        if self.options.attention is None:
            return None
        from emolens.session import attention_stage

        return attention_stage(threads=self.options.threads, **self.options.attention)

    def run(self, chunk: Chunk) -> ChunkResult:
        """Analyse every input of the chunk; never raises for a bad input."""
        t0 = time.perf_counter()
        outcomes: list[ItemOutcome] = []
        rows: dict[str, list[dict[str, Any]]] = {}
        photos = [it for it in chunk.items if it.kind == "photo"]
        if photos:
            outcomes += self._photos(photos, rows.setdefault("photo", []))
        for item in chunk.items:
            if item.kind == "video":
                outcomes.append(self._video(item, rows.setdefault("video", [])))
        order = {it.id: n for n, it in enumerate(chunk.items)}
        outcomes.sort(key=lambda o: order[o.item.id])
        tables = {k: self.pa.Table.from_pylist(v, schema=self.schema) for k, v in rows.items() if v}
        return ChunkResult(tuple(outcomes), tables, self.name, time.perf_counter() - t0)

    def _photos(self, items: list[WorkItem], rows: list[dict[str, Any]]) -> list[ItemOutcome]:
        try:  # all faces of the chunk in one emotion-model call
            results = self.analyzer.analyze_batch([it.path for it in items], sources=[it.source for it in items])
        except Exception:  # an unexpected failure: find the input that causes it, keep the others
            return [self._photo_alone(it, rows) for it in items]
        return [self._photo_outcome(it, r, rows) for it, r in zip(items, results, strict=True)]

    def _photo_alone(self, item: WorkItem, rows: list[dict[str, Any]]) -> ItemOutcome:
        try:
            result = self.analyzer.analyze_batch([item.path], sources=[item.source])[0]
        except Exception as e:
            return ItemOutcome(item, error=_one_line(e))
        return self._photo_outcome(item, result, rows)

    def _photo_outcome(self, item: WorkItem, result: Any, rows: list[dict[str, Any]]) -> ItemOutcome:
        if result.error is not None:
            return ItemOutcome(item, error=_one_line(result.error))
        rows += face_rows(result, item.id, self.labels, self.attention)
        return ItemOutcome(item, faces=len(result.faces), width=result.width, height=result.height)

    def _video(self, item: WorkItem, rows: list[dict[str, Any]]) -> ItemOutcome:
        mine: list[dict[str, Any]] = []
        width = height = None
        try:
            with self.analyzer.analyze_video(
                item.path, every_n_frames=self.options.video_stride, live=False, attention=self._attention_stage()
            ) as run:
                for frame in run:
                    mine += frame_rows(frame, item.id, item.source, self.labels, self.attention)
                    width, height = frame.width, frame.height
                stats = run.stats
        except Exception as e:  # all or nothing: a video that fails half way leaves no rows
            return ItemOutcome(item, error=_one_line(e))
        rows += mine
        return ItemOutcome(
            item,
            faces=len(mine),
            width=width,
            height=height,
            frames_read=stats.frames_read,
            frames_analysed=stats.frames_analysed,
        )


def _one_line(e: BaseException | str) -> str:
    if isinstance(e, EmolensError):
        text = e.message
    elif isinstance(e, str):
        text = e
    else:
        text = f"{type(e).__name__}: {e}"
    return " ".join(str(text).split()) or type(e).__name__


def error_payload(e: EmolensError) -> tuple[str, str, str | None]:
    """A picklable form of a typed error (some subclasses take other constructor arguments)."""
    return (type(e).__name__, e.message, e.source)


def rebuild_error(payload: tuple[str, str, str | None]) -> EmolensError:
    """The typed error back from :func:`error_payload`."""
    name, message, source = payload
    cls = getattr(errors, name, EmolensError)
    if not (isinstance(cls, type) and issubclass(cls, EmolensError)):
        cls = EmolensError
    err = cls.__new__(cls)
    EmolensError.__init__(err, message, source)
    return err
