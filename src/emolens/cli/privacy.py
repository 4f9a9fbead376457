"""``emolens gallery purge|budget|encrypt|audit``: data at rest, the privacy budget and the audit log."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from emolens.cli.console import err, fail
from emolens.cli.identity import GalleryOpt, gallery_app, out
from emolens.cli.options import FormatOpt, OutputOpt, ReportOutput, option_groups
from emolens.cli.records import Format, RecordWriter, simple_table, write_json
from emolens.errors import EmolensError


def _store(gallery: Path | None):
    from emolens.identity.gallery import default_gallery_path
    from emolens.identity.store import SQLiteStore

    return SQLiteStore(gallery or default_gallery_path())


@gallery_app.command("purge")
def gallery_purge(
    before: Annotated[str, typer.Option(help="Delete what is older: ISO date, Unix time or an age (30d, 12h).")],
    gallery: GalleryOpt = None,
    people: Annotated[
        bool, typer.Option(help="Also delete the people enrolled before then (with their embeddings and events).")
    ] = False,
) -> None:
    """Delete the events and alerts from before a date (and with --people the people enrolled before it)."""
    from emolens.cli.events import parse_time

    t = parse_time(before)
    try:
        gone = _store(gallery).purge_before(t, people=people)
    except EmolensError as e:
        raise fail(e) from None
    stamp = dt.datetime.fromtimestamp(t).isoformat(timespec="seconds")
    err.print(f"deleted {', '.join(f'{v} {k}' for k, v in gone.items())} from before {stamp}", highlight=False)


@gallery_app.command("budget")
@option_groups
def gallery_budget(
    gallery: GalleryOpt = None,
    set_to: Annotated[float | None, typer.Option("--set", help="Set the gallery's total privacy budget (ε).")] = None,
    report_to: ReportOutput = ReportOutput(),
) -> None:
    """The gallery's privacy budget, what the DP releases from it have spent, and its ledger."""
    try:
        show, json_to = report_to.destinations()
        store = _store(gallery)
        if set_to is not None:
            store.set_privacy_budget(set_to)
        budget, (spent, n) = store.privacy_budget(), store.privacy_spent()
        ledger = store.ledger()
    except EmolensError as e:
        raise fail(e) from None
    write_json({"budget": budget, "spent": spent, "left": budget - spent, "ledger": ledger}, json_to)
    if show:
        out.print(
            f"privacy budget ε = {budget:g}: {spent:.4g} spent by {n} release(s), {budget - spent:.4g} left",
            highlight=False,
        )


@gallery_app.command("encrypt")
def gallery_encrypt(
    gallery: GalleryOpt = None,
    key_file: Annotated[
        Path | None, typer.Option(help="File whose first line is the key (default: $EMOLENS_GALLERY_KEY[_FILE]).")
    ] = None,
) -> None:
    """Encrypt a plain gallery (and its audit log) in place with SQLCipher; later commands need the key in
    EMOLENS_GALLERY_KEY or EMOLENS_GALLERY_KEY_FILE."""
    from emolens.identity.gallery import default_gallery_path
    from emolens.privacy.database import KEY_FILE_ENV, key_from_env
    from emolens.privacy.encryption import encrypt_file

    if key_file is not None:
        os.environ[KEY_FILE_ENV] = str(key_file)
    path = gallery or default_gallery_path()
    try:
        key = key_from_env()
        if key is None:
            raise EmolensError("no key: set EMOLENS_GALLERY_KEY or give --key-file")
        done = encrypt_file(path, key)
    except EmolensError as e:
        raise fail(e) from None
    err.print(f"encrypted {', '.join(str(p) for p in done)}", highlight=False)


@gallery_app.command("audit")
def gallery_audit(
    gallery: GalleryOpt = None,
    since: Annotated[str | None, typer.Option(help="From this time (ISO date, Unix time or an age).")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (enrol, delete, purge, retention, export, dp-query, ...).")
    ] = None,
    fmt: FormatOpt = Format.auto,
    output: OutputOpt = None,
) -> None:
    """Who enrolled, deleted, purged, exported or queried what, and when (kept apart from the event log)."""
    from emolens.cli.events import parse_time
    from emolens.privacy.audit import AuditLog

    try:
        store = _store(gallery)
        rows = AuditLog.for_gallery(store.path, store.key).rows(parse_time(since) if since else None, action)
    except EmolensError as e:
        raise fail(e) from None
    for r in rows:
        r["time"] = dt.datetime.fromtimestamp(r["time"]).isoformat(timespec="seconds")
    try:
        with RecordWriter(fmt, output, simple_table(("time", "who", "action", "what"))) as w:
            w.write(*rows)
    except EmolensError as e:
        raise fail(e) from None


def register(app: typer.Typer) -> None:
    """The commands hang on `emolens gallery`, which cli.identity registers."""
