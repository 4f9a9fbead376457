"""The identity + emotion event log, and alert rules over it.

While images or a video are analysed with a gallery, an :class:`EventLogger` appends rows (time, source,
frame, track, identity, emotion, scores) to the gallery database: one row per face for still images, and one
row per track every ``interval_s`` seconds of video (a row per face per frame would be 25 rows a second for
each person, with nothing more in them). Every analysed frame also goes through the :class:`AlertEngine`,
which fires an :class:`Alert` when a rule holds for long enough, e.g. "an unknown person has looked angry or
afraid for 3 seconds": the alert is stored, passed to callbacks, and POSTed as JSON to a webhook.
"""

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
from emolens.identity.gallery import UNKNOWN
from emolens.identity.store import GalleryStore
from emolens.labels import FERPLUS
from emolens.types import EmotionScores, Face, FrameResult, ImageResult


@dataclass(frozen=True)
class AlertRule:
    """Alert when a person shows one of ``emotions`` (top label, score ≥ ``min_score``) for ``min_seconds``.

    ``who`` limits the rule to ``"any"`` face, ``"unknown"`` faces, ``"known"`` (enrolled) faces, or one
    enrolled name. An episode fires once; a new episode starts when the condition has stopped holding.
    """

    emotions: tuple[str, ...] = ("angry", "fear")
    min_seconds: float = 3.0
    min_score: float = 0.5
    who: str = "any"
    name: str = ""

    def __post_init__(self) -> None:
        bad = [e for e in self.emotions if e not in FERPLUS]
        if bad or not self.emotions:
            raise ConfigError(f"alert rule: unknown emotion(s) {', '.join(bad) or '(none)'}; use {', '.join(FERPLUS)}")
        if self.min_seconds < 0 or not 0 <= self.min_score <= 1:
            raise ConfigError("alert rule: seconds must be ≥ 0 and the score between 0 and 1")
        if not self.name:
            object.__setattr__(self, "name", f"{'+'.join(self.emotions)}>{self.min_seconds:g}s:{self.who}")

    @classmethod
    def parse(cls, spec: str) -> AlertRule:
        """``EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]``, e.g. ``angry,fear:3:unknown`` or ``sad:10:any:0.6``."""
        parts = spec.split(":")
        if not parts[0]:
            raise ConfigError(f"alert rule {spec!r}: expected EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]")
        try:
            seconds = float(parts[1]) if len(parts) > 1 and parts[1] else 3.0
            score = float(parts[3]) if len(parts) > 3 and parts[3] else 0.5
        except ValueError:
            raise ConfigError(f"alert rule {spec!r}: seconds and score must be numbers") from None
        who = parts[2] if len(parts) > 2 and parts[2] else "any"
        return cls(tuple(e.strip() for e in parts[0].split(",") if e.strip()), seconds, score, who)

    def applies_to(self, identity: str | None) -> bool:
        if self.who == "any":
            return True
        if self.who == "unknown":
            return identity in (None, UNKNOWN)
        if self.who == "known":
            return identity not in (None, UNKNOWN)
        return identity == self.who


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
        return {
            "time": self.time,
            "rule": self.rule,
            "source": self.source,
            "track": self.track,
            "identity": self.identity,
            "emotion": self.emotion,
            "started": round(self.started, 3),
            "duration_s": round(self.duration_s, 3),
            "peak_score": round(self.peak_score, 4),
        }


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
        The rules to check: :class:`AlertRule` (emotions) and state rules with a ``check(face)`` method
        (:class:`emolens.attention.alerts.AttentionRule`: ``distracted``, ``drowsy``, ``yawn``).
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
        rules: Iterable[Any],
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
        scores, label = _shown(face)
        score = scores[label]
        identity = face.identity or UNKNOWN
        fired = []
        for rule in self.rules:
            key = (rule.name, source, face.track_id if face.track_id is not None else -1 - face.index)
            shown, value = label, score
            if hasattr(rule, "check"):  # a state rule (emolens.attention.alerts): distracted, drowsy, yawn
                holds, shown, value = rule.check(face)
                holds = holds and rule.applies_to(face.identity)
            else:
                holds = label in rule.emotions and score >= rule.min_score and rule.applies_to(face.identity)
            if not holds:
                self._episodes.pop(key, None)
                continue
            ep = self._episodes.get(key)
            if ep is None:
                ep = self._episodes[key] = _Episode(t, value)
            ep.peak = max(ep.peak, value)
            if not ep.fired and t - ep.start >= rule.min_seconds:
                ep.fired = True
                alert = Alert(rule.name, source, face.track_id, identity, shown, ep.start, t - ep.start, ep.peak)
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


class EventLogger:
    """Writes analysis results to the event log and runs the alert rules on them.

    Parameters
    ----------
    store:
        The gallery's store.
    interval_s:
        For video: at most one event row per track per this many seconds of video (0: every analysed frame).
    engine:
        An :class:`AlertEngine`; optional.
    flush_rows:
        Rows buffered before they are written in one transaction (also written on :meth:`close`).
    flush_s:
        For live sources: also write the buffer once its oldest row has waited this many seconds, so that readers
        of the log see events within about that delay.
    """

    def __init__(
        self,
        store: GalleryStore,
        *,
        interval_s: float = 1.0,
        engine: AlertEngine | None = None,
        flush_rows: int = 200,
        flush_s: float | None = None,
    ) -> None:
        self.store = store
        self.flush_s = flush_s
        self._buffered_since = 0.0
        self.interval_s = interval_s
        self.engine = engine
        self.flush_rows = flush_rows
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._last: dict[tuple[str, int], float] = {}

    def log_image(self, result: ImageResult) -> list[Alert]:
        """One event per face of a still image; alerts only from rules with ``min_seconds`` 0."""
        now = time.time()
        alerts = []
        for face in result.faces:
            self._buffer.append(_row(now, result.source, None, None, face))
            if self.engine is not None:
                alerts += self.engine.update(result.source, 0.0, face)
        self._maybe_flush()
        return alerts

    def log_frame(self, source: str, frame: FrameResult) -> list[Alert]:
        """Events for a video frame (rate-limited per track) and its alerts."""
        now = time.time()
        t = frame.timestamp
        alerts = []
        for face in frame.faces:
            key = (source, face.track_id if face.track_id is not None else -1)
            last = self._last.get(key)
            if last is None or t - last >= self.interval_s or t < last:
                self._last[key] = t
                self._buffer.append(_row(now, source, frame.index, t, face))
            if self.engine is not None:
                alerts += self.engine.update(source, t, face)
        self._maybe_flush()
        return alerts

    def _maybe_flush(self) -> None:
        if not self._buffer:
            return
        now = time.monotonic()
        if not self._buffered_since:
            self._buffered_since = now
        late = self.flush_s is not None and now - self._buffered_since >= self.flush_s
        if len(self._buffer) >= self.flush_rows or late:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.rows_written += self.store.add_events(self._buffer)
            self._buffer = []
        self._buffered_since = 0.0

    def close(self) -> None:
        self.flush()
        if self.engine is not None:
            self.engine.close()


def _shown(face: Face) -> tuple[EmotionScores, str]:
    """The probabilities and label a face is judged by: the smoothed ones in video, the raw ones in photos.

    A smoothed label outside the label set (``uncertain``) falls back to the top smoothed label.
    """
    scores = face.smoothed if face.smoothed is not None else face.emotions
    label = face.smoothed_label if face.smoothed_label in scores.labels else scores.top
    return scores, label


def _row(now: float, source: str, frame: int | None, t: float | None, face: Face) -> dict[str, Any]:
    scores, label = _shown(face)
    return {
        "time": now,
        "source": source,
        "frame": frame,
        "video_time": t,
        "track": face.track_id,
        "identity": face.identity or UNKNOWN,
        "identity_score": face.identity_score,
        "emotion": label,
        "emotion_score": scores[label],
        "scores": scores.to_dict(),
        "attention": _attention(face),
    }


def _attention(face: Face) -> dict[str, Any] | None:
    """Head pose, eyes, mouth and attention of a face (``emolens.attention``) for the event log, or None."""
    if face.attention is None and face.pose is None:
        return None
    out: dict[str, Any] = {}
    for key in ("pose", "eyes", "mouth", "attention"):
        value = getattr(face, key)
        if value is not None:
            out[key] = value.to_dict()
    return out
