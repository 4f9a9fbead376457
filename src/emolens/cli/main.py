"""``emolens`` entry point: the Typer app, the commands, and the mapping of errors to exit codes.

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 bad usage or options;
3 a model, dataset or gallery could not be loaded; 130 interrupted.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from emolens.cli.console import err
from emolens.errors import ConfigError, DataError, EmolensError, GalleryError, MissingExtraError, ModelError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="emolens",
    help="Find faces and tell how people feel, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(e: EmolensError) -> typer.Exit:
    """Print one line for the user and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
    if isinstance(e, ConfigError | MissingExtraError):
        return typer.Exit(EXIT_USAGE)
    if isinstance(e, ModelError | DataError | GalleryError):
        return typer.Exit(EXIT_FATAL)
    return typer.Exit(EXIT_PARTIAL)


def _register() -> None:
    from emolens.cli import (
        analyze,
        batch,
        bench,
        evaluate,
        events,
        fuse,
        identity,
        models,
        privacy,
        prune,
        serve,
        text,
        train,
        video,
        voice,
    )

    for module in (
        analyze,
        bench,
        evaluate,
        models,
        train,
        video,
        identity,
        events,
        voice,
        text,
        fuse,
        serve,
        batch,
        prune,
        privacy,
    ):
        module.register(app)


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
