"""The session runner: one video source through the pipeline, the event log and the alert rules, into sinks."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from emolens.errors import ConfigError
from emolens.session.config import Alert, AlertEngine, EventLogger, Rule, SessionConfig, attention_kinds
from emolens.types import FrameResult

if TYPE_CHECKING:
    from emolens.analyzer import Analyzer
    from emolens.attention import AttentionAnalyzer
    from emolens.identity.store import GalleryStore
    from emolens.video.pipeline import VideoRun, VideoStats
    from emolens.video.sources import Frame, VideoSource

__all__ = ["Session", "SessionInfo", "SessionStep", "SessionSummary", "Sink"]


@dataclass(frozen=True)
class SessionInfo:
    """What is known once the source is open; given to every sink's ``open``.

    Attributes
    ----------
    name:
        The name events and alerts are logged under (``config.source_name`` or the source's name).
    source:
        The open :class:`~emolens.video.sources.VideoSource` (``fps``, ``frame_count``, ``width``, ``height``,
        ``live``, ``name``).
    labels:
        The emotion labels of the probabilities.
    config:
        The session's configuration.
    attention:
        The run's :class:`~emolens.attention.AttentionAnalyzer` (its per-track measures), or ``None``.
    """

    name: str
    source: VideoSource
    labels: tuple[str, ...]
    config: SessionConfig
    attention: AttentionAnalyzer | None = None


@dataclass(frozen=True)
class SessionStep:
    """One analysed frame: its result, its pixels (when kept) and the alerts it fired."""

    result: FrameResult
    frame: Frame | None = None
    alerts: tuple[Alert, ...] = ()

    @property
    def rgb(self) -> Any:
        """The frame's RGB pixels, or ``None`` when the session does not keep frames."""
        return None if self.frame is None else self.frame.rgb


@dataclass
class SessionSummary:
    """How a session ended; given to every sink's ``close`` and returned by :meth:`Session.close`.

    ``complete`` is false when the source failed part-way (``error``) or the run was interrupted (Ctrl-C);
    a session stopped by :meth:`Session.stop` or ``max_frames`` is complete. ``files`` lists what the sinks
    wrote, in the order the sinks were attached.
    """

    stats: VideoStats
    complete: bool = True
    error: BaseException | None = None
    interrupted: bool = False
    alerts: list[Alert] = field(default_factory=list)
    events_written: int = 0
    webhook_errors: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@runtime_checkable
class Sink(Protocol):
    """Where a session's steps go: a table, an annotated video, a summary, a WebSocket, a fused timeline.

    ``open`` is called once the source is open, ``write`` for each step (in the iterating thread, before the
    step is yielded), ``close`` once at the end (also after an error) and returns the files written.
    ``needs_frames`` asks the session to keep each frame's pixels.
    """

    needs_frames: bool

    def open(self, info: SessionInfo) -> None: ...

    def write(self, step: SessionStep) -> None: ...

    def close(self, summary: SessionSummary) -> list[Path]: ...


SinkT = TypeVar("SinkT", bound=Sink)


class Session:
    """One live or recorded video session: source → video pipeline → tracks (+ identities) → events/alerts → sinks.

    Parameters
    ----------
    analyzer:
        The models: detector, emotion model, and the gallery (identities, event log) when it has one.
    source:
        A video file, image folder, camera index, stream URL, or an open
        :class:`~emolens.video.sources.VideoSource` (e.g. a :class:`~emolens.video.sources.PushSource` fed by a
        WebSocket).
    config:
        :class:`SessionConfig` (sampling, smoothing, attention, events, alerts); the defaults of ``emolens video``.
    sinks:
        Objects with ``open``/``write``/``close`` (:class:`Sink`), e.g. :class:`~emolens.session.VideoOutputSink`,
        :class:`~emolens.session.CallbackSink`, :class:`~emolens.session.FusionSink`.

    Use it as an iterator of :class:`SessionStep` (one per analysed frame, in order), or call :meth:`run` to
    consume it; either way call :meth:`close` (or use ``with``), which flushes the event log, drains the webhook
    and closes the sinks, and returns the :class:`SessionSummary`. :meth:`stop` (from any thread) ends the
    iteration after the current frame. Errors of the source part-way (:class:`~emolens.errors.VideoError`) are
    raised from the iteration after the frames that could be read; the sinks still close and the summary says
    ``complete=False``.

    Raises
    ------
    ConfigError
        From :meth:`open`: an alert rule cannot be parsed, attention rules without attention, or events asked
        for without a gallery.
    VideoError, ModelError
        From :meth:`open`: the source cannot be opened or a model cannot be loaded.

    Examples
    --------
    >>> from emolens import Analyzer
    >>> from emolens.session import Session, SessionConfig, VideoOutputSink
    >>> cfg = SessionConfig(every_n_frames=2, alerts=["angry:3"])
    >>> with Session(Analyzer(), "clip.mp4", cfg, [VideoOutputSink("out")]) as s:  # doctest: +SKIP
    ...     for step in s:
    ...         for alert in step.alerts:
    ...             print(alert.rule, alert.track)
    """

    def __init__(
        self,
        analyzer: Analyzer,
        source: VideoSource | str | int | os.PathLike[str],
        config: SessionConfig | None = None,
        sinks: Sequence[Sink] = (),
    ) -> None:
        self.analyzer = analyzer
        self.config = config or SessionConfig()
        self.sinks: list[Sink] = list(sinks)
        self._source = source
        self._run: VideoRun | None = None
        self._info: SessionInfo | None = None
        self._engine: AlertEngine | None = None
        self._logger: EventLogger | None = None
        self._stop = threading.Event()
        self._stepping = threading.RLock()  # held while a step is made: close() from another thread waits for it
        self._error: BaseException | None = None
        self._interrupted = False
        self._summary: SessionSummary | None = None
        self._opened_sinks: list[Sink] = []

    # ------------------------------------------------------------------------------------------------- set-up

    def add_sink(self, sink: SinkT) -> SinkT:
        """Attach one more sink (before :meth:`open`); returns it."""
        if self._info is not None:
            raise ConfigError("sinks are attached before the session opens")
        self.sinks.append(sink)
        return sink

    def open(self) -> SessionInfo:
        """Load the models, build the event log and alert engine, open the source and the sinks. Idempotent."""
        if self._info is not None:
            return self._info
        cfg = self.config
        rules = cfg.rules()
        needs_attention = attention_kinds(rules)
        if needs_attention and not cfg.attention:
            raise ConfigError(f"alert rule(s) {', '.join(needs_attention)} need attention")
        gallery = getattr(self.analyzer, "gallery", None)
        store = gallery.store if gallery is not None else None
        if cfg.log_events and store is None:
            raise ConfigError("logging events needs a gallery")
        self._make_events(rules, store)
        with_frames = cfg.with_frames or any(s.needs_frames for s in self.sinks)
        try:
            run = self.analyzer.analyze_video(self._source, with_frames=with_frames, **cfg.video_options())
        except BaseException:
            self._close_events()
            raise
        self._run = run
        src = run.source
        self._info = SessionInfo(cfg.source_name or src.name, src, tuple(run.labels), cfg, run.attention)
        try:
            for sink in self.sinks:
                sink.open(self._info)
                self._opened_sinks.append(sink)
        except BaseException as e:
            self._error = e
            self.close()
            raise
        return self._info

    def _make_events(self, rules: list[Rule], store: GalleryStore | None) -> None:
        cfg = self.config
        if rules:
            self._engine = AlertEngine(rules, store=store, webhook=cfg.webhook)
        if store is not None and (cfg.log_events or rules):
            # Without log_events, alert rules still log each track once (its first sighting), as before.
            interval = cfg.event_interval_s if cfg.log_events else math.inf
            self._logger = EventLogger(store, interval_s=interval, engine=self._engine, flush_s=cfg.event_flush_s)

    # ---------------------------------------------------------------------------------------------- the loop

    @property
    def info(self) -> SessionInfo:
        """What :meth:`open` found (opens the session if needed)."""
        return self.open()

    @property
    def stats(self) -> VideoStats:
        """The run's counters (frames read, analysed, dropped; faces; tracks), updated as it goes."""
        self.open()
        assert self._run is not None
        return self._run.stats

    @property
    def engine(self) -> AlertEngine | None:
        """The :class:`AlertEngine`, or ``None`` without alert rules."""
        return self._engine

    def __iter__(self) -> Session:
        return self

    def __next__(self) -> SessionStep:
        self.open()
        with self._stepping:
            return self._next()

    def _next(self) -> SessionStep:
        if self._stop.is_set() or self._summary is not None or self._run is None:
            raise StopIteration
        run = self._run
        try:
            item = next(run)
            result, frame = item if run.with_frames else (item, None)
            step = SessionStep(result, frame, tuple(self._events(result)))
            for sink in self.sinks:
                sink.write(step)
        except StopIteration:
            raise
        except KeyboardInterrupt:
            self._interrupted = True
            raise
        except BaseException as e:
            self._error = e
            raise
        return step

    def _events(self, result: FrameResult) -> list[Alert]:
        if self._logger is not None:
            return self._logger.log_frame(self._info.name if self._info else "", result)
        if self._engine is None:
            return []
        name = self._info.name if self._info else ""
        fired: list[Alert] = []
        for face in result.faces:
            fired += self._engine.update(name, result.timestamp, face)
        return fired

    def run(self) -> SessionSummary:
        """Consume every step (until the source ends, ``max_frames`` or :meth:`stop`) and close."""
        try:
            for _ in self:
                pass
        finally:
            summary = self.close()
        return summary

    def stop(self) -> None:
        """End the iteration after the current frame (thread-safe). An iteration that waits for a frame which
        does not come (a push source nobody feeds) ends when the source does (``PushSource.end()``);
        :meth:`close` ends a push source itself."""
        self._stop.set()

    # ------------------------------------------------------------------------------------------------ closing

    def close(self, timeout: float = 10.0) -> SessionSummary:
        """Stop the pipeline, flush the event log, drain the webhook, close the sinks. Idempotent, thread-safe.

        Called from another thread while a step is being made, it ends a push source and waits (at most
        ``timeout`` seconds) for that step to finish; a pipeline still stuck then is left to its daemon threads.

        Returns
        -------
        SessionSummary
            Counters, whether the run was complete, the alerts fired and the files the sinks wrote.
        """
        if self._summary is not None:
            return self._summary
        self._stop.set()
        if self._run is not None:
            end = getattr(self._run.source, "end", None)  # a push source waiting for frames: no more will come
            if callable(end):
                end()
        idle = self._stepping.acquire(timeout=timeout)
        try:
            return self._close(idle)
        finally:
            if idle:
                self._stepping.release()

    def _close(self, idle: bool) -> SessionSummary:
        if self._summary is not None:  # closed meanwhile, by the thread that was stepping
            return self._summary
        first_error: BaseException | None = None
        if self._run is not None and idle:
            self._run.close()
        try:
            self._close_events()
        except BaseException as e:  # the sinks still close
            first_error = e
        stats = self._run.stats if self._run is not None else _empty_stats()
        summary = SessionSummary(
            stats=stats,
            complete=self._error is None and not self._interrupted,
            error=self._error,
            interrupted=self._interrupted,
            alerts=list(self._engine.alerts) if self._engine is not None else [],
            events_written=self._logger.rows_written if self._logger is not None else 0,
            webhook_errors=list(self._engine.webhook_errors) if self._engine is not None else [],
        )
        self._summary = summary
        for sink in self._opened_sinks:
            try:
                summary.files += sink.close(summary) or []
            except BaseException as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return summary

    def _close_events(self) -> None:
        if self._logger is not None:
            self._logger.close()  # flushes the rows and closes the engine (the webhook queue)
        elif self._engine is not None:
            self._engine.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is KeyboardInterrupt:
            self._interrupted = True
        elif exc is not None and self._error is None:
            self._error = exc
        self.close()


def _empty_stats() -> VideoStats:
    from emolens.video.pipeline import VideoStats

    return VideoStats()
