"""Retention: events and alerts older than a set age are deleted when a process opens the gallery and then on a
schedule (every hour by default) while it runs."""

from __future__ import annotations

import re
import threading
import time
from typing import Protocol

from emolens.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` or a number of seconds, as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--retain takes an age such as 30d, 12h or 90m, not {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


class Purgeable(Protocol):
    """A store whose events and alerts can be deleted by age (the gallery's store)."""

    def purge_before(self, before: float, people: bool = False, reason: str = "purge") -> dict[str, int]: ...


class Retention:
    """Deletes a store's events and alerts older than ``keep_s`` at :meth:`start` and every ``every_s`` seconds
    after, from a daemon thread, until :meth:`stop`. ``purged`` sums what was deleted."""

    def __init__(self, store: Purgeable, keep_s: float, every_s: float = 3600.0) -> None:
        if keep_s <= 0 or every_s <= 0:
            raise ConfigError("retention ages must be positive")
        self.store = store
        self.keep_s = keep_s
        self.every_s = every_s
        self.purged: dict[str, int] = {"events": 0, "alerts": 0}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        gone = self.store.purge_before(time.time() - self.keep_s, reason="retention")
        for k, v in gone.items():
            self.purged[k] = self.purged.get(k, 0) + v
        return gone

    def start(self) -> dict[str, int]:
        gone = self.run_once()
        self._thread = threading.Thread(target=self._loop, name="emolens-retention", daemon=True)
        self._thread.start()
        return gone

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.run_once()
            except Exception as e:  # a failed sweep is reported and tried again at the next one
                self.errors.append(str(e))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
