"""``emolens video``: a video file, image-sequence folder, camera or stream to per-face tables, track summaries,
timeline plots and an annotated video."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail
from emolens.cli.device import DeviceOpt, use_device
from emolens.cli.options import (
    Attention,
    DetectorOpt,
    ModelOpt,
    OutputDirOpt,
    QuietOpt,
    RecogniseOpt,
    VideoDrawing,
    option_groups,
)
from emolens.errors import EmolensError, VideoError
from emolens.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from emolens.analyzer import Analyzer
    from emolens.session import FusionSink, Session, Sink


class Smoothing(StrEnum):
    ema = "ema"
    hysteresis = "hysteresis"
    none = "none"


@option_groups
def video(
    source: Annotated[
        str, typer.Argument(help="Video file, folder of images, camera index (0) or stream URL (rtsp://, http://).")
    ],
    out: OutputDirOpt,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate",
            metavar="DIR",
            help="Also write DIR/annotated.mp4 with track ids (DIR: often the --output folder).",
        ),
    ] = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Analyse every Nth frame.")] = 1,
    fps: Annotated[
        float | None, typer.Option("--fps", min=0.001, help="Analyse at most this many frames per second of video.")
    ] = None,
    detector: DetectorOpt = DEFAULT_DETECTOR,
    full_detect_every: Annotated[
        int,
        typer.Option(
            min=1,
            help="Search the whole frame for faces every Nth analysed frame, and between only around the tracked "
            "faces (1: the whole frame every time).",
        ),
    ] = 5,
    smoothing: Annotated[Smoothing, typer.Option(help="Temporal smoothing per track.")] = Smoothing.ema,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", min=1, help="Stop after reading this many frames.")
    ] = None,
    min_confidence: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Below this smoothed confidence the label is 'uncertain' (kept, with hysteresis)."
        ),
    ] = 0.0,
    model: ModelOpt = "emotion-fer2013",
    threads: Annotated[int, typer.Option(min=0, help="Threads per model (0: ONNX Runtime's choice).")] = 0,
    live: Annotated[
        bool | None,
        typer.Option("--live/--no-live", help="Drop old frames to keep up (default: on for cameras and RTSP)."),
    ] = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Timeline PNG per track (needs matplotlib).")
    ] = True,
    gallery: RecogniseOpt = None,
    log_events: Annotated[
        bool, typer.Option(help="Append identity + emotion events (one per track per second) to the gallery.")
    ] = False,
    alert: Annotated[
        list[str] | None,
        typer.Option(help="Alert rule EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]], e.g. angry,fear:3:unknown (repeatable)."),
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each alert as JSON to this URL.")] = None,
    drawing: VideoDrawing = VideoDrawing(),
    audio: Annotated[
        bool, typer.Option("--audio", help="Also analyse the video's audio track and fuse it (fused.csv).")
    ] = False,
    transcript: Annotated[
        Path | None,
        typer.Option(help="Timed transcript (SRT, VTT, CSV start,end,text, JSONL) to analyse and fuse (fused.csv)."),
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Show the annotated frames in a window while analysing (needs a display).")
    ] = False,
    device: DeviceOpt = None,
    attention: Attention = Attention(),
    quiet: QuietOpt = False,
    retain: Annotated[
        str | None,
        typer.Option(help="With --gallery: delete events and alerts older than this age (30d) now and every hour."),
    ] = None,
) -> None:
    """Track every face through a video and predict its emotion in each analysed frame.

    Writes frames.csv/.parquet, tracks.json, timeline PNGs with each track's face and summary.html/.png to
    --output, and with --annotate DIR, DIR/annotated.mp4 (H.264).
    """
    from emolens.analyzer import Analyzer
    from emolens.registry import check_detector
    from emolens.session import Session, SessionConfig, VideoOutputSink, attention_kinds

    use_device(device)
    tables, plots, notes = _extras(plots)
    try:
        needs_attention = attention_kinds(alert or [])  # a bad rule is a usage error before any model loads
    except EmolensError as e:
        raise fail(e) from None
    if not attention.enabled and needs_attention:
        err.print(f"[red]error:[/red] --alert {', '.join(needs_attention)} needs --attention")
        raise typer.Exit(EXIT_USAGE)
    state_rules_only = attention.enabled and len(needs_attention) == len(alert or [])
    if (log_events or (alert and not state_rules_only) or drawing.blur_unknown) and gallery is None:
        err.print("[red]error:[/red] --log-events, --alert and --blur-unknown need --gallery")
        raise typer.Exit(EXIT_USAGE)
    window = _window(show)
    interrupted = False
    t0 = time.perf_counter()
    try:
        config = SessionConfig(
            every_n_frames=every,
            target_fps=fps,
            max_frames=max_frames,
            smoothing=smoothing.value,
            min_confidence=min_confidence,
            live=live,
            attention=attention.stage(threads),
            alerts=tuple(alert or ()),
            log_events=log_events,
            webhook=webhook,
            full_detect_every=full_detect_every,
        )
        check_detector(detector)  # ConfigError naming the registered detectors
        options = {"max_size": 640} if detector == "retinaface" else {}
        analyzer = Analyzer(detector, model, threads=threads, detector_options=options, identity=gallery)
        if retain is not None and analyzer.gallery is not None:
            from emolens.privacy.retention import Retention, parse_age

            Retention(analyzer.gallery.store, parse_age(retain)).start()  # a daemon thread: ends with the process
        facts = {
            "detector": detector,
            "model": model,
            "smoothing": smoothing.value,
            "every": every,
            "full_detect_every": full_detect_every,
        }
        outputs = VideoOutputSink(
            out,
            tables=tables,
            plots=plots,
            annotate=annotate or False,
            blur_unknown=drawing.blur_unknown,
            landmarks=drawing.landmarks,
            label_size=drawing.label_size,
            attention=attention.enabled,
            facts=facts,
        )
        reports = _report_sinks(out, alert, log_events, attention.enabled, analyzer)
        session = Session(analyzer, source, config, [outputs, *reports])
        fusion = _fusion_sink(session, out, source, audio, transcript)
        info = session.open()
        if outputs.annotated_codec == "mp4v":
            notes.append("annotated.mp4 is MPEG-4 Part 2, which browsers do not play: pip install 'emolens[av]'")
        for note in notes:
            err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        total = info.source.frame_count
        if total is not None and max_frames is not None:
            total = min(total, max_frames)
        try:
            with session, _Progress(total, quiet) as progress:
                for step in session:
                    for a in step.alerts:
                        _print_alert(a)
                    if window is not None and not window.show(step.result, step.rgb):
                        break  # the user closed the window or pressed q / Esc
                    progress.update(step.result.index + 1, session.stats.frames_analysed)
        except VideoError:  # after the frames that could be read: keep them, report, exit 1
            pass
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if window is not None:
                window.close()
        summary = session.close()  # closed on leaving the block: the summary of that
    except EmolensError as e:
        raise fail(e) from None
    for msg in summary.webhook_errors:
        err.print(f"[yellow]webhook:[/yellow] {msg}", highlight=False)
    _print_fusion(fusion)
    error = summary.error if isinstance(summary.error, VideoError) else None
    if error is not None:
        err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
    if not quiet:
        s, dt = summary.stats, time.perf_counter() - t0
        err.print(
            f"{s.frames_analysed} frame(s) analysed of {s.frames_read} read"
            + (f", {s.frames_dropped} dropped to keep up" if s.frames_dropped else "")
            + f", {s.faces} face(s) in {s.tracks} track(s), {s.frames_analysed / dt if dt > 0 else 0:.1f} frames/s"
            + f" → {out} ({len(summary.files)} files)",
            highlight=False,
        )
    if interrupted:
        raise KeyboardInterrupt
    raise typer.Exit(EXIT_PARTIAL if error is not None else EXIT_OK)


def _extras(plots: bool) -> tuple[list[str], bool, list[str]]:
    """The frame-table formats and plots the installed extras allow, and notes on what is skipped."""
    tables, notes = ["csv"], []
    try:
        import pyarrow  # noqa: F401

        tables.append("parquet")
    except ImportError:
        notes.append("frames.parquet skipped: pip install 'emolens[parquet]'")
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            plots = False
            notes.append("timeline plots skipped: pip install 'emolens[plot]'")
    return tables, plots, notes


def _report_sinks(
    out: Path, alert: list[str] | None, log_events: bool, attention: bool, analyzer: Analyzer
) -> list[Sink]:
    """alerts.json where the run checks alert rules or logs events, attention.json with --attention."""
    from emolens.session import AlertsJsonSink, AttentionJsonSink

    sinks: list[Sink] = []
    if alert or (log_events and analyzer.gallery is not None):
        sinks.append(AlertsJsonSink(out / "alerts.json"))
    if attention:
        sinks.append(AttentionJsonSink(out / "attention.json"))
    return sinks


class _Progress:
    """A Rich progress bar with frames/s on standard error (a bar for files, a counter for live sources)."""

    def __init__(self, total: int | None, quiet: bool) -> None:
        self.total = total
        self.quiet = quiet
        self._progress = None
        self._task = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
            columns.append(TextColumn("{task.fields[fps]:.1f} frames/s"))
            self._progress = Progress(*columns, console=err, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("video", total=self.total, fps=0.0)
        return self

    def update(self, frames_done: int, analysed: int) -> None:
        if self._progress is not None and self._task is not None:
            dt = time.perf_counter() - self._t0
            self._progress.update(self._task, completed=frames_done, fps=analysed / dt if dt > 0 else 0.0)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def register(app: typer.Typer) -> None:
    app.command("video")(video)


def _print_alert(alert) -> None:
    err.print(
        f"[bold red]alert[/bold red] {alert.rule}: {alert.identity} (track {alert.track}) {alert.emotion} for "
        f"{alert.duration_s:.1f} s at {alert.started + alert.duration_s:.1f} s",
        highlight=False,
    )


def _window(show: bool):
    """A live view window, or ``None`` (with a note) where there is no display or no GUI-enabled OpenCV."""
    if not show:
        return None
    from emolens.video.display import LiveWindow, display_problem

    problem = display_problem()
    if problem is not None:
        err.print(f"[yellow]note:[/yellow] no live view ({problem}); running headless", highlight=False)
        return None
    return LiveWindow("emolens")


def _fusion_sink(session: Session, out: Path, source: str, audio: bool, transcript: Path | None) -> FusionSink | None:
    """With --audio and/or --transcript: fuse them with the faces in memory (voice.csv, text.csv, fused.csv)."""
    if not audio and transcript is None:
        return None
    from emolens.session import FusionSink

    return session.add_sink(FusionSink(out, audio=source if audio else None, transcript=transcript, step=1.0))


def _print_fusion(fusion: FusionSink | None) -> None:
    """The notes of the fusion (no voice, no speech), or why it was skipped."""
    if fusion is None or fusion.skipped_incomplete:
        return
    from rich.markup import escape

    for note in fusion.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if fusion.skipped is not None:
        err.print(f"[yellow]fusion skipped:[/yellow] {escape(fusion.skipped)}", highlight=False)
