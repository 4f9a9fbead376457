"""Where a gallery keeps people, their embeddings and the event log: a store interface and its SQLite default.

The SQLite store is one file in WAL mode (readers never wait for a writer), with foreign keys and one
transaction per change, so a crash in the middle of an enrolment leaves either the whole person or nothing.
It holds embeddings, never images. A store for large galleries (pgvector, FAISS) implements the same
:class:`GalleryStore` protocol.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from emolens.errors import GalleryError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    source TEXT,
    image BLOB,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    source TEXT,
    frame INTEGER,
    video_time REAL,
    track INTEGER,
    identity TEXT,
    identity_score REAL,
    emotion TEXT,
    emotion_score REAL,
    scores TEXT,
    attention TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_identity ON events(identity);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    rule TEXT NOT NULL,
    source TEXT,
    track INTEGER,
    identity TEXT,
    emotion TEXT,
    started REAL,
    duration_s REAL,
    peak_score REAL
);
CREATE INDEX IF NOT EXISTS alerts_identity ON alerts(identity);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time);
CREATE TABLE IF NOT EXISTS privacy_ledger (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    who TEXT,
    query TEXT NOT NULL,
    epsilon REAL NOT NULL
);
"""

#: The privacy budget (total ε) of a gallery whose owner has not set one (``emolens gallery budget --set``).
DEFAULT_PRIVACY_BUDGET = 10.0
#: Where the key of an encrypted gallery comes from: the key itself, or a file whose first line is the key.
KEY_ENV, KEY_FILE_ENV = "EMOLENS_GALLERY_KEY", "EMOLENS_GALLERY_KEY_FILE"
_SQLITE_HEADER = b"SQLite format 3\x00"


def key_from_env() -> str | None:
    """The gallery key from ``EMOLENS_GALLERY_KEY``, or the first line of the file ``EMOLENS_GALLERY_KEY_FILE``
    names; ``None`` when neither is set (the gallery is not encrypted)."""
    key = os.environ.get(KEY_ENV)
    if key:
        return key
    file = os.environ.get(KEY_FILE_ENV)
    if file:
        try:
            lines = Path(file).read_text().splitlines()
        except OSError as e:
            raise GalleryError(f"cannot read the key file ({e.strerror})", file) from None
        if not lines or not lines[0].strip():
            raise GalleryError("the key file is empty", file)
        return lines[0].strip()
    return None


def _sqlcipher():
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        from emolens.errors import MissingExtraError

        raise MissingExtraError("sqlcipher3-binary", "privacy") from None
    return dbapi2


def connect(path: str, key: str | None, **kw: Any) -> sqlite3.Connection:
    """A connection to ``path``: plain SQLite, or SQLCipher (AES-256 pages, key stretched by its PBKDF2) when a
    ``key`` is given. A wrong key or a missing one raises ``GalleryError`` with one line."""
    if key is None:
        if path != ":memory:" and Path(path).is_file() and Path(path).stat().st_size >= 16:
            with open(path, "rb") as f:
                if f.read(16) != _SQLITE_HEADER:
                    raise GalleryError(f"encrypted or not a gallery: give its key in {KEY_ENV} or {KEY_FILE_ENV}", path)
        return sqlite3.connect(path, **kw)
    db = _sqlcipher().connect(path, **kw)
    db.execute("PRAGMA key = '{}'".format(key.replace("'", "''")))
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except _sqlcipher().DatabaseError:
        db.close()
        raise GalleryError(f"wrong key for this encrypted gallery ({KEY_ENV} / {KEY_FILE_ENV})", path) from None
    return db


def _db_errors() -> tuple[type[Exception], ...]:
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, dbapi2.DatabaseError)


EVENT_COLUMNS = (
    "time",
    "source",
    "frame",
    "video_time",
    "track",
    "identity",
    "identity_score",
    "emotion",
    "emotion_score",
    "scores",
    "attention",
)
_JSON_COLUMNS = ("scores", "attention")
ALERT_COLUMNS = ("time", "rule", "source", "track", "identity", "emotion", "started", "duration_s", "peak_score")


@dataclass(frozen=True)
class Person:
    """An enrolled person: name, number of embeddings, when first enrolled (Unix time)."""

    name: str
    embeddings: int
    created: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "embeddings": self.embeddings, "created": self.created}


@dataclass(frozen=True)
class EmbeddingRecord:
    """One embedding to store: the vector, the image it came from, and optionally the aligned crop (JPEG)."""

    vector: np.ndarray
    source: str | None = None
    image: bytes | None = None


@dataclass(frozen=True)
class EventQuery:
    """Filters for events and alerts; ``None`` means no filter. Times are Unix seconds."""

    since: float | None = None
    until: float | None = None
    identity: str | None = None
    emotion: str | None = None
    source: str | None = None
    limit: int | None = None
    newest_first: bool = False  # with ``limit``: the most recent rows
    extra: dict[str, Any] = field(default_factory=dict)


class GalleryStore(Protocol):
    """What a gallery needs from its storage."""

    def add(self, name: str, model: str, records: Sequence[EmbeddingRecord], replace: bool = False) -> int: ...

    def remove(self, name: str) -> bool: ...

    def persons(self) -> list[Person]: ...

    def vectors(self, model: str) -> tuple[list[str], np.ndarray, np.ndarray]: ...

    def revision(self) -> int: ...

    def add_events(self, rows: Iterable[dict[str, Any]]) -> int: ...

    def add_alert(self, row: dict[str, Any]) -> None: ...

    def events(self, query: EventQuery, table: str = "events") -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class SQLiteStore:
    """The default :class:`GalleryStore`: one SQLite file (WAL, foreign keys, a transaction per change).

    Parameters
    ----------
    path:
        The database file; created with its folder if missing. ``":memory:"`` keeps everything in memory.
    check:
        Run SQLite's ``quick_check`` when opening (fast; catches most corruption at once).

    Raises
    ------
    GalleryError
        The file is not an emolens gallery, is corrupt, or comes from a newer emolens.
    """

    def __init__(
        self, path: str | os.PathLike[str], check: bool = True, key: str | None = None, audit: bool = True
    ) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self.key = key if key is not None else key_from_env()
        self.encrypted = self.key is not None
        #: Who the audit log names for the changes made through this store (a service sets it per request).
        self.actor = _default_actor()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect(self.path, self.key, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 30000")
            if check:
                status = self._db.execute("PRAGMA quick_check").fetchone()[0]
                if status != "ok":
                    raise sqlite3.DatabaseError(status)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                for stmt in _SCHEMA.strip().split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                    self._db.execute("INSERT INTO meta VALUES ('revision', '0')")
                elif int(row[0]) > SCHEMA_VERSION:
                    raise GalleryError(f"written by a newer emolens (schema {row[0]}); upgrade emolens", self.path)
                # added column (emolens.attention): head pose, eyes, mouth and attention of an event, as JSON
                if "attention" not in {r[1] for r in self._db.execute("PRAGMA table_info(events)")}:
                    self._db.execute("ALTER TABLE events ADD COLUMN attention TEXT")
        except _db_errors() as e:
            raise GalleryError(
                f"not a readable emolens gallery ({e}); `emolens gallery recover {self.path}` copies what can be "
                "read into a new file and keeps the damaged one beside it",
                self.path,
            ) from None

    # --- transactions -------------------------------------------------------------------------------------

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self) -> sqlite3.Connection:
                store._lock.acquire()
                store._db.execute("BEGIN IMMEDIATE")
                return store._db

            def __exit__(self, exc_type, exc, tb) -> None:
                try:
                    store._db.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    store._lock.release()

        return _Tx()

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")

    # --- people -------------------------------------------------------------------------------------------

    def add(self, name: str, model: str, records: Sequence[EmbeddingRecord], replace: bool = False) -> int:
        """Add embeddings to ``name`` (created if new) in one transaction; ``replace`` drops the old ones first.

        Returns the person's number of embeddings afterwards.
        """
        if not name.strip():
            raise GalleryError("a person needs a non-empty name")
        now = time.time()
        try:
            with self._transaction() as db:
                db.execute("INSERT OR IGNORE INTO persons(name, created) VALUES (?, ?)", (name, now))
                pid = db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()[0]
                if replace:
                    db.execute("DELETE FROM embeddings WHERE person_id = ?", (pid,))
                db.executemany(
                    "INSERT INTO embeddings(person_id, model, vector, source, image, created) VALUES (?,?,?,?,?,?)",
                    [(pid, model, np.asarray(r.vector, np.float32).tobytes(), r.source, r.image, now) for r in records],
                )
                self._bump(db)
                total = int(db.execute("SELECT COUNT(*) FROM embeddings WHERE person_id = ?", (pid,)).fetchone()[0])
        except _db_errors() as e:
            raise GalleryError(f"cannot enrol {name!r} ({e})", self.path) from None
        self.audit("enrol", f"{name}: {len(records)} embedding(s){' (replacing the old ones)' if replace else ''}")
        return total

    def remove(self, name: str) -> bool:
        """Delete a person, their embeddings, and their events and alerts. Returns whether they existed."""
        with self._transaction() as db:
            cur = db.execute("DELETE FROM persons WHERE name = ?", (name,))
            db.execute("DELETE FROM events WHERE identity = ?", (name,))
            db.execute("DELETE FROM alerts WHERE identity = ?", (name,))
            self._bump(db)
            existed = cur.rowcount > 0
        self.audit(
            "delete", f"person {name}, their embeddings, events and alerts" + ("" if existed else " (not found)")
        )
        return existed

    def persons(self) -> list[Person]:
        rows = self._db.execute(
            "SELECT p.name, COUNT(e.id), p.created FROM persons p LEFT JOIN embeddings e ON e.person_id = p.id "
            "GROUP BY p.id ORDER BY p.name"
        ).fetchall()
        return [Person(n, int(c), float(t)) for n, c, t in rows]

    def models(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT DISTINCT model FROM embeddings")}

    def vectors(self, model: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """All embeddings of one model: person names, the person index of each row, and the ``[N, dim]`` matrix."""
        rows = self._db.execute(
            "SELECT p.name, e.vector FROM embeddings e JOIN persons p ON p.id = e.person_id "
            "WHERE e.model = ? ORDER BY p.name, e.id",
            (model,),
        ).fetchall()
        names: list[str] = []
        owner = np.zeros(len(rows), np.int64)
        vecs = []
        for i, (name, blob) in enumerate(rows):
            if not names or names[-1] != name:
                names.append(name)
            owner[i] = len(names) - 1
            vecs.append(np.frombuffer(blob, np.float32))
        matrix = np.stack(vecs) if vecs else np.zeros((0, 0), np.float32)
        return names, owner, matrix

    def revision(self) -> int:
        """A counter bumped by every change (seen by other processes too), so readers know to reload."""
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0])

    # --- events and alerts --------------------------------------------------------------------------------

    def add_events(self, rows: Iterable[dict[str, Any]]) -> int:
        """Append event rows (keys from ``EVENT_COLUMNS``; ``scores`` may be a dict) in one transaction."""
        values = []
        for r in rows:
            values.append(
                tuple(
                    json.dumps(r.get(c)) if c in _JSON_COLUMNS and isinstance(r.get(c), dict) else r.get(c)
                    for c in EVENT_COLUMNS
                )
            )
        if not values:
            return 0
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO events({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
                values,
            )
        return len(values)

    def add_alert(self, row: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO alerts({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(ALERT_COLUMNS))})",
                tuple(row.get(c) for c in ALERT_COLUMNS),
            )

    def events(self, query: EventQuery, table: str = "events") -> list[dict[str, Any]]:
        """Events (or ``table="alerts"``) matching ``query``, oldest first (newest first if the query says so)."""
        if table not in ("events", "alerts"):
            raise ValueError(f"unknown table {table!r}")
        cols = ("id", *(EVENT_COLUMNS if table == "events" else ALERT_COLUMNS))
        where, args = [], []
        for col, op, value in (
            ("time", ">=", query.since),
            ("time", "<=", query.until),
            ("identity", "=", query.identity),
            ("emotion", "=", query.emotion),
            ("source", "=", query.source),
        ):
            if value is not None:
                where.append(f"{col} {op} ?")
                args.append(value)
        sql = f"SELECT {', '.join(cols)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time DESC, id DESC" if query.newest_first else " ORDER BY time, id"
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        out = []
        for row in self._db.execute(sql, args):
            d = dict(zip(cols, row, strict=True))
            for c in _JSON_COLUMNS if table == "events" else ():
                if d.get(c):
                    d[c] = json.loads(d[c])
            out.append(d)
        return out

    # --- retention, the privacy ledger and the audit log ---------------------------------------------------

    def purge_before(self, before: float, people: bool = False, reason: str = "purge") -> dict[str, int]:
        """Delete the events and alerts older than ``before`` (Unix time), and with ``people`` the persons enrolled
        before it with their embeddings, events and alerts. Returns the rows deleted per table."""
        with self._transaction() as db:
            gone = {}
            if people:
                names = [r[0] for r in db.execute("SELECT name FROM persons WHERE created < ?", (before,))]
                for n in names:
                    db.execute("DELETE FROM events WHERE identity = ?", (n,))
                    db.execute("DELETE FROM alerts WHERE identity = ?", (n,))
                gone["persons"] = db.execute("DELETE FROM persons WHERE created < ?", (before,)).rowcount
            gone["events"] = db.execute("DELETE FROM events WHERE time < ?", (before,)).rowcount
            gone["alerts"] = db.execute("DELETE FROM alerts WHERE time < ?", (before,)).rowcount
            self._bump(db)
        if any(gone.values()) or reason == "purge":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(before))
            self.audit(reason, f"rows before {stamp}: " + ", ".join(f"{v} {k}" for k, v in gone.items()))
        return gone

    def privacy_budget(self) -> float:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'privacy_budget'").fetchone()
        return float(row[0]) if row else DEFAULT_PRIVACY_BUDGET

    def set_privacy_budget(self, epsilon: float) -> None:
        if not epsilon >= 0:
            raise GalleryError("a privacy budget is an ε ≥ 0", self.path)
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('privacy_budget', ?)", (repr(float(epsilon)),))
        self.audit("budget", f"privacy budget set to ε = {epsilon:g}")

    def privacy_spent(self) -> tuple[float, int]:
        """The ε spent by all releases from this gallery so far (their sum: basic composition) and their number."""
        total, n = self._db.execute("SELECT COALESCE(SUM(epsilon), 0), COUNT(*) FROM privacy_ledger").fetchone()
        return float(total), int(n)

    def charge_privacy(self, epsilon: float, query: str, who: str | None = None) -> float:
        """Record a release of ``epsilon`` in the ledger and return the budget left, or raise
        ``PrivacyBudgetError`` (nothing recorded) when it would go over the gallery's budget."""
        from emolens.errors import PrivacyBudgetError

        with self._transaction() as db:
            budget = self.privacy_budget()
            spent = float(db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM privacy_ledger").fetchone()[0])
            if spent + epsilon > budget + 1e-9:
                raise PrivacyBudgetError(
                    f"privacy budget exhausted: this query needs ε = {epsilon:g}, {max(0.0, budget - spent):.4g} of "
                    f"ε = {budget:g} is left; refused",
                    self.path,
                )
            db.execute(
                "INSERT INTO privacy_ledger(time, who, query, epsilon) VALUES (?, ?, ?, ?)",
                (time.time(), who or self.actor, query, epsilon),
            )
        self.audit("dp-query", f"{query}; ε = {epsilon:g}", who)
        return budget - spent - epsilon

    def ledger(self) -> list[dict[str, Any]]:
        cols = ("id", "time", "who", "query", "epsilon")
        return [
            dict(zip(cols, r, strict=True)) for r in self._db.execute(f"SELECT {', '.join(cols)} FROM privacy_ledger")
        ]

    def audit(self, action: str, what: str, who: str | None = None) -> None:
        """Append a line to the audit log (beside the gallery, apart from its event log); a gallery in memory keeps
        none."""
        if self.path == ":memory:":
            return
        from emolens.privacy.audit import AuditLog

        AuditLog.for_gallery(self.path, self.key).record(action, what, who or self.actor)

    def close(self) -> None:
        self._db.close()


def _default_actor() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return f"{user}@{socket.gethostname()}"


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
