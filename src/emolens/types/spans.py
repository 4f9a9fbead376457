"""A stretch of time: where a focus spell, a blink, a yawn (:mod:`emolens.attention`) or a stretch of speech
(:mod:`emolens.voice`) starts and ends, in seconds from the start of the video or audio."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """``start`` to ``end``, in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, float]:
        return {"start": round(self.start, 3), "end": round(self.end, 3)}
