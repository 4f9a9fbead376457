"""What every command shares to talk to the user: the console on standard error (standard output carries only
results), the exit codes, and :func:`fail`, which turns a library error into one line and an exit code.

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 bad usage or options;
3 a model, dataset or gallery could not be loaded; 130 interrupted.

The command modules import from here, never from :mod:`emolens.cli.main`, which imports them.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from emolens.errors import ConfigError, DataError, EmolensError, GalleryError, MissingExtraError, ModelError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

err = Console(stderr=True)


def fail(e: EmolensError) -> typer.Exit:
    """Print one line for the user and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
    if isinstance(e, ConfigError | MissingExtraError):
        return typer.Exit(EXIT_USAGE)
    if isinstance(e, ModelError | DataError | GalleryError):
        return typer.Exit(EXIT_FATAL)
    return typer.Exit(EXIT_PARTIAL)
