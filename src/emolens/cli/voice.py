"""``emolens voice``: audio files (or videos' audio tracks) to emotion per utterance and per window."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, err, fail
from emolens.cli.options import FormatOpt, OutputOpt, Running, option_groups
from emolens.cli.records import Format, RecordWriter
from emolens.errors import ConfigError, EmolensError


@option_groups
def voice(
    files: Annotated[list[Path], typer.Argument(help="Audio files (wav/flac/ogg/mp3/m4a…) or videos with sound.")],
    window: Annotated[
        float | None,
        typer.Option(help="Also score fixed windows of this many seconds (default: only for audio over 10 s, 2 s)."),
    ] = None,
    hop: Annotated[float, typer.Option(help="Step between windows, seconds.")] = 0.5,
    fmt: FormatOpt = Format.auto,
    output: OutputOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Voice model name or manifest path.")] = "voice-ravdess",
    vad: Annotated[
        str, typer.Option(help="Voice activity detector: 'energy' (as in training) or 'silero' (better in noise).")
    ] = "energy",
    threads: Annotated[int, typer.Option(help="ONNX Runtime threads (0: its choice).")] = 0,
    running: Running = Running(),
) -> None:
    """Predict the emotion in the voice of each file: overall, per utterance (VAD) and per window.

    Probabilities cover RAVDESS's 8 classes and emolens's 7 labels (calm merged into neutral), plus a valence score.
    """
    from emolens.voice.analyzer import RECORD_COLUMNS, VoiceAnalyzer, voice_records

    running.use_device()
    try:
        if window is not None and window <= 0:
            raise ConfigError(f"--window must be positive (got {window})")
        analyzer = VoiceAnalyzer(
            model,
            window=window or 2.0,
            hop=hop,
            windows=True if window else None,
            min_speech=min(0.5, window or 2.0),
            threads=threads,
            vad=vad,
        )
        _ = analyzer.model  # load (and verify) the model before reading any file
        n_files = n_errors = n_silent = 0
        t0 = time.perf_counter()
        with RecordWriter(fmt, output, _table, csv_columns=RECORD_COLUMNS, table_at_end=False) as writer:
            per_file = writer.fmt in (Format.json, Format.jsonl)  # one object per file; a table or CSV: flat rows
            for f, result in zip(files, analyzer.analyze_many(files), strict=True):
                n_files += 1
                if isinstance(result, EmolensError):
                    n_errors += 1
                    err.print(f"[yellow]skipped[/yellow] {result}", highlight=False, soft_wrap=True)
                    obj = {"source": result.source or str(f), "error": result.message}
                    writer.write(*([obj] if per_file else voice_records(result, str(f))))
                    continue
                n_silent += not result.has_speech
                writer.write(*([result.to_dict()] if per_file else voice_records(result)))
        dt = time.perf_counter() - t0
    except EmolensError as e:
        raise fail(e) from None
    if not running.quiet:
        err.print(
            f"{n_files} file(s), {n_silent} without speech, {n_errors} error(s) in {dt:.1f} s"
            + (f" → {output}" if output and output != "-" else ""),
            highlight=False,
        )
    raise typer.Exit(EXIT_PARTIAL if n_errors else EXIT_OK)


def _table(rows: list[dict]) -> Table:
    t = Table(title=rows[0]["source"], title_justify="left", show_edge=False)
    for c in ("kind", "start", "end", "speech s", "label", "conf", "valence", "ravdess", "error"):
        t.add_column(c, justify="right" if c in ("start", "end", "speech s", "conf", "valence") else "left")
    for r in rows:
        t.add_row(
            f"{r['kind']}{' ' + str(r['index']) if r['kind'] in ('utterance', 'window') else ''}",
            _num(r.get("start"), 2),
            _num(r.get("end"), 2),
            _num(r.get("speech_s"), 2),
            r.get("label") or ("—" if r["kind"] != "error" else ""),
            _num(r.get("confidence"), 2),
            _num(r.get("valence"), 2, signed=True),
            r.get("ravdess_top") or "",
            r.get("error") or "",
        )
    return t


def _num(v: float | None, digits: int, signed: bool = False) -> str:
    if v is None:
        return ""
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("voice")(voice)
