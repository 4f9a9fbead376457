"""A Rich progress bar on standard error, or nothing when quiet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from emolens.cli.console import err


def _progress(transient: bool) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TimeRemainingColumn()] if transient else [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=err, transient=transient)


@contextmanager
def progress_bar(total: int, quiet: bool = False, description: str = "analysing") -> Iterator[Callable[[], None]]:
    """A bar over a known number of items; the caller advances it once per item."""
    if quiet:
        yield lambda: None
        return
    with _progress(transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


@contextmanager
def stage_bar(quiet: bool = False) -> Iterator[Callable[[str, int, int], None] | None]:
    """A transient bar that restarts with each stage (an epoch, say): the caller reports
    ``(description, done, total)``. None when quiet or when standard error is not a terminal."""
    if quiet or not err.is_terminal:
        yield None
        return
    with _progress(transient=True) as progress:
        task = progress.add_task("", total=None)
        yield lambda description, done, total: progress.update(
            task, description=description, completed=done, total=total
        )
