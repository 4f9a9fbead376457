"""Attention over time, per track: focus spells, blinks, PERCLOS, eye-closure and yawn episodes.

Everything here is plain logic on (time, state) samples, so it is tested on synthetic tracks with known answers.
Samples may come at any rate and with gaps (sampling, dropped frames): each sample's state is taken to hold
until the next sample, up to ``max_gap_s``.

- A **focus spell** is a stretch of time in which the face attends to the target; looking away for less than
  ``spell_gap_s`` (a glance, a blink-long tracking wobble) does not end it.
- A **blink** is an eye closure of at most ``blink_max_s``; a longer one is an eye-closure episode.
- **PERCLOS** is the share of the last ``perclos_window_s`` seconds with the eyes closed (Wierwille et al. 1994),
  given once the track has ``perclos_min_s`` seconds of samples (before that one blink would read as drowsiness).
- A **yawn** is a mouth opened past the yawn threshold for at least ``yawn_min_s``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emolens.types.spans import Span


@dataclass(frozen=True)
class Spell(Span):
    """A span of video time (seconds): a focus spell, a blink, an eye closure or a yawn."""

    def to_dict(self) -> dict[str, float]:
        return {**super().to_dict(), "duration": round(self.duration, 3)}


@dataclass(frozen=True)
class TrackTimings:
    """Durations that turn per-frame states into events (seconds)."""

    spell_gap_s: float = 1.0
    min_spell_s: float = 0.0
    blink_max_s: float = 0.5
    perclos_window_s: float = 60.0
    perclos_min_s: float = 10.0
    yawn_min_s: float = 1.5
    max_gap_s: float = 1.0


class _Runs:
    """Streaming runs of a boolean state: a run starts at its first True sample and ends at the first False
    sample after it (or when the gap since the last True sample exceeds ``bridge``, for spells)."""

    def __init__(self, bridge: float = 0.0) -> None:
        self.bridge = bridge
        self.start: float | None = None
        self.last_true: float | None = None
        self.first_false: float | None = None

    def update(self, t: float, state: bool) -> Spell | None:
        """Feed one sample; returns the run that ended, if any."""
        ended = None
        if state:
            if self.start is not None and self.first_false is not None and t - self.first_false >= self.bridge:
                ended = Spell(self.start, self.first_false)
                self.start = None
            if self.start is None:
                self.start = t
            self.last_true, self.first_false = t, None
        elif self.start is not None:
            if self.first_false is None:
                self.first_false = t
            if t - self.first_false >= self.bridge:
                ended = Spell(self.start, self.first_false)
                self.start, self.first_false = None, None
        return ended

    def current(self, t: float) -> float:
        """How long the open run has lasted at ``t`` (0 when there is none or the state is False now)."""
        if self.start is None or self.first_false is not None:
            return 0.0
        return t - self.start


class TrackAttention:
    """The running attention measures of one track, fed one sample at a time (constant memory per track
    except PERCLOS's window, which holds the samples of its last ``perclos_window_s`` seconds)."""

    def __init__(self, timings: TrackTimings | None = None) -> None:
        self.timings = timings or TrackTimings()
        self.spells: list[Spell] = []
        self.blinks: list[Spell] = []
        self.closures: list[Spell] = []
        self.yawns: list[Spell] = []
        self._focus = _Runs(self.timings.spell_gap_s)
        self._closed_start: float | None = None
        self._mouth_start: float | None = None
        self._yawn_counted = False
        self._window: collections.deque[tuple[float, float, bool]] = collections.deque()  # (t, dt, closed)
        self._closed_s = 0.0
        self._window_s = 0.0
        self._last_t: float | None = None
        self._last_closed: bool | None = None
        self.first_t: float | None = None

    def update(self, t: float, attending: bool | None, closed: bool | None, mouth_open: bool | None) -> dict:
        """Feed the states at time ``t``; returns ``blink`` (a blink ended now), ``yawn`` (in a yawn now),
        ``focus_s``, ``spell_start``, ``perclos`` and ``blink_rate`` (per minute, over the PERCLOS window)."""
        tm = self.timings
        if self.first_t is None:
            self.first_t = t
        # PERCLOS: the previous sample's state holds until now (at most max_gap_s)
        if self._last_t is not None and self._last_closed is not None:
            dt = min(max(t - self._last_t, 0.0), tm.max_gap_s)
            self._window.append((t, dt, self._last_closed))
            self._window_s += dt
            self._closed_s += dt if self._last_closed else 0.0
        while self._window and self._window[0][0] <= t - tm.perclos_window_s:
            _, dt, c = self._window.popleft()
            self._window_s -= dt
            self._closed_s -= dt if c else 0.0
        # focus spells
        if attending is not None:
            ended = self._focus.update(t, attending)
            if ended is not None and ended.duration >= tm.min_spell_s:
                self.spells.append(ended)
        # blinks and eye closures
        blink = False
        if closed is not None:
            if closed and self._closed_start is None:
                self._closed_start = t
            elif not closed and self._closed_start is not None:
                span = Spell(self._closed_start, t)
                if span.duration <= tm.blink_max_s:
                    self.blinks.append(span)
                    blink = True
                else:
                    self.closures.append(span)
                self._closed_start = None
        # yawns
        yawning = False
        if mouth_open is not None:
            if mouth_open:
                if self._mouth_start is None:
                    self._mouth_start, self._yawn_counted = t, False
                yawning = t - self._mouth_start >= tm.yawn_min_s
            elif self._mouth_start is not None:
                if t - self._mouth_start >= tm.yawn_min_s:
                    self.yawns.append(Spell(self._mouth_start, t))
                self._mouth_start = None
        self._last_t, self._last_closed = t, closed
        recent = [b for b in self.blinks if b.end > t - tm.perclos_window_s]
        span = min(tm.perclos_window_s, t - self.first_t) if self.first_t is not None else 0.0
        return {
            "blink": blink,
            "yawn": yawning,
            "focus_s": self._focus.current(t),
            "spell_start": self._focus.start,  # the open spell's start (also through a short glance away)
            "perclos": self.perclos,
            "blink_rate": 60.0 * len(recent) / span if span >= 1.0 else None,
            "closed_s": t - self._closed_start if self._closed_start is not None else 0.0,
        }

    def finish(self, t_end: float | None = None) -> None:
        """Close the open spell, closure and yawn at the track's last sample (or ``t_end``), and let go of the PERCLOS
        window's samples (``perclos`` keeps its last value)."""
        self._window.clear()
        t = self._last_t if t_end is None else t_end
        if t is None:
            return
        f = self._focus
        if f.start is not None:
            end = f.first_false if f.first_false is not None else t
            if end - f.start >= self.timings.min_spell_s:
                self.spells.append(Spell(f.start, end))
            f.start, f.first_false = None, None
        if self._closed_start is not None:
            span = Spell(self._closed_start, t)
            (self.blinks if span.duration <= self.timings.blink_max_s else self.closures).append(span)
            self._closed_start = None
        if self._mouth_start is not None and t - self._mouth_start >= self.timings.yawn_min_s:
            self.yawns.append(Spell(self._mouth_start, t))
        self._mouth_start = None

    @property
    def perclos(self) -> float | None:
        """PERCLOS now, or None before ``perclos_min_s`` seconds of samples (at least one sample interval)."""
        need = min(self.timings.perclos_min_s, self.timings.perclos_window_s)
        if self._window_s <= 0 or self._window_s + 1e-9 < need:
            return None
        return max(0.0, min(1.0, self._closed_s / self._window_s))


def focus_spells(times: Sequence[float], attending: Sequence[bool], timings: TrackTimings | None = None) -> list[Spell]:
    """The focus spells of a whole track (see the module docstring)."""
    tr = TrackAttention(timings)
    for t, a in zip(times, attending, strict=True):
        tr.update(float(t), bool(a), None, None)
    tr.finish()
    return tr.spells


def perclos(times: Sequence[float], closed: Sequence[bool], timings: TrackTimings | None = None) -> list[float | None]:
    """The running PERCLOS at each sample (``None`` at the first)."""
    tr = TrackAttention(timings)
    return [tr.update(float(t), None, bool(c), None)["perclos"] for t, c in zip(times, closed, strict=True)]


def calibrate_target(poses: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The target direction from a few seconds of (yaw, pitch) samples of people looking at it: the medians."""
    arr = np.array([p for p in poses if np.isfinite(p[0]) and np.isfinite(p[1])], dtype=np.float64)
    if len(arr) == 0:
        raise ValueError("no head pose to calibrate the target from")
    return float(np.median(arr[:, 0])), float(np.median(arr[:, 1]))
