"""Where the shared datasets are: ``EMOLENS_DATA``, else ``../shared/datasets`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from emolens.errors import DataError


def data_root() -> Path:
    """The dataset folder; raises ``DataError`` naming the places searched when none exists."""
    env = os.environ.get("EMOLENS_DATA")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise DataError("EMOLENS_DATA is not a folder", str(p))
        return p
    candidates = [
        Path.cwd() / ".." / "shared" / "datasets",
        Path(__file__).resolve().parents[3] / "shared" / "datasets",
        Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets",
    ]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise DataError(
        "dataset folder not found; set EMOLENS_DATA (looked in " + ", ".join(str(c) for c in candidates) + ")"
    )
