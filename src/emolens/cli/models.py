"""``emolens models``: the shipped models and their manifests, as the registry lists them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import fail
from emolens.errors import EmolensError

out = Console()


def models(
    verify: Annotated[bool, typer.Option(help="Check each file's sha256 against its manifest.")] = True,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only models of this kind: detect, emotion, embed, landmarks, ...")
    ] = None,
) -> None:
    """List the shipped models (name, task, size, version, metrics) and the detector backends."""
    from emolens import registry

    t = Table()
    t.add_column("name", no_wrap=True)
    for col in ("task", "MB", "version", "metrics"):
        t.add_column(col)
    try:
        names = set(registry.model_names(kind))
        for row in registry.models_table():
            if row["name"] not in names:
                continue
            if verify:
                registry.get_model(row["name"])
            m = row["manifest"]
            metrics = ", ".join(
                f"{k} {v}" for k, v in m.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
            )
            t.add_row(row["name"], m.task, f"{row['size_mb']:.1f}", m.version, metrics)
    except EmolensError as e:
        raise fail(e) from None
    out.print(t)
    if kind in (None, "detect"):
        out.print(f"detectors: {', '.join(registry.detector_names())} (default {registry.DEFAULT_DETECTOR})")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
