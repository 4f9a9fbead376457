"""The audit log: who enrolled, deleted, purged, exported or queried what, and when.

It is a separate SQLite file beside the gallery (``NAME.audit.db``), apart from the event log: deleting a
person or purging old events removes their rows from the gallery, never the record that it was done. It is
append-only through this class and encrypted with the gallery's key when the gallery is.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from emolens.privacy.database import connect

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit ("
    "id INTEGER PRIMARY KEY, time REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, what TEXT NOT NULL)"
)


def audit_path(gallery: str | Path) -> Path:
    p = Path(gallery)
    return p.with_name(p.stem + ".audit.db")


class AuditLog:
    """Append and read audit records; one open log per gallery file in a process."""

    _open: ClassVar[dict[str, AuditLog]] = {}
    _guard = threading.Lock()

    def __init__(self, path: str | Path, key: str | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect(str(self.path), key, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute(_SCHEMA)

    @classmethod
    def for_gallery(cls, gallery: str | Path, key: str | None = None) -> AuditLog:
        path = audit_path(gallery)
        k = f"{path.resolve()}|{key is not None}"
        with cls._guard:
            log = cls._open.get(k)
            if log is None:
                log = cls._open[k] = cls(path, key)
            return log

    def record(self, action: str, what: str, who: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit(time, who, action, what) VALUES (?, ?, ?, ?)", (time.time(), who, action, what)
            )

    def rows(self, since: float | None = None, action: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT id, time, who, action, what FROM audit", []
        where = []
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        if where:
            sql += " WHERE " + " AND ".join(where)
        cols = ("id", "time", "who", "action", "what")
        with self._lock:
            return [dict(zip(cols, r, strict=True)) for r in self._db.execute(sql + " ORDER BY id", args)]
