"""``emolens video``: a video file, image-sequence folder, camera or stream to per-face tables, track summaries,
timeline plots and an annotated video."""

from __future__ import annotations

import json
import math
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail
from emolens.cli.device import DeviceOpt, use_device
from emolens.cli.options import VideoBlurUnknownOpt, VideoLabelSizeOpt, VideoLandmarksOpt
from emolens.errors import EmolensError, VideoError


class Smoothing(StrEnum):
    ema = "ema"
    hysteresis = "hysteresis"
    none = "none"


def video(
    source: Annotated[
        str, typer.Argument(help="Video file, folder of images, camera index (0) or stream URL (rtsp://, http://).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")],
    annotate: Annotated[bool, typer.Option("--annotate", help="Also write annotated.mp4 with track ids.")] = False,
    every: Annotated[int, typer.Option("--every", min=1, help="Analyse every Nth frame.")] = 1,
    fps: Annotated[
        float | None, typer.Option("--fps", min=0.001, help="Analyse at most this many frames per second of video.")
    ] = None,
    detector: Annotated[
        str, typer.Option(help="Face detector: yunet (default), blazeface (fastest, large faces) or retinaface.")
    ] = "yunet",
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
    model: Annotated[str, typer.Option(help="Emotion model name or manifest path.")] = "emotion-fer2013",
    threads: Annotated[int, typer.Option(min=0, help="Threads per model (0: ONNX Runtime's choice).")] = 0,
    live: Annotated[
        bool | None,
        typer.Option("--live/--no-live", help="Drop old frames to keep up (default: on for cameras and RTSP)."),
    ] = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Timeline PNG per track (needs matplotlib).")
    ] = True,
    gallery: Annotated[
        Path | None, typer.Option("--gallery", "-g", help="Recognise enrolled people (a gallery database).")
    ] = None,
    log_events: Annotated[
        bool, typer.Option(help="Append identity + emotion events (one per track per second) to the gallery.")
    ] = False,
    alert: Annotated[
        list[str] | None,
        typer.Option(help="Alert rule EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]], e.g. angry,fear:3:unknown (repeatable)."),
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each alert as JSON to this URL.")] = None,
    blur_unknown: VideoBlurUnknownOpt = False,
    landmarks: VideoLandmarksOpt = True,
    label_size: VideoLabelSizeOpt = None,
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
    attention: Annotated[
        bool,
        typer.Option(
            "--attention",
            help="Also head pose, eyes (blinks, PERCLOS), gaze, mouth (yawns) and attention per face and track.",
        ),
    ] = False,
    cone: Annotated[
        float, typer.Option(min=1.0, max=180.0, help="Attention: half-angle (degrees) around the target.")
    ] = 25.0,
    target: Annotated[
        str,
        typer.Option(
            help="Attention target: 'camera', 'YAW,PITCH' in degrees, or 'calibrate:SECONDS' (the median head "
            "direction over the first SECONDS of video)."
        ),
    ] = "camera",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    retain: Annotated[
        str | None,
        typer.Option(help="With --gallery: delete events and alerts older than this age (30d) now and every hour."),
    ] = None,
) -> None:
    """Track every face through a video and predict its emotion in each analysed frame.

    Writes frames.csv/.parquet, tracks.json, timeline PNGs with each track's face, summary.html/.png and, with
    --annotate, annotated.mp4 (H.264) to --out.
    """
    from emolens.analyzer import Analyzer
    from emolens.events import AlertEngine, EventLogger
    from emolens.registry import check_detector
    from emolens.video.writers import VideoOutputWriter

    use_device(device)
    try:
        check_detector(detector)
    except EmolensError as e:
        raise fail(e) from None
    options = {"max_size": 640} if detector == "retinaface" else {}
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

    from emolens.events import KINDS

    kinds = [a.split(":")[0].strip() for a in alert or []]
    if not attention and any(k in KINDS for k in kinds):
        err.print(f"[red]error:[/red] --alert {', '.join(k for k in kinds if k in KINDS)} needs --attention")
        raise typer.Exit(EXIT_USAGE)
    state_rules_only = attention and all(k in KINDS for k in kinds)
    if (log_events or (alert and not state_rules_only) or blur_unknown) and gallery is None:
        err.print("[red]error:[/red] --log-events, --alert and --blur-unknown need --gallery")
        raise typer.Exit(EXIT_USAGE)
    window = _window(show)
    error: VideoError | None = None
    interrupted = False
    logger = None
    engine = None
    t0 = time.perf_counter()
    try:
        from emolens.events import parse_rule

        rules = [parse_rule(a) for a in alert or []]
        att = _attention_stage(attention, cone, target, threads) if attention else None
        analyzer = Analyzer(detector, model, threads=threads, detector_options=options, identity=gallery)
        if retain is not None and analyzer.gallery is not None:
            from emolens.privacy.retention import Retention, parse_age

            Retention(analyzer.gallery.store, parse_age(retain)).start()  # a daemon thread: ends with the process
        if analyzer.gallery is not None and (log_events or rules):
            engine = AlertEngine(rules, store=analyzer.gallery.store, webhook=webhook, callbacks=[_print_alert])
            logger = EventLogger(analyzer.gallery.store, interval_s=1.0 if log_events else math.inf, engine=engine)
        elif rules:  # attention rules without a gallery: alerts are printed and written to alerts.json
            engine = AlertEngine(rules, webhook=webhook, callbacks=[_print_alert])
        run = analyzer.analyze_video(
            source,
            every_n_frames=every,
            target_fps=fps,
            max_frames=max_frames,
            smoothing=smoothing.value,
            smoothing_options={"min_confidence": min_confidence},
            live=live,
            with_frames=True,  # thumbnails of each track's best face, annotated.mp4 and attention
            attention=att,
        )
        src = run.source
        annotate_fps = _output_fps(src.fps, every, fps) if annotate else None
        outputs = VideoOutputWriter(
            out,
            run.labels,
            source=src.name,
            tables=tables,
            plots=plots,
            annotate_fps=annotate_fps,
            blur_unknown=blur_unknown,
            landmarks=landmarks,
            label_size=label_size,
            attention=attention,
        )
        if outputs.annotated is not None and outputs.annotated.codec == "mp4v":
            notes.append("annotated.mp4 is MPEG-4 Part 2, which browsers do not play: pip install 'emolens[av]'")
        for note in notes:
            err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        total = src.frame_count
        if total is not None and max_frames is not None:
            total = min(total, max_frames)
        try:
            with run, _Progress(total, quiet) as progress:
                try:
                    for item in run:
                        result, frame = item if run.with_frames else (item, None)
                        outputs.write(result, frame.rgb if frame is not None else None)
                        if logger is not None:
                            logger.log_frame(src.name, result)
                        elif engine is not None:
                            for face in result.faces:
                                engine.update(src.name, result.timestamp, face)
                        if window is not None and frame is not None and not window.show(result, frame.rgb):
                            break  # the user closed the window or pressed q / Esc
                        progress.update(result.index + 1, run.stats.frames_analysed)
                except VideoError as e:  # after the frames that could be read: keep them, report, exit 1
                    error = e
                except KeyboardInterrupt:
                    interrupted = True
        finally:
            if logger is not None:
                logger.close()
                for msg in logger.engine.webhook_errors if logger.engine else []:
                    err.print(f"[yellow]webhook:[/yellow] {msg}", highlight=False)
            if window is not None:
                window.close()
            files = outputs.close(
                frames_read=run.stats.frames_read,
                frames_dropped=run.stats.frames_dropped,
                fps=src.fps,
                live=src.live,
                detector=detector,
                model=model,
                smoothing=smoothing.value,
                complete=error is None and not interrupted,
                error=None if error is None else str(error),
            )
            if engine is not None:
                if logger is None:
                    engine.close()
                (out / "alerts.json").write_text(json.dumps([a.to_dict() for a in engine.alerts], indent=2) + "\n")
                files.append(out / "alerts.json")
            if att is not None:
                from emolens.attention.summary import write_attention_json

                files.append(write_attention_json(out / "attention.json", att, src.name))
    except EmolensError as e:
        raise fail(e) from None
    if (audio or transcript is not None) and error is None and not interrupted:
        files += _fuse(source, out, audio, transcript, src.fps)
    dt = time.perf_counter() - t0
    if error is not None:
        err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
    if not quiet:
        s = run.stats
        err.print(
            f"{s.frames_analysed} frame(s) analysed of {s.frames_read} read"
            + (f", {s.frames_dropped} dropped to keep up" if s.frames_dropped else "")
            + f", {s.faces} face(s) in {s.tracks} track(s), {s.frames_analysed / dt if dt > 0 else 0:.1f} frames/s"
            + f" → {out} ({len(files)} files)",
            highlight=False,
        )
    if interrupted:
        raise KeyboardInterrupt
    raise typer.Exit(EXIT_PARTIAL if error is not None else EXIT_OK)


def _attention_stage(attention: bool, cone: float, target: str, threads: int):
    """The run's attention stage from the CLI options (``--target camera | YAW,PITCH | calibrate:SECONDS``)."""
    from emolens.attention import AttentionAnalyzer
    from emolens.errors import ConfigError

    options: dict = {"cone": cone}
    calibrate = None
    t = target.strip().lower()
    if t.startswith("calibrate"):
        _, _, secs = t.partition(":")
        try:
            calibrate = float(secs) if secs else 5.0
        except ValueError:
            raise ConfigError(f"--target {target!r}: expected calibrate:SECONDS") from None
    elif t != "camera":
        try:
            yaw, pitch = (float(v) for v in t.split(","))
        except ValueError:
            raise ConfigError(f"--target {target!r}: expected camera, YAW,PITCH or calibrate:SECONDS") from None
        options.update(target_yaw=yaw, target_pitch=pitch)
    return AttentionAnalyzer(options, threads=threads, calibrate_s=calibrate)


def _output_fps(source_fps: float | None, every: int, target_fps: float | None) -> float:
    """Frame rate of the annotated video: the analysed frames per second of video time."""
    base = source_fps if source_fps and math.isfinite(source_fps) else (target_fps or 25.0)
    rate = base / every
    return min(rate, target_fps) if target_fps else rate


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
        if self._progress is not None:
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


def _fuse(source: str, out: Path, audio: bool, transcript: Path | None, fps: float | None) -> list[Path]:
    """Voice and/or transcript beside the face table, and the fused per-second table; problems are notes."""
    import csv

    from rich.markup import escape

    from emolens.errors import AudioError
    from emolens.fusion.run import run_multimodal, write_rows
    from emolens.labels import FER2013

    run = None
    for use_audio in (audio, False) if audio else (False,):
        try:
            run = run_multimodal(
                frames_csv=out / "frames.csv", audio=source if use_audio else None, transcript=transcript, step=1.0
            )
            break
        except AudioError as e:  # no or unreadable audio track: fuse what there is
            err.print(f"[yellow]note:[/yellow] no voice: {escape(str(e))}", highlight=False)
        except EmolensError as e:
            err.print(f"[yellow]fusion skipped:[/yellow] {escape(str(e))}", highlight=False)
            return []
    if run is None:
        return []
    for note in run.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    files = []
    for name in ("voice", "text"):
        if name in run.streams:
            with (out / f"{name}.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["start", "end", *(f"p_{lab}" for lab in FER2013)])
                for seg in run.streams[name]:
                    w.writerow([round(seg.start, 3), round(seg.end, 3), *(round(v, 4) for v in seg.probs)])
            files.append(out / f"{name}.csv")
    write_rows(run.rows, out / "fused.csv")
    return [*files, out / "fused.csv"]
