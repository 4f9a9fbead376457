"""Voice emotion: VAD, a NumPy log-mel front end and the ONNX RAVDESS model, per utterance and per window.

Names are imported lazily so that ``emolens.io.audio`` can use the front end's resampler without a cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_VOICE_MODEL",
    "Segment",
    "VoiceAnalyzer",
    "VoiceResult",
    "VoiceScores",
    "VoiceSegment",
    "analyze_voice",
    "detect_speech",
]


def __getattr__(name: str) -> Any:
    if name in ("Segment", "detect_speech"):
        from emolens.voice import vad

        return getattr(vad, name)
    if name in __all__:
        from emolens.voice import analyzer

        return getattr(analyzer, name)
    raise AttributeError(f"module 'emolens.voice' has no attribute {name!r}")
