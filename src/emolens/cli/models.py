"""``emolens models``: the shipped models and their manifests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import fail
from emolens.errors import EmolensError

out = Console()


def models(verify: Annotated[bool, typer.Option(help="Check each file's sha256 against its manifest.")] = True) -> None:
    """List the shipped models (name, task, size, licence)."""
    from emolens.registry import get_model, list_models, models_dir

    t = Table()
    t.add_column("name", no_wrap=True)
    for col in ("task", "MB", "version", "metrics"):
        t.add_column(col)
    try:
        for name in list_models():
            info = get_model(name) if verify else None
            import json

            m = info.manifest if info else json.loads((models_dir() / f"{name}.json").read_text())
            size = (models_dir() / m["file"]).stat().st_size / 1e6
            metrics = ", ".join(
                f"{k} {v}"
                for k, v in (m.get("metrics") or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            )
            t.add_row(name, m.get("task", ""), f"{size:.1f}", str(m.get("version", "")), metrics)
    except EmolensError as e:
        raise fail(e) from None
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
