"""Temporal smoothing of emotion probabilities, per track.

Methods (:data:`METHODS`):

``none``
    The frame's own probabilities; the label is their top class.
``ema``
    An exponential moving average per track, ``s = alpha * p + (1 - alpha) * s_prev`` (the first frame of a
    track starts it); the label is the top class of ``s``.
``hysteresis``
    The same average, plus a sticky label: it switches to a new class only when that class beats the current
    label by at least ``margin`` in ``hold_frames`` consecutive frames. Set ``alpha=1`` for hysteresis on the
    raw probabilities.

Confidence threshold (``min_confidence``): with ``none`` and ``ema`` a frame whose top smoothed probability is
below it gets the label ``uncertain_label`` ("uncertain"); with ``hysteresis`` a class below it never takes
over, so the current label is kept (a track starts as "uncertain" until some class reaches the threshold).

Counts are in analysed frames: with ``every_n_frames=3`` an ``alpha`` of 0.3 averages over three times as long
in seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from emolens.errors import ConfigError

__all__ = ["METHODS", "UNCERTAIN", "SmoothingConfig", "TrackSmoother", "count_label_changes"]

METHODS: tuple[str, ...] = ("none", "ema", "hysteresis")
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class SmoothingConfig:
    """Smoothing settings.

    Attributes
    ----------
    method : str, default "ema"
        One of :data:`METHODS`.
    alpha : float, default 0.3
        Weight of the newest frame in the moving average, in (0, 1]; 1 means no averaging.
    margin : float, default 0.1
        ``hysteresis``: how much a new class must beat the current label by.
    hold_frames : int, default 3
        ``hysteresis``: for how many consecutive frames.
    min_confidence : float, default 0.0
        Confidence threshold (see the module docstring); 0 turns it off.
    uncertain_label : str, default "uncertain"
        The label given below the threshold.
    """

    method: str = "ema"
    alpha: float = 0.3
    margin: float = 0.1
    hold_frames: int = 3
    min_confidence: float = 0.0
    uncertain_label: str = UNCERTAIN

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown smoothing {self.method!r}; choose one of {', '.join(METHODS)}")
        if _bad_number(self.alpha) or not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"smoothing alpha must be in (0, 1], got {self.alpha!r}")
        if _bad_number(self.margin) or not 0.0 <= self.margin <= 1.0:
            raise ConfigError(f"smoothing margin must be in [0, 1], got {self.margin!r}")
        if isinstance(self.hold_frames, bool) or not isinstance(self.hold_frames, int) or self.hold_frames < 1:
            raise ConfigError(f"smoothing hold_frames must be an integer >= 1, got {self.hold_frames!r}")
        if _bad_number(self.min_confidence) or not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"smoothing min_confidence must be in [0, 1], got {self.min_confidence!r}")

    @classmethod
    def from_options(
        cls, method: str | None = None, options: SmoothingConfig | dict[str, Any] | None = None
    ) -> SmoothingConfig:
        """A config from a method name and ``None``, a config or a dict of overrides (unknown keys raise)."""
        if isinstance(options, cls):
            return options if method is None or method == options.method else replace(options, method=method)
        if options is not None and not isinstance(options, dict):
            raise ConfigError(f"smoothing options must be a dict or SmoothingConfig, got {type(options).__name__}")
        opts = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ConfigError(f"unknown smoothing option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if method is not None:
            opts["method"] = method
        return cls(**opts)


def _bad_number(v: object) -> bool:
    return isinstance(v, bool) or not isinstance(v, int | float) or v != v


class _State:
    __slots__ = ("challenger", "count", "ema", "label")

    def __init__(self, probs: np.ndarray) -> None:
        self.ema = probs
        self.label: int | None = None  # hysteresis: the current class, None while uncertain
        self.challenger = -1
        self.count = 0


class TrackSmoother:
    """Keeps the smoothing state of every track.

    Parameters
    ----------
    labels : sequence of str
        The emotion labels, in the order of the probability vectors.
    config : SmoothingConfig, optional
        Settings (default: EMA with ``alpha=0.3``).
    """

    def __init__(self, labels: Sequence[str], config: SmoothingConfig | None = None) -> None:
        self.labels = tuple(labels)
        self.config = config or SmoothingConfig()
        self._states: dict[int, _State] = {}

    def __len__(self) -> int:
        return len(self._states)

    def update(self, track_id: int, probs: np.ndarray | Sequence[float]) -> tuple[np.ndarray, str]:
        """Feed one frame's probabilities of a track.

        Parameters
        ----------
        track_id : int
            The track.
        probs : array-like
            Probabilities over :attr:`labels`.

        Returns
        -------
        tuple of (numpy.ndarray, str)
            The smoothed probabilities (float64, summing to 1) and the smoothed label.
        """
        cfg = self.config
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(self.labels),):
            raise ConfigError(f"expected {len(self.labels)} probabilities, got shape {p.shape}")
        st = self._states.get(track_id)
        if st is None:
            st = self._states[track_id] = _State(p.copy())
        elif cfg.method != "none":
            st.ema = cfg.alpha * p + (1.0 - cfg.alpha) * st.ema
        s = p if cfg.method == "none" else st.ema
        best = int(np.argmax(s))
        if cfg.method != "hysteresis":
            label = self.labels[best] if s[best] >= cfg.min_confidence else cfg.uncertain_label
            return s.copy(), label
        confident = s[best] >= cfg.min_confidence
        if st.label is None:
            if confident:
                st.label = best
        elif best != st.label and confident and s[best] - s[st.label] >= cfg.margin:
            if st.challenger == best:
                st.count += 1
            else:
                st.challenger, st.count = best, 1
            if st.count >= cfg.hold_frames:
                st.label, st.challenger, st.count = best, -1, 0
        else:
            st.challenger, st.count = -1, 0
        return s.copy(), cfg.uncertain_label if st.label is None else self.labels[st.label]

    def drop(self, track_id: int) -> None:
        """Forget a track (call it when the tracker removes the track, so memory stays flat)."""
        self._states.pop(track_id, None)


def count_label_changes(labels: Sequence[str]) -> int:
    """How many times a label sequence changes value (``a a b b a`` -> 2)."""
    return sum(1 for a, b in itertools.pairwise(labels) if a != b)
