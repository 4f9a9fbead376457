"""Late fusion of per-modality emotion probabilities on one label set, with any subset of modalities present.

Every rule takes ``probs [M, K]`` (one row per modality, rows summing to 1) and ``present [M]`` (False for a
modality that has nothing at that moment: no face in view, silence, no subtitle) and returns ``[K]``
probabilities. Batched forms take ``[N, M, K]`` and ``[N, M]``.

- ``weighted``: a weighted mean of the present modalities' probabilities (weights renormalised over them).
- ``entropy``: as ``weighted``, each weight also multiplied by the modality's reliability
  ``1 - H(p) / log K`` (a confident modality counts more, a flat one almost nothing).
- ``gated``: only modalities whose top probability reaches ``gate`` take part (weighted); if none does,
  all present ones do.
- ``learned``: :class:`LearnedFusion`, a multinomial logistic regression over the modalities' log
  probabilities and presence flags, trained on labelled tuples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import ConfigError
from emolens.probability import softmax

RULES: tuple[str, ...] = ("weighted", "entropy", "gated", "learned")
_EPS = 1e-6


def _check(probs: np.ndarray, present: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3:
        raise ConfigError(f"fusion needs probabilities [M, K] or [N, M, K], got shape {list(np.shape(probs))}")
    m = np.ones(p.shape[:2], bool) if present is None else np.asarray(present, bool).reshape(p.shape[:2])
    m = m & np.isfinite(p).all(-1)
    return np.where(m[..., None], p, 0.0), m


def _weights(weights: Sequence[float] | None, m: int) -> np.ndarray:
    if weights is None:
        return np.ones(m)
    w = np.asarray(weights, np.float64)
    if w.shape != (m,) or (w < 0).any() or not w.any():
        raise ConfigError(f"weights must be {m} non-negative numbers, not all zero; got {list(weights)}")
    return w


def reliability(probs: np.ndarray) -> np.ndarray:
    """``1 - H(p) / log K`` of each row: 1 for a one-hot row, 0 for a uniform one."""
    p = np.clip(np.asarray(probs, np.float64), _EPS, 1.0)
    k = p.shape[-1]
    h = -(p * np.log(p)).sum(-1)
    return np.clip(1.0 - h / np.log(k), 0.0, 1.0)


def _mix(p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over modalities ``[N, M, K]`` with per-row weights ``[N, M]``; uniform where all are 0."""
    tot = w.sum(1, keepdims=True)
    out = (p * w[..., None]).sum(1) / np.where(tot > 0, tot, 1.0)
    k = p.shape[-1]
    return np.where(tot > 0, out, 1.0 / k)


def fuse(
    probs: np.ndarray,
    present: np.ndarray | None = None,
    *,
    rule: str = "entropy",
    weights: Sequence[float] | None = None,
    gate: float = 0.5,
    model: LearnedFusion | None = None,
) -> np.ndarray:
    """Fuse ``[M, K]`` (or ``[N, M, K]``) probabilities with one of :data:`RULES`; see the module docstring."""
    p, m = _check(probs, present)
    single = np.ndim(probs) == 2
    base = _weights(weights, p.shape[1])[None, :] * m
    if rule == "weighted":
        out = _mix(p, base)
    elif rule == "entropy":
        out = _mix(p, base * reliability(np.where(m[..., None], p, 1.0 / p.shape[-1])))
    elif rule == "gated":
        confident = m & (p.max(-1) >= gate)
        use = np.where(confident.any(1, keepdims=True), confident, m)
        out = _mix(p, base * use)
    elif rule == "learned":
        if model is None:
            raise ConfigError("the learned rule needs a trained LearnedFusion model")
        out = model.predict(p, m)
    else:
        raise ConfigError(f"unknown fusion rule {rule!r}; use one of {', '.join(RULES)}")
    return out[0] if single else out


@dataclass
class LearnedFusion:
    """Multinomial logistic regression over ``[log p_1 .. log p_M, present_1 .. present_M]``.

    Absent modalities contribute zeros (and a 0 presence flag), so one model serves every subset. Trained
    with full-batch gradient descent (Adam) and L2 in NumPy: it has ``M * K + M + 1`` inputs, nothing more
    is needed, and it stays free of training-only packages.
    """

    weight: np.ndarray  # [D, K]
    bias: np.ndarray  # [K]
    modalities: tuple[str, ...]
    labels: tuple[str, ...]

    @staticmethod
    def features(p: np.ndarray, m: np.ndarray) -> np.ndarray:
        logp = np.log(np.clip(p, _EPS, 1.0)) * m[..., None]
        return np.concatenate([logp.reshape(len(p), -1), m.astype(np.float64)], axis=1)

    @classmethod
    def fit(
        cls,
        probs: np.ndarray,
        present: np.ndarray,
        y: np.ndarray,
        modalities: Sequence[str],
        labels: Sequence[str],
        *,
        l2: float = 1e-3,
        steps: int = 2000,
        lr: float = 0.05,
        seed: int = 0,
    ) -> LearnedFusion:
        p, m = _check(probs, present)
        x = cls.features(p, m)
        k = len(labels)
        rng = np.random.default_rng(seed)
        w = rng.normal(0, 0.01, (x.shape[1], k))
        b = np.zeros(k)
        onehot = np.eye(k)[np.asarray(y)]
        state = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
        for t in range(1, steps + 1):
            q = softmax(x @ w + b)
            g = (q - onehot) / len(x)
            gw, gb = x.T @ g + l2 * w, g.sum(0)
            for i, (param, grad) in enumerate(((w, gw), (b, gb))):
                mom, var = state[2 * i], state[2 * i + 1]
                mom[:] = 0.9 * mom + 0.1 * grad
                var[:] = 0.999 * var + 0.001 * grad**2
                param -= lr * (mom / (1 - 0.9**t)) / (np.sqrt(var / (1 - 0.999**t)) + 1e-8)
        return cls(w, b, tuple(modalities), tuple(labels))

    def predict(self, probs: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        p, m = _check(probs, present)
        return softmax(self.features(p, m) @ self.weight + self.bias)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "modalities": list(self.modalities),
                    "labels": list(self.labels),
                    "weight": self.weight.round(6).tolist(),
                    "bias": self.bias.round(6).tolist(),
                }
            )
        )

    @classmethod
    def load(cls, path: str | Path) -> LearnedFusion:
        try:
            d = json.loads(Path(path).read_text())
            return cls(np.asarray(d["weight"]), np.asarray(d["bias"]), tuple(d["modalities"]), tuple(d["labels"]))
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"cannot read the learned fusion model ({e})", str(path)) from None
