"""Text emotion: one text or a batch to probabilities over the seven face labels, language auto-detected."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from emolens.errors import TextError
from emolens.labels import FER2013
from emolens.text.lang import LANGUAGES, detect_language
from emolens.text.model import LinearTextModel, load_text_model
from emolens.types import EmotionScores

#: The model used for each language unless told otherwise.
DEFAULT_TEXT_MODELS: dict[str, str] = {"en": "text-en-goemotions", "zh": "text-zh-smp"}
#: Texts longer than this (characters) are refused: the models were trained on posts and comments.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class TextEmotion:
    """How a text reads: probabilities over the face labels (FER2013 order) and the label(s) chosen.

    ``labels`` holds every label whose one-vs-rest score passes its threshold for a multi-label model
    (GoEmotions; it may be empty or hold several), and just ``label`` for a single-label model.
    """

    text: str
    language: str
    model: str
    scores: EmotionScores
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.scores.top

    @property
    def confidence(self) -> float:
        return self.scores.confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in ("text", "language", "model", "label")},
            "confidence": round(self.confidence, 4),
            "labels": list(self.labels),
            "probabilities": self.scores.to_dict(),
        }


def _check(text: object, where: str | None = None) -> str:
    if not isinstance(text, str):
        raise TextError(f"expected a string, got {type(text).__name__}", where)
    if not text.strip():
        raise TextError("the text is empty", where)
    if len(text) > MAX_CHARS:
        raise TextError(f"the text is longer than {MAX_CHARS} characters ({len(text)})", where)
    return text


class TextAnalyzer:
    """Reusable text emotion classifier; models load on first use (sha256-checked).

    Parameters
    ----------
    language:
        ``"auto"`` (default: Chinese when >= 30% of the letters are CJK ideographs, else English), ``"en"``
        or ``"zh"``.
    models:
        Language -> model name or manifest path, over :data:`DEFAULT_TEXT_MODELS`
        (e.g. ``{"en": "text-en-all"}``: the model trained on every English corpus, with a sentence encoder).
    """

    def __init__(self, language: str = "auto", models: dict[str, str] | None = None) -> None:
        if language not in ("auto", *LANGUAGES):
            raise TextError(f"unknown language {language!r} (auto, {', '.join(LANGUAGES)})")
        self.language = language
        self.models = {**DEFAULT_TEXT_MODELS, **(models or {})}
        unknown = set(self.models) - set(LANGUAGES)
        if unknown:
            raise TextError(f"no language {', '.join(sorted(unknown))} (known: {', '.join(LANGUAGES)})")

    def model(self, language: str) -> LinearTextModel:
        return load_text_model(self.models[language])

    def language_of(self, text: str) -> str:
        return detect_language(text) if self.language == "auto" else self.language

    def analyze(self, text: str) -> TextEmotion:
        """One text; ``TextError`` if it is not a non-empty string."""
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: list[str]) -> list[TextEmotion]:
        """Several texts in one call (grouped by language); any bad text raises ``TextError`` naming its index."""
        checked = [_check(t, f"text {i}" if len(texts) > 1 else None) for i, t in enumerate(texts)]
        langs = [self.language_of(t) for t in checked]
        out: list[TextEmotion | None] = [None] * len(checked)
        for lang in sorted(set(langs)):
            rows = [i for i, g in enumerate(langs) if g == lang]
            model = self.model(lang)
            probs, raw = model.probabilities([checked[i] for i in rows])
            for j, i in enumerate(rows):
                scores = EmotionScores(FER2013, tuple(float(p) for p in probs[j]))
                if raw is not None and model.thresholds is not None:
                    chosen = tuple(lab for lab, s, th in zip(FER2013, raw[j], model.thresholds, strict=True) if s >= th)
                else:
                    chosen = (scores.top,)
                out[i] = TextEmotion(checked[i], lang, model.name, scores, chosen)
        return [r for r in out if r is not None]

    def iter_analyze(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[TextEmotion | TextError]:
        """Stream results; a bad text yields its ``TextError`` (with its position) instead of stopping the run."""
        batch: list[tuple[int, str]] = []
        for i, t in enumerate(texts):
            batch.append((i, t))
            if len(batch) >= batch_size:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)

    def _run(self, batch: list[tuple[int, str]]) -> Iterator[TextEmotion | TextError]:
        good: list[tuple[int, str]] = []
        results: dict[int, TextEmotion | TextError] = {}
        for i, t in batch:
            try:
                good.append((i, _check(t, f"text {i + 1}")))
            except TextError as e:
                results[i] = e
        if good:
            for (i, _), r in zip(good, self.analyze_batch([t for _, t in good]), strict=True):
                results[i] = r
        for i, _ in batch:
            yield results[i]


def analyze_text(text: str | list[str], language: str = "auto") -> TextEmotion | list[TextEmotion]:
    """Emotion of a text (or a list of texts) with the default models; see :class:`TextAnalyzer`."""
    analyzer = TextAnalyzer(language)
    if isinstance(text, list):
        return analyzer.analyze_batch(text)
    return analyzer.analyze(text)


def face_probabilities(result: TextEmotion) -> np.ndarray:
    """The result's probabilities as an array in FER2013 order (for fusion with face and voice)."""
    return np.asarray(result.scores.probs, dtype=np.float64)
