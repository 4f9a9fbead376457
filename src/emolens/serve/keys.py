"""API keys for ``emolens serve``: created once, shown once, stored only as SHA-256 hashes in SQLite.

Whether the server requires keys is a setting of its own, stored in the same file (:attr:`KeyStore.required`),
never inferred from how many keys are live: it is switched on by creating a key or by ``emolens serve
--require-keys`` and only switched off by the operator (``emolens keys require off``). Revoking every key
therefore locks the API (every call is 401) instead of opening it. The file is created readable by its owner
only (0600), and an existing one is narrowed to that when opened by its owner.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass
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
        return asdict(self)


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
            _private_file(Path(self.path))
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL "
                "UNIQUE, created REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, rate_per_minute INTEGER)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            # A file from before the setting existed: keys were required once any key had been created, so a
            # store that ever held a key (revoked or not) keeps requiring them.
            self._db.execute(
                "INSERT OR IGNORE INTO settings(key, value) "
                "SELECT 'require_keys', '1' WHERE EXISTS (SELECT 1 FROM keys)"
            )
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"the API key database cannot be read ({e})", self.path) from None

    @property
    def required(self) -> bool:
        """Whether keys are required (the stored setting; off until a key is created or the operator asks)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = 'require_keys'").fetchone()
        return row is not None and row[0] == "1"

    def set_required(self, required: bool) -> None:
        """Store whether keys are required; only the operator turns it off (``emolens keys require off``)."""
        self._db.execute(
            "INSERT INTO settings(key, value) VALUES ('require_keys', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            ("1" if required else "0",),
        )

    def create(self, name: str, rate_per_minute: int | None = None) -> tuple[ApiKey, str]:
        """A new key: its record and the token, which is shown once and never stored."""
        if not name.strip():
            raise ConfigError("a key needs a name")
        if rate_per_minute is not None and rate_per_minute < 1:
            raise ConfigError("the rate limit must be at least 1 request per minute")
        token = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                "INSERT INTO keys(name, hash, created, rate_per_minute) VALUES (?, ?, ?, ?)",
                (name, _hash(token), now, rate_per_minute),
            )
            self.set_required(True)  # creating a key means keys are wanted, from now on
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return ApiKey(int(cur.lastrowid or 0), name, now, False, rate_per_minute), token

    def list(self) -> list[ApiKey]:
        rows = self._db.execute("SELECT id, name, created, revoked, rate_per_minute FROM keys ORDER BY id")
        return [ApiKey(i, n, c, bool(r), rpm) for i, n, c, r, rpm in rows]

    def revoke(self, key_id: int) -> bool:
        """Revoke a key at once; whether keys are required does not change (no key left locks the API)."""
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
        """The number of live keys."""
        return int(self._db.execute("SELECT COUNT(*) FROM keys WHERE revoked = 0").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), or narrow an existing file we own to that.

    SQLite gives the ``-wal`` and ``-shm`` files it makes beside it the same permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            st = path.stat()
            if hasattr(os, "getuid") and st.st_uid == os.getuid() and st.st_mode & 0o077:
                path.chmod(0o600)
                for side in ("-wal", "-shm"):
                    companion = path.with_name(path.name + side)
                    if companion.exists():
                        companion.chmod(0o600)
        except OSError:
            pass
        return
    except OSError as e:
        raise ConfigError(f"cannot create the API key database ({e.strerror or e})", str(path)) from None
    os.close(fd)
