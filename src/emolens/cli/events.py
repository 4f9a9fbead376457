"""``emolens events``: query and export the identity + emotion event log and its alerts."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated

import typer

from emolens.cli.console import EXIT_USAGE, err, fail
from emolens.cli.identity import GalleryOpt
from emolens.cli.options import OutputOpt
from emolens.cli.records import Format, RecordWriter, simple_table
from emolens.errors import EmolensError


def parse_time(text: str) -> float:
    """``2026-11-28``, ``2026-11-28T14:00``, a Unix time, or an age such as ``90s``, ``15m``, ``2h``, ``7d``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if m:
        return time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date, a Unix time or an age like 2h") from None


def events(
    gallery: GalleryOpt = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: ISO date, Unix time, or an age (15m, 2h, 7d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (same forms).")] = None,
    identity: Annotated[str | None, typer.Option(help="Only this person ('unknown' for unknown faces).")] = None,
    emotion: Annotated[str | None, typer.Option(help="Only this emotion.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source (file, camera, URL).")] = None,
    alerts: Annotated[bool, typer.Option("--alerts", help="Show alerts instead of events.")] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    output: OutputOpt = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(help="Release only a differentially private histogram (--by) spending this ε of the budget."),
    ] = None,
    by: Annotated[str, typer.Option(help="With --dp-epsilon: the histogram's bins: emotion, hour or weekday.")] = (
        "emotion"
    ),
    max_per_person: Annotated[
        int, typer.Option(help="With --dp-epsilon: rows counted per person at most (the sensitivity).")
    ] = 10,
) -> None:
    """Events (time, source, track, identity, emotion, scores) or alerts from the gallery's log."""
    from emolens.identity import Gallery
    from emolens.identity.store import EventQuery

    if dp_epsilon is not None:
        _private(gallery, since, until, dp_epsilon, by, max_per_person)
        return

    if limit is not None and limit < 1:
        err.print("[red]error:[/red] --limit must be at least 1")
        raise typer.Exit(EXIT_USAGE)
    q = EventQuery(
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
        identity=identity,
        emotion=emotion,
        source=source,
        limit=limit,
    )
    try:
        rows = Gallery(gallery).events(q, alerts=alerts)
    except EmolensError as e:
        raise fail(e) from None
    for r in rows:
        r["time"] = dt.datetime.fromtimestamp(r["time"]).isoformat(timespec="seconds")
    cols = (
        ("time", "rule", "source", "track", "identity", "emotion", "duration_s", "peak_score")
        if alerts
        else ("time", "source", "frame", "track", "identity", "identity_score", "emotion", "emotion_score")
    )
    try:
        with RecordWriter(fmt, output, simple_table(cols)) as w:
            w.write(*rows)
        if output:
            g = Gallery(gallery)
            if hasattr(g.store, "audit"):
                g.store.audit("export", f"{len(rows)} {'alerts' if alerts else 'events'} to {output}")
    except EmolensError as e:
        raise fail(e) from None


def _private(gallery, since: str | None, until: str | None, epsilon: float, by: str, max_per_person: int) -> None:
    """Print an ε-DP histogram of the events, charged to the gallery's privacy budget."""
    import json

    from emolens.identity import Gallery
    from emolens.identity.store import EventQuery
    from emolens.privacy.release import private_histogram

    try:
        store = Gallery(gallery).store
        rows = store.events(
            EventQuery(since=parse_time(since) if since else None, until=parse_time(until) if until else None)
        )
        release = private_histogram(rows, by, epsilon, max_per_person, charge=lambda e, q: store.charge_privacy(e, q))
    except EmolensError as e:
        raise fail(e) from None
    typer.echo(json.dumps(release.to_dict()))


def register(app: typer.Typer) -> None:
    app.command("events")(events)
