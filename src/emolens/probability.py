"""The softmax every model head in emolens uses, with an optional temperature (calibration divides the logits
by a fitted temperature before it)."""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``z / temperature`` along the last axis, computed stably."""
    z = np.asarray(z) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
