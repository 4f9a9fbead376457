"""Opening the SQLite files that hold personal data (a gallery, its audit log): plain SQLite, or SQLCipher
(AES-256 pages) when a key is given, from the caller or the environment."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from emolens.errors import GalleryError, MissingExtraError

#: Where the key of an encrypted gallery comes from: the key itself, or a file whose first line is the key.
KEY_ENV, KEY_FILE_ENV = "EMOLENS_GALLERY_KEY", "EMOLENS_GALLERY_KEY_FILE"
SQLITE_HEADER = b"SQLite format 3\x00"


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


def sqlcipher():
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        raise MissingExtraError("sqlcipher3-binary", "privacy") from None
    return dbapi2


def connect(path: str, key: str | None, **kw: Any) -> sqlite3.Connection:
    """A connection to ``path``: plain SQLite, or SQLCipher (AES-256 pages, key stretched by its PBKDF2) when a
    ``key`` is given. A wrong key or a missing one raises ``GalleryError`` with one line."""
    if key is None:
        if path != ":memory:" and Path(path).is_file() and Path(path).stat().st_size >= 16:
            with open(path, "rb") as f:
                if f.read(16) != SQLITE_HEADER:
                    raise GalleryError(f"encrypted or not a gallery: give its key in {KEY_ENV} or {KEY_FILE_ENV}", path)
        return sqlite3.connect(path, **kw)
    db = sqlcipher().connect(path, **kw)
    db.execute("PRAGMA key = '{}'".format(key.replace("'", "''")))
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher().DatabaseError:
        db.close()
        raise GalleryError(f"wrong key for this encrypted gallery ({KEY_ENV} / {KEY_FILE_ENV})", path) from None
    return db


def db_errors() -> tuple[type[Exception], ...]:
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, dbapi2.DatabaseError)
