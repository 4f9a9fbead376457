"""Encryption at rest of a plain gallery and its audit log with SQLCipher (``sqlcipher_export`` into a new file,
then swapped in place; the plain file is removed)."""

from __future__ import annotations

import os
from pathlib import Path

from emolens.errors import GalleryError
from emolens.privacy.audit import audit_path
from emolens.privacy.database import SQLITE_HEADER, sqlcipher


def encrypt_file(path: str | Path, key: str) -> list[Path]:
    """Encrypt the gallery at ``path`` (and its ``.audit.db``) with ``key``; returns the files encrypted."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError("no such gallery file", str(path))
    done = []
    for p in (path, audit_path(path)):
        if not p.is_file():
            continue
        with open(p, "rb") as f:
            if f.read(16) != SQLITE_HEADER:
                raise GalleryError("already encrypted (or not a gallery)", str(p))
        tmp = p.with_name(p.name + ".encrypting")
        tmp.unlink(missing_ok=True)
        db = sqlcipher().connect(str(p), isolation_level=None)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("ATTACH DATABASE ? AS enc KEY ?", (str(tmp), key))
            db.execute("SELECT sqlcipher_export('enc')")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute(f"PRAGMA enc.user_version = {int(version)}")
            db.execute("DETACH DATABASE enc")
        finally:
            db.close()
        for side in ("-wal", "-shm"):
            Path(str(p) + side).unlink(missing_ok=True)
        os.replace(tmp, p)
        done.append(p)
    return done
