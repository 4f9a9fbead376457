"""``emolens batch``: many photos and videos to partitioned Parquet, resumable, on local processes or Ray."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, err, fail
from emolens.cli.options import Attention, DetectorOpt, ModelOpt, Running, option_groups
from emolens.errors import EmolensError
from emolens.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from emolens.batch import BatchProgress

MAX_FAILURE_LINES = 20


class Engine(StrEnum):
    local = "local"
    ray = "ray"


@option_groups
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Photos, videos, folders (searched recursively), .txt file lists (one path a line), globs."
        ),
    ],
    out: Annotated[Path, typer.Option("--output", "-o", help="Output folder: Parquet tables, failures, summary.")],
    engine: Annotated[
        Engine, typer.Option(help="local: processes on this machine; ray: a Ray cluster.")
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (ray start --head prints it; 'auto'). Default: a local Ray.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes / Ray actors (default: local 1, ray one per CPU).")
    ] = None,
    threads: Annotated[int, typer.Option(min=0, help="ONNX Runtime threads per worker (0: cores / workers).")] = 0,
    detector: DetectorOpt = DEFAULT_DETECTOR,
    model: ModelOpt = "emotion-fer2013",
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Most photos per worker call (a video is a call of its own).")
    ] = 8,
    video_stride: Annotated[int, typer.Option(min=1, help="Analyse every Nth frame of the videos.")] = 1,
    commit_interval: Annotated[
        float, typer.Option(min=0, help="Seconds between commits: the most work a killed run redoes.")
    ] = 10.0,
    overwrite: Annotated[bool, typer.Option(help="Delete earlier results in --output and start over.")] = False,
    attention: Attention = Attention(),
    running: Running = Running(),
) -> None:
    """Analyse many photos and videos into partitioned Parquet; re-run the same command to resume.

    Inputs already done (same path, size and modification time) are skipped; failed inputs are listed in
    failures.jsonl and tried again on the next run. See docs/batch.md.
    """
    import os

    from emolens.batch import run_batch

    running.use_device()
    if running.device is not None:  # the worker processes load their models with it too
        os.environ["EMOLENS_DEVICE"] = str(running.device)
    view = _View(running.quiet)
    try:
        attention.check()
        summary = run_batch(
            inputs,
            out,
            engine=engine.value,
            workers=workers,
            threads=threads,
            address=address,
            detector=detector,
            model=model,
            video_stride=video_stride,
            chunk_size=chunk_size,
            attention={"cone": attention.cone, "target": attention.target} if attention.enabled else None,
            overwrite=overwrite,
            commit_interval=commit_interval,
            on_progress=view.update,
        )
    except EmolensError as e:
        view.stop()
        raise fail(e) from None
    except KeyboardInterrupt:
        view.stop()
        err.print(
            f"finished inputs are saved in {out}; run the same command again to resume", highlight=False, soft_wrap=True
        )
        raise
    view.stop()
    if not running.quiet:
        rate = f" ({summary.items_per_second:.2f} inputs/s)" if summary.done else ""
        startup = f", {summary.startup_seconds:.1f} s of it starting workers" if summary.startup_seconds >= 0.5 else ""
        err.print(
            f"done {summary.done}, skipped {summary.skipped}, failed {summary.failed}, faces {summary.faces}"
            f" in {summary.seconds:.1f} s{rate}{startup} → {out}",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(EXIT_PARTIAL if summary.failed else EXIT_OK)


class _View:
    """Renders ``BatchProgress`` on standard error: a Rich bar with inputs/s, and each failure on its own line."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.failures_shown = 0
        self._progress = None
        self._task = None

    def update(self, p: BatchProgress) -> None:
        for f in p.failures:
            self.failures_shown += 1
            if self.failures_shown <= MAX_FAILURE_LINES:
                err.print(
                    f"[yellow]failed[/yellow] {escape(f.source)}: {escape(f.error)}", highlight=False, soft_wrap=True
                )
            elif self.failures_shown == MAX_FAILURE_LINES + 1:
                err.print(
                    "[yellow]more failures:[/yellow] see failures.jsonl in the output folder",
                    highlight=False,
                    soft_wrap=True,
                )
        if self.quiet:
            return
        if p.stage == "planned":
            if p.skipped:
                err.print(f"skipping {p.skipped} input(s) finished by an earlier run", highlight=False, soft_wrap=True)
            if p.total:
                self._start(p.total)
        elif self._progress is not None:
            rate = p.completed / p.elapsed if p.elapsed > 0 else 0.0
            self._progress.update(
                self._task, description="analysing", completed=p.completed, rate=rate, faces=p.faces, failed=p.failed
            )

    def _start(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]:.2f} inputs/s, {task.fields[faces]} faces, {task.fields[failed]} failed"),
        )
        self._progress = Progress(*columns, console=err, transient=False)
        self._progress.start()
        self._task = self._progress.add_task("starting workers", total=total, rate=0.0, faces=0, failed=0)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
