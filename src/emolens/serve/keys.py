"""API keys for ``emolens serve``: created once, shown once, stored only as SHA-256 hashes in SQLite."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolens.errors import ConfigError
from emolens.userdata import user_data_file

PREFIX = "elk_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    created: float
    revoked: bool
    rate_per_minute: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "revoked": self.revoked,
            "rate_per_minute": self.rate_per_minute,
        }


def default_keys_path() -> Path:
    """``$EMOLENS_KEYS``, else ``$XDG_DATA_HOME/emolens/keys.db`` (``~/.local/share`` by default)."""
    return user_data_file("EMOLENS_KEYS", "keys.db")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """API keys in one SQLite file (WAL); :meth:`check` is what the server calls on every request."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or default_keys_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
            "created REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, rate_per_minute INTEGER)"
        )

    def create(self, name: str, rate_per_minute: int | None = None) -> tuple[ApiKey, str]:
        """A new key: its record and the token, which is shown once and never stored."""
        if not name.strip():
            raise ConfigError("a key needs a name")
        if rate_per_minute is not None and rate_per_minute < 1:
            raise ConfigError("the rate limit must be at least 1 request per minute")
        token = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO keys(name, hash, created, rate_per_minute) VALUES (?, ?, ?, ?)",
            (name, _hash(token), now, rate_per_minute),
        )
        return ApiKey(int(cur.lastrowid or 0), name, now, False, rate_per_minute), token

    def list(self) -> list[ApiKey]:
        rows = self._db.execute("SELECT id, name, created, revoked, rate_per_minute FROM keys ORDER BY id")
        return [ApiKey(i, n, c, bool(r), rpm) for i, n, c, r, rpm in rows]

    def revoke(self, key_id: int) -> bool:
        cur = self._db.execute("UPDATE keys SET revoked = 1 WHERE id = ? AND revoked = 0", (key_id,))
        return cur.rowcount > 0

    def check(self, token: str | None) -> ApiKey | None:
        """The live key a token belongs to, or ``None``."""
        if not token or not token.startswith(PREFIX):
            return None
        row = self._db.execute(
            "SELECT id, name, created, revoked, rate_per_minute FROM keys WHERE hash = ?", (_hash(token),)
        ).fetchone()
        if row is None or row[3]:
            return None
        return ApiKey(row[0], row[1], row[2], False, row[4])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM keys WHERE revoked = 0").fetchone()[0])
