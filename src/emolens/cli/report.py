"""``emolens report``: a video run folder or an event-log query to one self-contained HTML report and a PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emolens.cli.console import EXIT_OK, EXIT_USAGE, err, fail
from emolens.cli.identity import GalleryOpt
from emolens.errors import ConfigError, EmolensError


def report(
    run: Annotated[
        Path | None,
        typer.Argument(help="A video run folder (emolens video --out DIR [--attention]); omit for the event log."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file (default: DIR/report.html or report.html).")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print a PDF beside it (headless Chromium).")] = True,
    anonymous: Annotated[bool, typer.Option("--anonymous", help="No names, sources or face thumbnails.")] = False,
    gallery: GalleryOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Event log: from this time (ISO date, Unix time, or an age: 15m, 2h, 7d).")
    ] = None,
    identity: Annotated[str | None, typer.Option(help="Event log: only this person.")] = None,
) -> None:
    """Write a report a person would rather read than the CSV: per person and for the whole session."""
    from emolens.attention.report import html_to_pdf, render_html
    from emolens.attention.session import load_events, load_run

    if run is not None and (since or identity or gallery):
        err.print("[red]error:[/red] give a run folder, or --gallery/--since/--identity for the event log, not both")
        raise typer.Exit(EXIT_USAGE)
    try:
        if run is not None:
            session = load_run(run)
            out = output or run / "report.html"
        else:
            from emolens.cli.events import parse_time
            from emolens.identity import Gallery
            from emolens.identity.store import EventQuery

            g = Gallery(gallery)
            query = EventQuery(since=parse_time(since) if since else None, identity=identity)
            rows, alerts = g.store.events(query), g.store.events(query, table="alerts")
            session = load_events(rows, alerts, identity=identity, source=getattr(g.store, "path", "event log"))
            out = output or Path("report.html")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(session, anonymous=anonymous), encoding="utf-8")
        files = [out]
        if pdf:
            try:
                files.append(html_to_pdf(out, out.with_suffix(".pdf")))
            except ConfigError as e:
                err.print(f"[yellow]note:[/yellow] no PDF: {e}", highlight=False)
    except EmolensError as e:
        raise fail(e) from None
    err.print(f"{len(session.people)} person(s) → {', '.join(map(str, files))}", highlight=False)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
