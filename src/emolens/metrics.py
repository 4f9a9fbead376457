"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion, calibration (ECE), and
whether two models' accuracies on the same rows differ beyond chance (McNemar). Pure NumPy functions, at the
bottom of the package, so that evaluation (``emolens.evaluate``), text, identity and training share them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Report:
    labels: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]  # rows: true label, columns: predicted (-1 predictions excluded)
    ece: float | None = None
    confidence: float | None = None  # mean top-label probability: above accuracy means over-confident
    errors: int = 0  # samples with no prediction (e.g. no face found); counted as wrong
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "labels": list(self.labels),
            "n": self.n,
            "accuracy": round(self.accuracy, 5),
            "macro_f1": round(self.macro_f1, 5),
            "per_class": self.per_class,
            "confusion": self.confusion,
            "ece": None if self.ece is None else round(self.ece, 5),
            "mean_confidence": None if self.confidence is None else round(self.confidence, 5),
            "errors": self.errors,
        }
        d.update(self.extra)
        return d


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...], probs: np.ndarray | None = None
) -> Report:
    """Metrics for predictions ``y_pred`` (``-1`` = no prediction, counted wrong) against ``y_true``."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    valid = y_pred >= 0
    np.add.at(cm, (y_true[valid], y_pred[valid]), 1)
    support = np.bincount(y_true, minlength=k)
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    present = support > 0
    per_class = {
        labels[i]: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i in range(k)
    }
    ece = confidence = None
    if probs is not None and valid.any():
        ece = expected_calibration_error(probs[valid], y_true[valid])
        confidence = float(probs[valid].max(1).mean())
    return Report(
        labels=tuple(labels),
        n=len(y_true),
        accuracy=float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        per_class=per_class,
        confusion=cm.tolist(),
        ece=ece,
        confidence=confidence,
        errors=int((~valid).sum()),
    )


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins."""
    conf, correct = reliability_points(probs, y_true)
    return calibration_error(conf, correct, bins)


def calibration_error(confidence: np.ndarray, outcome: np.ndarray, bins: int = 15) -> float:
    """ECE of confidences against 0/1 outcomes: |mean confidence - share of 1s| per equal-width confidence bin,
    weighted by the bin's share of the rows."""
    confidence, outcome = np.asarray(confidence), np.asarray(outcome)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(outcome[m].mean() - confidence[m].mean())
    return float(ece)


@dataclass(frozen=True)
class PairedComparison:
    """Two models scored on the same rows: where only one of them is right, and the exact two-sided McNemar
    p-value of that split (the chance of one at least this uneven if both models were equally accurate)."""

    only_a_right: int
    only_b_right: int
    p_value: float


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> PairedComparison:
    """Compare two models by their per-row correctness (boolean arrays over the same rows)."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    if a.shape != b.shape:
        raise ValueError(f"the two models were scored on different rows ({a.shape} and {b.shape})")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    # Exact binomial tail in integers: sum of C(n, i) for i <= k over 2^n, doubled for two sides.
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    return PairedComparison(only_a, only_b, p)


def reliability_points(probs: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the top-label confidence and whether the top label is right."""
    probs = np.asarray(probs)
    return probs.max(1), (probs.argmax(1) == np.asarray(y_true)).astype(float)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The softmax temperature that minimises negative log-likelihood (golden-section search on log T).

    ``weights`` (one per row) weigh the rows' log-likelihoods, e.g. so that pooled sources count alike."""
    w = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        ll = logp[np.arange(len(y_true)), y_true]
        return float(-(ll.mean() if w is None else (w * ll).sum()))

    lo, hi = np.log(0.2), np.log(10.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(60):
        if nll(np.exp(a)) < nll(np.exp(b)):
            hi = b
        else:
            lo = a
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    return float(np.exp((lo + hi) / 2))
