"""Recovering a damaged SQLite gallery: every readable row is copied into a fresh file, the damaged one is kept
beside it, and a :class:`RecoveryReport` says what was saved and lost (``emolens gallery recover``)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emolens.errors import GalleryError
from emolens.identity.schema import ALERT_COLUMNS, EVENT_COLUMNS
from emolens.identity.store import SQLiteStore


@dataclass
class RecoveryReport:
    """What :func:`recover` saved and lost, per table.

    Attributes
    ----------
    saved : dict
        Rows copied per table, after people without any embedding were dropped (``persons`` counts those kept).
    lost : dict
        Rows known to exist but unreadable, per table (their ids were seen in an index or around a bad page).
    lost_ids : dict
        Those rows' ids, per table.
    unknown_after : dict
        Per table, the last id read before a damaged region whose rows could not even be counted (no index held
        them); a table missing here lost nothing uncounted.
    dropped_persons : list
        Names of people kept out of the new file because none of their embeddings could be read.
    """

    saved: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    lost_ids: dict[str, list[int]] = field(default_factory=dict)
    unknown_after: dict[str, int] = field(default_factory=dict)
    dropped_persons: list[str] = field(default_factory=list)

    def __getitem__(self, table: str) -> int:
        """``report["embeddings"]``: the rows saved in a table (as :attr:`saved`)."""
        return self.saved[table]

    def summary(self) -> str:
        """One line: ``saved 30 persons, 113 embeddings, ...; lost 6 embeddings (ids 114-119)``."""
        saved = ", ".join(f"{v} {k}" for k, v in self.saved.items()) or "nothing"
        parts = []
        for table, n in self.lost.items():
            if n:
                ids = self.lost_ids.get(table, [])
                span = f"id {ids[0]}" if len(ids) == 1 else f"ids {ids[0]}-{ids[-1]}" if ids else ""
                parts.append(f"{n} {table}" + (f" ({span})" if span else ""))
        for table, last in self.unknown_after.items():
            parts.append(f"an uncounted number of {table} after id {last}")
        if self.dropped_persons:
            parts.append(f"{len(self.dropped_persons)} persons with no readable embedding")
        return f"saved {saved}; lost " + ("; ".join(parts) if parts else "nothing")


_RECOVER_TABLES = (
    ("persons", ("id", "name", "created")),
    ("embeddings", ("id", "person_id", "model", "vector", "source", "image", "created")),
    ("events", ("id", *EVENT_COLUMNS)),
    ("alerts", ("id", *ALERT_COLUMNS)),
)


def recover(path: str | os.PathLike[str]) -> tuple[Path, RecoveryReport]:
    """Copy every readable row of a damaged gallery into a fresh file at ``path``.

    The damaged file (and its ``-wal``/``-shm`` companions) is moved aside to ``PATH.corrupt-<time>``. Each table
    is read whole if it can be; otherwise row by row: the ids come from walking the table around its bad pages
    and from every index on it (an index keeps the ids of rows whose own page is damaged), and each id is read
    on its own, so a bad page loses only its own rows, and the report says which.

    Returns
    -------
    (Path, RecoveryReport)
        Where the damaged file went, and what was saved and lost.
    """
    path = Path(path)
    if not path.exists():
        raise GalleryError("no such gallery file", str(path))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    damaged = path.with_name(f"{path.name}.corrupt-{stamp}")
    shutil.move(path, damaged)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            shutil.move(side, damaged.with_name(damaged.name + suffix))
    report = RecoveryReport()
    fresh = SQLiteStore(path, check=False)
    try:
        src = sqlite3.connect(damaged)
    except sqlite3.DatabaseError:
        fresh.close()
        return damaged, report
    try:
        names: dict[int, str] = {}
        for table, cols in _RECOVER_TABLES:
            if table == "events":  # a file from before a column was added: copy the columns it has
                try:
                    have = {r[1] for r in src.execute("PRAGMA table_info(events)")}
                except sqlite3.DatabaseError:
                    have = set(cols)
                cols = tuple(c for c in cols if c in have or not have)
            rows, lost, unknown_after = _readable_rows(src, table, cols)
            report.lost[table] = len(lost)
            report.lost_ids[table] = lost
            if unknown_after is not None:
                report.unknown_after[table] = unknown_after
            if table == "persons":
                names = {r[0]: r[1] for r in rows}
            if table == "embeddings":  # only for people whose row survived
                alive = {r[0] for r in fresh._db.execute("SELECT id FROM persons")}
                rows = [r for r in rows if r[1] in alive]
            with fresh._transaction() as db:
                db.executemany(
                    f"INSERT OR IGNORE INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows
                )
                # a person whose embeddings were all lost is not kept (no half person)
                if table == "embeddings":
                    empty = [
                        r[0]
                        for r in db.execute("SELECT id FROM persons WHERE id NOT IN (SELECT person_id FROM embeddings)")
                    ]
                    report.dropped_persons = sorted(names.get(i, str(i)) for i in empty)
                    db.execute("DELETE FROM persons WHERE id NOT IN (SELECT person_id FROM embeddings)")
                report.saved[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if table == "embeddings":
                report.saved["persons"] = fresh._db.execute("SELECT COUNT(*) FROM persons").fetchone()[0]
        with fresh._transaction() as db:
            fresh._bump(db)
    finally:
        src.close()
        fresh.close()
    return damaged, report


def _readable_rows(
    db: sqlite3.Connection, table: str, cols: Sequence[str]
) -> tuple[list[tuple], list[int], int | None]:
    """The rows of ``table`` that can still be read, the ids known but unreadable, and (when a damaged region's
    rows could not be counted) the last id read before it."""
    select = f"SELECT {', '.join(cols)} FROM {table}"
    try:
        return db.execute(select + " ORDER BY id").fetchall(), [], None
    except sqlite3.DatabaseError:
        pass
    walked, unknown_after = _walk_ids(db, table)
    ids = set(walked) | _indexed_ids(db, table)
    rows, lost = [], []
    for rid in sorted(ids):
        try:
            row = db.execute(select + " WHERE id = ?", (rid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            lost.append(rid)
        else:
            rows.append(row)
    if unknown_after is not None and lost and max(lost) > unknown_after:
        unknown_after = None  # an index named the rows past the damage: they are counted in ``lost``
    return rows, lost, unknown_after


def _walk_ids(db: sqlite3.Connection, table: str) -> tuple[list[int], int | None]:
    """The ids readable from the table's own pages, walking around damaged ones; and, when the damage runs to the
    end of the table (no readable row after it), the last id read before it."""
    ids: list[int] = []
    after = -(2**63)
    while True:
        try:
            for (rid,) in db.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id", (after,)):
                ids.append(rid)
                after = rid
            return ids, None
        except sqlite3.DatabaseError:
            pass
        resume = _next_readable(db, table, after)
        if resume is None:
            return ids, (after if after > -(2**63) else 0)
        after = resume - 1


def _next_readable(db: sqlite3.Connection, table: str, after: int) -> int | None:
    """The smallest id past a damaged page after ``after`` that a seek can reach, or ``None`` if none can."""

    def seek(x: int) -> tuple[bool, int | None]:
        try:
            row = db.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT 1", (x,)).fetchone()
        except sqlite3.DatabaseError:
            return False, None
        return True, (row[0] if row else None)

    step, bad, good = 1, after, None
    while after + step < 2**63 - 1:  # gallop past the bad page
        ok, found = seek(after + step)
        if ok:
            good = (after + step, found)
            break
        bad = after + step
        step *= 2
    if good is None:
        return None
    lo, (hi, found) = bad, good
    while hi - lo > 1:  # the smallest start that reads again
        mid = (lo + hi) // 2
        ok, f = seek(mid)
        if ok:
            hi, found = mid, f
        else:
            lo = mid
    return found


def _indexed_ids(db: sqlite3.Connection, table: str) -> set[int]:
    """Ids held by the table's indexes (each index keeps the rowid beside its key, in pages of its own)."""
    ids: set[int] = set()
    try:
        indexes = [r[1] for r in db.execute(f"PRAGMA index_list({table})")]
    except sqlite3.DatabaseError:
        return ids
    for index in indexes:
        try:
            for (rid,) in db.execute(f'SELECT id FROM {table} INDEXED BY "{index}"'):
                ids.add(rid)
        except sqlite3.DatabaseError:
            continue
    return ids
