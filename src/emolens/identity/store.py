"""Where a gallery keeps people, their embeddings and the event log: a store interface and its SQLite default.

The SQLite store is one file in WAL mode (readers never wait for a writer), with foreign keys and one
transaction per change, so a crash in the middle of an enrolment leaves either the whole person or nothing.
It holds embeddings, never images. A store for large galleries (pgvector, FAISS) implements the same
:class:`GalleryStore` protocol. The tables are declared in :mod:`emolens.identity.schema`, the file is opened
(plain or encrypted) by :mod:`emolens.privacy.database`, and a damaged file is saved by
:mod:`emolens.identity.recovery`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from emolens.errors import GalleryError
from emolens.identity.schema import ALERT_COLUMNS, EVENT_COLUMNS, JSON_COLUMNS, SCHEMA, SCHEMA_VERSION
from emolens.privacy.audit import AuditLog
from emolens.privacy.database import KEY_ENV, KEY_FILE_ENV, connect, db_errors, key_from_env

__all__ = [
    "ALERT_COLUMNS",
    "DEFAULT_PRIVACY_BUDGET",
    "EVENT_COLUMNS",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "SCHEMA_VERSION",
    "EmbeddingRecord",
    "EventQuery",
    "GalleryStore",
    "Person",
    "SQLiteStore",
    "connect",
    "key_from_env",
]

#: The privacy budget (total ε) of a gallery whose owner has not set one (``emolens gallery budget --set``).
DEFAULT_PRIVACY_BUDGET = 10.0


@dataclass(frozen=True)
class Person:
    """An enrolled person: name, number of embeddings, when first enrolled (Unix time)."""

    name: str
    embeddings: int
    created: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                for stmt in SCHEMA.strip().split(";"):
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
        except db_errors() as e:
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
        except db_errors() as e:
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
                    json.dumps(r.get(c)) if c in JSON_COLUMNS and isinstance(r.get(c), dict) else r.get(c)
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
            for c in JSON_COLUMNS if table == "events" else ():
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
