"""Alert rules: what must hold of a face, for whom, and for how long. The :class:`~emolens.events.AlertEngine`
runs every kind the same way: ``rule.check(face)`` says whether the state holds now and what to report.

- :class:`AlertRule` (emotions): a person shows one of ``emotions`` (top label, score ≥ ``min_score``) for
  ``min_seconds``. Spec: ``EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]``, e.g. ``angry,fear:3:unknown``.
- :class:`AttentionRule` (attention states from :mod:`emolens.attention`): ``distracted``, ``drowsy`` and
  ``yawn``. Spec: ``KIND[:SECONDS[:WHO[:LEVEL]]]``, e.g. ``distracted:2``, ``drowsy:3:any:0.2``, ``yawn``.

Defaults of the attention rules and where they come from (docs/attention.md has the references):

- ``distracted``: head (and gaze) outside the attention cone for **3 s**: Euro NCAP's driver-monitoring protocol
  counts a glance away from the road of 3 s or more as a long distraction.
- ``drowsy``: eyes closed for **2 s**, or PERCLOS (share of the last minute with the eyes closed) of at least
  **0.15** held for those seconds: PERCLOS above 0.15 is the drowsiness level used since the US Federal Highway
  Administration's evaluation of PERCLOS (Wierwille et al. 1994; Dinges and Grace 1998); eye closures of 2 s and
  longer are beyond any blink (blinks last 0.1-0.4 s, Caffier et al. 2003) and counted as microsleeps.
- ``yawn``: a yawn (mouth wide open for at least ``yawn_min_s`` = 1.5 s, see
  :class:`~emolens.attention.TrackTimings`) fires at once (0 s): yawns last about 6 s (Provine 1986), so 1.5 s
  rules out speech and short surprise.

An alert's ``emotion`` field holds the kind and its ``peak_score`` the measure: degrees off the target
(``distracted``), PERCLOS or 1.0 for closed eyes (``drowsy``), the yawn classifier's score (``yawn``).

``who`` limits a rule to ``"any"`` face, ``"unknown"`` faces, ``"known"`` (enrolled) faces, or one enrolled
name. An episode fires once; a new episode starts when the condition has stopped holding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from emolens.errors import ConfigError
from emolens.identity.gallery import UNKNOWN
from emolens.labels import FERPLUS
from emolens.types import EmotionScores, Face

KINDS: tuple[str, ...] = ("distracted", "drowsy", "yawn")
DEFAULT_SECONDS: dict[str, float] = {"distracted": 3.0, "drowsy": 2.0, "yawn": 0.0}
DEFAULT_PERCLOS = 0.15


class Rule(Protocol):
    """What the alert engine needs of a rule."""

    @property
    def name(self) -> str: ...

    @property
    def min_seconds(self) -> float | None: ...

    def applies_to(self, identity: str | None) -> bool: ...

    def check(self, face: Face) -> tuple[bool, str, float]: ...


def shown(face: Face) -> tuple[EmotionScores, str]:
    """The probabilities and label a face is judged by: the smoothed ones in video, the raw ones in photos.

    A smoothed label outside the label set (``uncertain``) falls back to the top smoothed label.
    """
    scores = face.smoothed if face.smoothed is not None else face.emotions
    label = face.smoothed_label if face.smoothed_label in scores.labels else scores.top
    return scores, label


def applies(who: str, identity: str | None) -> bool:
    """Whether a rule for ``who`` (``any``, ``unknown``, ``known`` or a name) covers a face of ``identity``."""
    if who == "any":
        return True
    if who == "unknown":
        return identity in (None, UNKNOWN)
    if who == "known":
        return identity not in (None, UNKNOWN)
    return identity == who


def split_spec(spec: str, level: str) -> tuple[str, float | None, str, float | None]:
    """``HEAD[:SECONDS[:WHO[:LEVEL]]]`` as (head, seconds or None, who, level or None)."""
    parts = spec.split(":")
    try:
        seconds = float(parts[1]) if len(parts) > 1 and parts[1] else None
        value = float(parts[3]) if len(parts) > 3 and parts[3] else None
    except ValueError:
        raise ConfigError(f"alert rule {spec!r}: seconds and {level} must be numbers") from None
    who = parts[2] if len(parts) > 2 and parts[2] else "any"
    return parts[0], seconds, who, value


@dataclass(frozen=True)
class AlertRule:
    """Alert when a person shows one of ``emotions`` (top label, score ≥ ``min_score``) for ``min_seconds``."""

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
        if not spec.split(":")[0]:
            raise ConfigError(f"alert rule {spec!r}: expected EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]")
        head, seconds, who, score = split_spec(spec, "score")
        emotions = tuple(e.strip() for e in head.split(",") if e.strip())
        return cls(emotions, 3.0 if seconds is None else seconds, 0.5 if score is None else score, who)

    def applies_to(self, identity: str | None) -> bool:
        return applies(self.who, identity)

    def check(self, face: Face) -> tuple[bool, str, float]:
        """Whether ``face`` shows one of the rule's emotions now, its label, and its score."""
        scores, label = shown(face)
        score = scores[label]
        return (label in self.emotions and score >= self.min_score), label, score


@dataclass(frozen=True)
class AttentionRule:
    """Alert when a face's attention state holds for ``min_seconds`` (see the module docstring)."""

    kind: str
    min_seconds: float | None = None
    who: str = "any"
    perclos: float = DEFAULT_PERCLOS
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"alert rule: unknown kind {self.kind!r}; use {', '.join(KINDS)} or emotions")
        if self.min_seconds is None:
            object.__setattr__(self, "min_seconds", DEFAULT_SECONDS[self.kind])
        assert self.min_seconds is not None
        if self.min_seconds < 0 or not 0 < self.perclos <= 1:
            raise ConfigError("alert rule: seconds must be ≥ 0 and the PERCLOS level between 0 and 1")
        if not self.name:
            object.__setattr__(self, "name", f"{self.kind}>{self.min_seconds:g}s:{self.who}")

    @classmethod
    def parse(cls, spec: str) -> AttentionRule:
        """``KIND[:SECONDS[:WHO[:LEVEL]]]``; LEVEL is the PERCLOS level of ``drowsy``."""
        kind, seconds, who, level = split_spec(spec, "level")
        return cls(kind.strip(), seconds, who, DEFAULT_PERCLOS if level is None else level)

    def applies_to(self, identity: str | None) -> bool:
        return applies(self.who, identity)

    def check(self, face: Face) -> tuple[bool, str, float]:
        """Whether the state holds for ``face`` now, the label to report, and the measure."""
        if self.kind == "distracted":
            a = face.attention
            return (a is not None and not a.attending), self.kind, (a.off_target if a is not None else 0.0)
        if self.kind == "drowsy":
            closed = face.eyes is not None and face.eyes.closed
            p = face.attention.perclos if face.attention is not None else None
            high = p is not None and p >= self.perclos
            return (closed or high), self.kind, (1.0 if closed else float(p or 0.0))
        m = face.mouth
        return (m is not None and m.yawn), self.kind, (m.yawn_score or m.opening if m is not None else 0.0)


def parse_rule(spec: str) -> AlertRule | AttentionRule:
    """An :class:`AttentionRule` for ``distracted``/``drowsy``/``yawn`` specs, else an emotion :class:`AlertRule`."""
    if spec.split(":")[0].strip() in KINDS:
        return AttentionRule.parse(spec)
    return AlertRule.parse(spec)
