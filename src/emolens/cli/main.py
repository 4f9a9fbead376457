"""``emolens`` entry point: the Typer app and its commands (the exit codes and the mapping of errors to them are
in :mod:`emolens.cli.console`).

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 bad usage or options;
3 a model, dataset or gallery could not be loaded; 130 interrupted.
"""

from __future__ import annotations

import difflib
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

try:  # Typer 0.2x ships its own copy of Click
    from typer._click.exceptions import NoSuchOption, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoSuchOption, UsageError

from emolens.cli.console import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail
from emolens.cli.vocabulary import rewrite_deprecated

__all__ = ["EXIT_FATAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "err", "fail", "main"]

app = typer.Typer(
    name="emolens",
    help="Find faces and tell how people feel, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from emolens import __version__

        typer.echo(f"emolens {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Find faces and tell how people feel, offline."""


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
        report,
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
    report.register(app)


_register()


def _nearest_option_only(typer_app: typer.Typer) -> None:
    """Every command (sub-commands included) suggests the one option nearest to a mistyped one, by
    :func:`difflib.get_close_matches`, instead of Click's list of all loose matches (``--anotate`` got
    "Possible options: --annotate, --no-tta")."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = _Command
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _nearest_option_only(group.typer_instance)


def _command_path(ctx: Any) -> str:
    """``"gallery list"`` for ``emolens gallery list``: the names below the program's own."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names))


def _note(message: str) -> None:
    err.print(f"[yellow]note:[/yellow] {message}", highlight=False, soft_wrap=True)


class _Command(TyperCommand):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:  # the old spellings of emolens.cli.vocabulary.RENAMED, with a note
            args = rewrite_deprecated(_command_path(ctx), args, _note)
        except ValueError as e:
            raise UsageError(str(e), ctx) from None
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as e:
            names = [o for p in self.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
            e.possibilities = difflib.get_close_matches(e.option_name, names, n=1, cutoff=0.7)  # type: ignore[misc]
            raise


_nearest_option_only(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
