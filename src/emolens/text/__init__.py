"""Text emotion, English and Chinese: TF-IDF n-gram linear models run in NumPy, outputs on the face labels.

Names are imported lazily so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_TEXT_MODELS",
    "LinearTextModel",
    "TextAnalyzer",
    "TextEmotion",
    "analyze_text",
    "detect_language",
    "load_text_model",
]


def __getattr__(name: str) -> Any:
    if name == "detect_language":
        from emolens.text.lang import detect_language

        return detect_language
    if name in ("LinearTextModel", "load_text_model"):
        from emolens.text import model

        return getattr(model, name)
    if name in __all__:
        from emolens.text import analyzer

        return getattr(analyzer, name)
    raise AttributeError(f"module 'emolens.text' has no attribute {name!r}")
