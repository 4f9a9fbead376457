"""``emolens voice``: audio files (or videos' audio tracks) to emotion per utterance and per window."""

from __future__ import annotations

import csv
import json
import sys
import time
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer

from emolens.cli.main import EXIT_OK, EXIT_PARTIAL, err, fail
from emolens.errors import ConfigError, EmolensError


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def voice(
    files: Annotated[list[Path], typer.Argument(help="Audio files (wav/flac/ogg/mp3/m4a…) or videos with sound.")],
    window: Annotated[
        float | None,
        typer.Option(help="Also score fixed windows of this many seconds (default: only for audio over 10 s, 2 s)."),
    ] = None,
    hop: Annotated[float, typer.Option(help="Step between windows, seconds.")] = 0.5,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output file (default: standard output).")
    ] = None,
    model: Annotated[str, typer.Option(help="Voice model name or manifest path.")] = "voice-ravdess",
    vad: Annotated[
        str, typer.Option(help="Voice activity detector: 'energy' (as in training) or 'silero' (better in noise).")
    ] = "energy",
    threads: Annotated[int, typer.Option(help="ONNX Runtime threads (0: its choice).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
) -> None:
    """Predict the emotion in the voice of each file: overall, per utterance (VAD) and per window.

    Probabilities cover RAVDESS's 8 classes and emolens's 7 labels (calm merged into neutral), plus a valence score.
    """
    from emolens.voice.analyzer import RECORD_COLUMNS, VoiceAnalyzer, voice_records

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
        if output and output != "-":
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        n_files = n_errors = n_silent = 0
        t0 = time.perf_counter()
        ctx = open(output, "w", newline="") if output and output != "-" else nullcontext(sys.stdout)
        with ctx as out:
            writer = _Writer(fmt, out, RECORD_COLUMNS)
            for f, result in zip(files, analyzer.analyze_many(files), strict=True):
                n_files += 1
                if isinstance(result, EmolensError):
                    n_errors += 1
                    err.print(f"[yellow]skipped[/yellow] {result}", highlight=False, soft_wrap=True)
                    writer.write(
                        voice_records(result, str(f)), {"source": result.source or str(f), "error": result.message}
                    )
                    continue
                n_silent += not result.has_speech
                writer.write(voice_records(result), result.to_dict())
            writer.close()
        dt = time.perf_counter() - t0
    except EmolensError as e:
        raise fail(e) from None
    if not quiet:
        err.print(
            f"{n_files} file(s), {n_silent} without speech, {n_errors} error(s) in {dt:.1f} s"
            + (f" → {output}" if output and output != "-" else ""),
            highlight=False,
        )
    raise typer.Exit(EXIT_PARTIAL if n_errors else EXIT_OK)


class _Writer:
    """Streams results: a Rich table row per record, CSV rows, or one JSON array of per-file objects."""

    def __init__(self, fmt: Format, out: IO[str], columns: tuple[str, ...]) -> None:
        self.fmt, self.out, self.n = fmt, out, 0
        if fmt is Format.csv:
            self.csv = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
            self.csv.writeheader()
        elif fmt is Format.json:
            out.write("[")
        else:
            from rich.console import Console

            self.console = Console(file=out, soft_wrap=True, width=200 if not out.isatty() else None)

    def write(self, rows: list[dict], obj: dict) -> None:
        if self.fmt is Format.csv:
            self.csv.writerows(rows)
        elif self.fmt is Format.json:
            self.out.write(("," if self.n else "") + "\n" + json.dumps(obj))
        else:
            self._table(rows)
        self.out.flush()
        self.n += 1

    def _table(self, rows: list[dict]) -> None:
        from rich.table import Table

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
        self.console.print(t)

    def close(self) -> None:
        if self.fmt is Format.json:
            self.out.write("\n]\n")


def _num(v: float | None, digits: int, signed: bool = False) -> str:
    if v is None:
        return ""
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("voice")(voice)
