"""``emolens fuse``: face, voice and text emotion of one recording, aligned per step and fused."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from emolens.cli.console import EXIT_USAGE, err, fail
from emolens.cli.options import Running, option_groups
from emolens.errors import EmolensError


class Rule(StrEnum):
    weighted = "weighted"
    entropy = "entropy"
    gated = "gated"
    learned = "learned"


@option_groups
def fuse(
    face: Annotated[Path | None, typer.Option(help="frames.csv written by `emolens video`.")] = None,
    voice: Annotated[Path | None, typer.Option(help="Audio file, or a video whose audio track to use.")] = None,
    text: Annotated[Path | None, typer.Option(help="Transcript: SRT, VTT, CSV/TSV start,end,text, or JSONL.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="fused.csv or fused.json.")] = Path("fused.csv"),
    step: Annotated[float, typer.Option(min=0.05, help="Seconds per fused row.")] = 1.0,
    rule: Annotated[Rule, typer.Option(help="Fusion rule.")] = Rule.entropy,
    weights: Annotated[str | None, typer.Option(help="Modality weights, e.g. face=1,voice=0.5,text=1.")] = None,
    gate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Confidence a modality needs under --rule gated.")
    ] = 0.5,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="LearnedFusion JSON for --rule learned.")] = None,
    running: Running = Running(),
) -> None:
    """Align face frames, voice windows and transcript lines on one timeline and fuse them every --step seconds."""
    from emolens.fusion.run import parse_weights, run_multimodal, write_rows

    running.use_device()

    if face is None and voice is None and text is None:
        err.print("[red]error:[/red] give at least one of --face, --voice, --text")
        raise typer.Exit(EXIT_USAGE)
    try:
        run = run_multimodal(
            frames_csv=face,
            audio=voice,
            transcript=text,
            step=step,
            rule=rule.value,
            weights=parse_weights(weights),
            gate=gate,
            model=model,
        )
        write_rows(run.rows, output)
    except EmolensError as e:
        raise fail(e) from None
    if running.quiet:
        return
    for note in run.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    fused = [r for r in run.rows if r["label"]]
    err.print(
        f"{len(run.rows)} step(s) of {step:g} s, {len(fused)} with a fused label "
        f"({', '.join(f'{k}: {len(v)} segment(s)' for k, v in run.streams.items())}) → {output}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("fuse")(fuse)
