"""The keys that say which file a trained model's manifest describes, shared by every exporter in emolens.train."""

from __future__ import annotations

import time
from pathlib import Path

from emolens.models import sha256_file


def file_keys(name: str, path: Path, task: str) -> dict[str, str]:
    """``name``, ``version`` (today, ``YYYY.MM.DD``), ``task``, ``file`` and ``sha256`` of the file at ``path``."""
    return {
        "name": name,
        "version": time.strftime("%Y.%m.%d"),
        "task": task,
        "file": path.name,
        "sha256": sha256_file(path),
    }
