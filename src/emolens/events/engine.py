"""The alert engine: follows each (source, track) through time and fires an :class:`Alert` when a rule holds for
long enough, e.g. "an unknown person has looked angry or afraid for 3 seconds": the alert is stored, passed to
callbacks, and POSTed as JSON to a webhook."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from emolens.errors import ConfigError
from emolens.events.rules import Rule
from emolens.identity.gallery import UNKNOWN
from emolens.identity.schema import ALERT_COLUMNS
from emolens.identity.store import GalleryStore
from emolens.types import Face

#: Decimals an alert's times and score are rounded to in its dict (stored row, webhook JSON).
_DECIMALS = {"started": 3, "duration_s": 3, "peak_score": 4}


@dataclass(frozen=True)
class Alert:
    """A rule that held: who, which emotion, since when (video seconds) and for how long."""

    rule: str
    source: str
    track: int | None
    identity: str
    emotion: str
    started: float
    duration_s: float
    peak_score: float
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The alert as a row of the store's ``alerts`` table (also the webhook's JSON body)."""
        return {k: round(getattr(self, k), _DECIMALS[k]) if k in _DECIMALS else getattr(self, k) for k in ALERT_COLUMNS}


@dataclass
class _Episode:
    start: float
    peak: float
    fired: bool = False


class AlertEngine:
    """Follows each (source, track) through time and fires :class:`Alert` s when a rule holds long enough.

    Parameters
    ----------
    rules:
        The rules to check (:mod:`emolens.events.rules`): :class:`~emolens.events.AlertRule` (emotions) and
        :class:`~emolens.events.AttentionRule` (``distracted``, ``drowsy``, ``yawn``), or any other
        :class:`~emolens.events.Rule`.
    store:
        Where alerts are recorded (the gallery's store); optional.
    callbacks:
        Called with each alert, in the analysing thread (keep them quick).
    webhook:
        A URL that receives each alert as a JSON POST, from a background thread; failures are kept in
        ``webhook_errors`` and never stop the analysis.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        store: GalleryStore | None = None,
        callbacks: Iterable[Callable[[Alert], None]] = (),
        webhook: str | None = None,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.rules = tuple(rules)
        self.store = store
        self.callbacks = tuple(callbacks)
        self.webhook = webhook
        self.webhook_timeout = webhook_timeout
        self.webhook_errors: list[str] = []
        self.alerts: list[Alert] = []
        self._episodes: dict[tuple[str, str, int | None], _Episode] = {}
        self._queue: queue.Queue[Alert | None] | None = None
        self._thread: threading.Thread | None = None
        if webhook is not None:
            if not webhook.startswith(("http://", "https://")):
                raise ConfigError(f"webhook must be an http(s) URL, not {webhook!r}")
            self._queue = queue.Queue(maxsize=1000)
            self._thread = threading.Thread(target=self._post_loop, name="emolens-webhook", daemon=True)
            self._thread.start()

    def update(self, source: str, t: float, face: Face) -> list[Alert]:
        """Feed one face at video time ``t`` (seconds); returns the alerts it fired."""
        identity = face.identity or UNKNOWN
        fired = []
        for rule in self.rules:
            key = (rule.name, source, face.track_id if face.track_id is not None else -1 - face.index)
            holds, label, value = rule.check(face)
            if not (holds and rule.applies_to(face.identity)):
                self._episodes.pop(key, None)
                continue
            ep = self._episodes.get(key)
            if ep is None:
                ep = self._episodes[key] = _Episode(t, value)
            ep.peak = max(ep.peak, value)
            if not ep.fired and t - ep.start >= (rule.min_seconds or 0.0):
                ep.fired = True
                alert = Alert(rule.name, source, face.track_id, identity, label, ep.start, t - ep.start, ep.peak)
                fired.append(alert)
        for alert in fired:
            self._emit(alert)
        return fired

    def end_track(self, source: str, track: int) -> None:
        for key in [k for k in self._episodes if k[1] == source and k[2] == track]:
            del self._episodes[key]

    def _emit(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if self.store is not None:
            self.store.add_alert(alert.to_dict())
        for cb in self.callbacks:
            cb(alert)
        if self._queue is not None:
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self.webhook_errors.append("webhook queue full: alert not sent")

    def _post_loop(self) -> None:
        assert self._queue is not None and self.webhook is not None
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            body = json.dumps(alert.to_dict()).encode()
            req = urllib.request.Request(self.webhook, body, {"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.webhook_timeout) as r:
                    r.read()
            except Exception as e:  # any network failure is reported, never raised into the analysis
                self.webhook_errors.append(f"{self.webhook}: {e}")

    def close(self, timeout: float = 10.0) -> None:
        """Send the alerts still queued for the webhook (waiting at most ``timeout`` seconds)."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._queue = None
