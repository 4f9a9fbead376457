"""``emolens`` entry point: the Typer app and its commands (the exit codes and the mapping of errors to them are
in :mod:`emolens.cli.console`).

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 bad usage or options;
3 a model, dataset or gallery could not be loaded; 130 interrupted.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any

import typer
from typer.core import TyperCommand

try:  # Typer 0.2x ships its own copy of Click
    from typer._click.exceptions import NoSuchOption
except ImportError:  # pragma: no cover
    from click.exceptions import NoSuchOption

from emolens.cli.console import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail

__all__ = ["EXIT_FATAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "err", "fail", "main"]

app = typer.Typer(
    name="emolens",
    help="Find faces and tell how people feel, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


class _Command(TyperCommand):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
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
