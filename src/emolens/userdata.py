"""Where emolens keeps a user's own files (the gallery, API keys): an environment override, else the XDG data home."""

from __future__ import annotations

import os
from pathlib import Path


def user_data_file(env_var: str, filename: str) -> Path:
    """``$env_var`` if set, else ``$XDG_DATA_HOME/emolens/filename`` (``~/.local/share`` by default)."""
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "emolens" / filename
