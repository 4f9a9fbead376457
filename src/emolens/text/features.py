"""TF-IDF features in pure Python + NumPy, the same numbers scikit-learn's ``TfidfVectorizer`` gives.

A shipped text model stores, per feature block, its analyzer settings, its vocabulary (a JSON list of terms in
column order) and its idf weights. :class:`TfidfBlock` turns a text into the block's sparse, L2-normalised
row; blocks are concatenated (as scikit-learn's ``FeatureUnion`` does). The training script checks this code
against scikit-learn on held-out texts before it writes a model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")
_ANY_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """What every model sees: whitespace runs (newlines, tabs) folded to one space, ends stripped."""
    return _ANY_SPACE.sub(" ", text).strip()


def word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    tokens = _TOKEN.findall(text)
    out = list(tokens) if lo == 1 else []
    n_tok = len(tokens)
    for n in range(max(lo, 2), min(hi + 1, n_tok + 1)):
        for i in range(n_tok - n + 1):
            out.append(" ".join(tokens[i : i + n]))
    return out


def char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    n_chr = len(text)
    out = list(text) if lo == 1 else []
    for n in range(max(lo, 2), min(hi + 1, n_chr + 1)):
        for i in range(n_chr - n + 1):
            out.append(text[i : i + n])
    return out


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    out: list[str] = []
    for w in text.split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            out.append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                out.append(w[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return out


_ANALYZERS = {"word": word_ngrams, "char": char_ngrams, "char_wb": char_wb_ngrams}


@dataclass(frozen=True)
class TfidfBlock:
    """One ``TfidfVectorizer``: analyzer, n-gram range, lower-casing, sublinear tf, vocabulary and idf."""

    analyzer: str
    ngram_range: tuple[int, int]
    lowercase: bool
    sublinear_tf: bool
    vocabulary: dict[str, int]
    idf: np.ndarray

    def __post_init__(self) -> None:
        if self.analyzer not in _ANALYZERS:
            raise ValueError(f"unknown analyzer {self.analyzer!r}")
        if len(self.vocabulary) != len(self.idf):
            raise ValueError("vocabulary and idf differ in length")

    @property
    def size(self) -> int:
        return len(self.idf)

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of the text's L2-normalised tf-idf row (only non-zero entries)."""
        if self.lowercase:
            text = text.lower()
        lo, hi = self.ngram_range
        counts: dict[int, int] = {}
        vocab = self.vocabulary
        for g in _ANALYZERS[self.analyzer](text, lo, hi):
            j = vocab.get(g)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        idx = np.fromiter(counts.keys(), np.int64, len(counts))
        tf = np.fromiter(counts.values(), np.float64, len(counts))
        if self.sublinear_tf:
            tf = 1.0 + np.log(tf)
        val = tf * self.idf[idx]
        norm = math.sqrt(float(val @ val))
        if norm > 0:
            val = val / norm
        return idx, val


def transform(blocks: list[TfidfBlock], text: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the text's row in the concatenation of ``blocks``."""
    idx_parts, val_parts, offset = [], [], 0
    for b in blocks:
        i, v = b.transform_one(text)
        idx_parts.append(i + offset)
        val_parts.append(v)
        offset += b.size
    return np.concatenate(idx_parts), np.concatenate(val_parts)
