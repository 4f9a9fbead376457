"""Alert rules on attention states, run by the same :class:`~emolens.identity.events.AlertEngine` as the emotion
rules: ``distracted``, ``drowsy`` and ``yawn``.

Spec (``--alert``): ``KIND[:SECONDS[:WHO[:LEVEL]]]``, e.g. ``distracted:2``, ``drowsy:3:any:0.2``, ``yawn``.

Defaults and where they come from (docs/attention.md has the references):

- ``distracted``: head (and gaze) outside the attention cone for **3 s**: Euro NCAP's driver-monitoring protocol
  counts a glance away from the road of 3 s or more as a long distraction.
- ``drowsy``: eyes closed for **2 s**, or PERCLOS (share of the last minute with the eyes closed) of at least
  **0.15** held for those seconds: PERCLOS above 0.15 is the drowsiness level used since the US Federal Highway
  Administration's evaluation of PERCLOS (Wierwille et al. 1994; Dinges and Grace 1998); eye closures of 2 s and
  longer are beyond any blink (blinks last 0.1-0.4 s, Caffier et al. 2003) and counted as microsleeps.
- ``yawn``: a yawn (mouth wide open for at least ``yawn_min_s`` = 1.5 s, see :class:`TrackTimings`) fires at
  once (0 s): yawns last about 6 s (Provine 1986), so 1.5 s rules out speech and short surprise.

An alert's ``emotion`` field holds the kind and its ``peak_score`` the measure: degrees off the target
(``distracted``), PERCLOS or 1.0 for closed eyes (``drowsy``), the yawn classifier's score (``yawn``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emolens.errors import ConfigError
from emolens.identity.gallery import UNKNOWN
from emolens.types import Face

KINDS: tuple[str, ...] = ("distracted", "drowsy", "yawn")
DEFAULT_SECONDS: dict[str, float] = {"distracted": 3.0, "drowsy": 2.0, "yawn": 0.0}
DEFAULT_PERCLOS = 0.15


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
        if self.min_seconds < 0 or not 0 < self.perclos <= 1:
            raise ConfigError("alert rule: seconds must be ≥ 0 and the PERCLOS level between 0 and 1")
        if not self.name:
            object.__setattr__(self, "name", f"{self.kind}>{self.min_seconds:g}s:{self.who}")

    @classmethod
    def parse(cls, spec: str) -> AttentionRule:
        """``KIND[:SECONDS[:WHO[:LEVEL]]]``; LEVEL is the PERCLOS level of ``drowsy``."""
        parts = spec.split(":")
        try:
            seconds = float(parts[1]) if len(parts) > 1 and parts[1] else None
            level = float(parts[3]) if len(parts) > 3 and parts[3] else DEFAULT_PERCLOS
        except ValueError:
            raise ConfigError(f"alert rule {spec!r}: seconds and level must be numbers") from None
        who = parts[2] if len(parts) > 2 and parts[2] else "any"
        return cls(parts[0].strip(), seconds, who, level)

    def applies_to(self, identity: str | None) -> bool:
        if self.who == "any":
            return True
        if self.who == "unknown":
            return identity in (None, UNKNOWN)
        if self.who == "known":
            return identity not in (None, UNKNOWN)
        return identity == self.who

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


def parse_rule(spec: str) -> Any:
    """An :class:`AttentionRule` for ``distracted``/``drowsy``/``yawn`` specs, else an emotion ``AlertRule``."""
    from emolens.identity.events import AlertRule

    if spec.split(":")[0].strip() in KINDS:
        return AttentionRule.parse(spec)
    return AlertRule.parse(spec)
