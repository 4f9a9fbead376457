"""``emolens analyze``: photos, folders and globs to per-face records, annotated images and a summary."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail
from emolens.cli.device import DeviceOpt, use_device
from emolens.cli.options import (
    AnnotateOpt,
    Attention,
    DetectorOpt,
    Drawing,
    FormatHelp,
    LogEventsOpt,
    ModelOpt,
    OutputOpt,
    QuietOpt,
    RecogniseOpt,
    option_groups,
)
from emolens.cli.progress import progress_bar
from emolens.cli.records import RecordWriter, choose_format, simple_table
from emolens.errors import ConfigError, EmolensError
from emolens.registry import DEFAULT_DETECTOR

#: The columns of the `analyze` table on a terminal (the files carry every column).
TABLE_COLUMNS = ("file", "face", "box", "score", "label", "confidence", "identity")


class Format(StrEnum):
    auto = "auto"
    table = "table"
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    parquet = "parquet"


@option_groups
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders (searched recursively) or glob patterns.")],
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Format of the per-face records. " + FormatHelp)
    ] = Format.auto,
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    detector: DetectorOpt = DEFAULT_DETECTOR,
    model: ModelOpt = "emotion-fer2013",
    min_face: Annotated[float, typer.Option(help="Ignore faces smaller than this many pixels.")] = 0,
    max_faces: Annotated[
        int | None, typer.Option(help="Keep at most this many faces per image (largest first).")
    ] = None,
    threads: Annotated[
        int, typer.Option(help="Threads per model (0: ONNX Runtime's choice; 1 when several workers run).")
    ] = 0,
    workers: Annotated[
        int,
        typer.Option(
            help="Photos decoded and detected at once, in threads, while faces are classified (0: one per core)."
        ),
    ] = 0,
    tta: Annotated[bool, typer.Option(help="Mirror test-time augmentation for the emotion model.")] = False,
    gallery: RecogniseOpt = None,
    log_events: LogEventsOpt = False,
    drawing: Drawing = Drawing(),
    device: DeviceOpt = None,
    attention: Attention = Attention(),
    quiet: QuietOpt = False,
) -> None:
    """Detect every face in the images and predict its emotion; one record per face."""
    from emolens.analyzer import Analyzer
    from emolens.batch.engines import available_cores
    from emolens.draw import save_image
    from emolens.io.inputs import expand_inputs
    from emolens.session import attention_target

    use_device(device)
    if (log_events or drawing.blur_unknown) and gallery is None:
        err.print("[red]error:[/red] --log-events and --blur-unknown need --gallery")
        raise typer.Exit(EXIT_USAGE)
    if workers < 0:
        err.print("[red]error:[/red] --workers must be 0 or more")
        raise typer.Exit(EXIT_USAGE)
    try:
        items = list(expand_inputs(paths))
        n_workers = min(workers or available_cores(), max(1, len(items)))
        analyzer = Analyzer(
            detector,
            model,
            min_face=min_face,
            max_faces=max_faces,
            threads=threads or (1 if n_workers > 1 else 0),
            tta=tta,
            identity=gallery,
            workers=n_workers,
        )
        if attention.enabled and attention_target(attention.target)[1] is not None:  # it calibrates: a video's work
            raise ConfigError("--target calibrate needs a video; for photos use camera or YAW,PITCH")
        analyzer.attention = attention.stage(threads)
        logger = None
        if log_events and analyzer.gallery is not None:
            from emolens.events import EventLogger

            logger = EventLogger(analyzer.gallery.store)
        if annotate is not None:
            annotate.mkdir(parents=True, exist_ok=True)
        if output and output != "-":
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        n_images = n_faces = n_errors = 0
        used: set[str] = set()
        t0 = time.perf_counter()
        first = 0.0
        chosen = choose_format(fmt, output, [f.value for f in Format if f is not Format.auto])
        with (
            _writer(chosen, output, gallery is not None, attention.enabled) as writer,
            progress_bar(len(items), quiet or len(items) <= 3) as advance,
        ):
            for result, rgb in analyzer.iter_analyze(items, with_images=True):
                writer.write(result)
                n_images += result.ok  # a missing path or a video is an error, not an image
                if first == 0.0:
                    first = time.perf_counter() - t0  # the first result: model loading included
                n_faces += len(result.faces)
                if not result.ok:
                    n_errors += 1
                    err.print(f"[yellow]skipped[/yellow] {result.source}: {result.error}", highlight=False)
                else:
                    if logger is not None:
                        logger.log_image(result)
                    if annotate is not None and rgb is not None:
                        save_image(drawing.draw(rgb, result.faces), annotate / _unique_name(result.source, used))
                advance()
        if logger is not None:
            logger.close()
        dt = time.perf_counter() - t0
    except EmolensError as e:
        raise fail(e) from None
    if not quiet:
        rest = ""
        if n_images + n_errors > 1:  # the first input's time (models loaded) apart from the rate of the rest
            rest = f"; first {first:.2f} s (models loaded)"
            if n_images > 1:
                rest += f", then {(n_images - 1) / max(dt - first, 1e-9):.1f} image(s)/s"
        err.print(
            f"{n_images} image(s), {n_faces} face(s), {n_errors} error(s) in {dt:.2f} s{rest}"
            + (f" → {output}" if output and output != "-" else ""),
            highlight=False,
        )
    raise typer.Exit(EXIT_PARTIAL if n_errors else EXIT_OK)


class _TableWriter:
    """The `analyze` table: one row per face, printed per photo (a terminal) or once at the end (a file)."""

    def __init__(self, output: str | None, columns: tuple[str, ...]) -> None:
        self._records = RecordWriter("table", output, simple_table(columns), table_at_end=output not in (None, "-"))
        self._attention = "attention" in columns

    def __enter__(self) -> _TableWriter:
        self._records.__enter__()
        return self

    def write(self, result) -> None:
        rows = [
            {"file": result.source, "face": f.index, "box": " ".join(f"{v:.0f}" for v in f.box.to_list()),
             "score": f"{f.score:.2f}", "label": f.label, "confidence": f"{f.emotions.confidence:.2f}",
             "identity": f.identity, **(_attention_cells(f) if self._attention else {})}
            for f in result.faces
        ]  # fmt: skip
        self._records.write(*rows)

    def __exit__(self, *exc: object) -> None:
        self._records.__exit__(*exc)


def _attention_cells(face) -> dict[str, str]:
    """``head``: yaw and pitch in degrees; ``attention``: attending or how far away, closed eyes, a yawn."""
    cells = {"head": "", "attention": ""}
    if face.pose is not None:
        cells["head"] = f"yaw {face.pose.yaw:+.0f}° pitch {face.pose.pitch:+.0f}°"
    if face.attention is not None:
        a = face.attention
        bits = ["attending" if a.attending else f"away {a.off_target:.0f}°"]
        if face.eyes is not None and face.eyes.closed:
            bits.append("eyes closed")
        if face.mouth is not None and face.mouth.yawn:
            bits.append("yawn")
        cells["attention"] = ", ".join(bits)
    return cells


def _writer(fmt: str, output: str | None, identity: bool, attention: bool = False):
    from emolens.io.writers import open_writer

    columns = TABLE_COLUMNS if identity else TABLE_COLUMNS[:-1]
    if attention:
        columns = (*columns, "head", "attention")
    return _TableWriter(output, columns) if fmt == "table" else open_writer(fmt, output, attention=attention)


def _unique_name(source: str, used: set[str]) -> str:
    """``stem.jpg``, or ``stem-2.jpg``, ``stem-3.jpg``… when inputs in different folders share a name."""
    stem = Path(source).stem
    name, k = f"{stem}.jpg", 1
    while name in used:
        k += 1
        name = f"{stem}-{k}.jpg"
    used.add(name)
    return name


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
