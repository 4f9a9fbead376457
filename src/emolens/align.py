"""Face alignment: a 5-point similarity transform onto a canonical template, giving the crop a model expects."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from emolens.types import Box, Landmarks


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` points onto ``dst``.

    Umeyama's method; returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (s_c**2).sum() / len(src)
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align(
    image: np.ndarray,
    landmarks: Landmarks | None,
    box: Box,
    template: Sequence[Sequence[float]],
    size: int,
    grey: bool = True,
) -> np.ndarray:
    """Warp one face to ``size`` x ``size`` so its 5 landmarks land on ``template`` (fractions of the side).

    Without landmarks, the box is expanded to a square with the template's margin and resized instead.
    Returns uint8 ``[size, size]`` (grey) or ``[size, size, 3]`` (RGB).
    """
    src = image
    if grey and image.ndim == 3:
        src = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    dst = np.asarray(template, dtype=np.float64) * size
    if landmarks is not None:
        m = similarity_transform(landmarks.as_array(), dst)
    else:
        m = _box_transform(box, size)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_AREA if _scale(m) < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _scale(m: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def _box_transform(box: Box, size: int, margin: float = 0.1) -> np.ndarray:
    side = box.size * (1 + 2 * margin)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    s = size / side
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])


#: Where the 5 landmarks sit in a FER2013 48x48 crop, as fractions of the side (left eye, right eye, nose,
#: mouth left, mouth right). Emotion models trained on FER2013 expect faces framed like this. Measured with
#: ``python scripts/fit_template.py --n 1500`` (RetinaFace on 1,483 training faces; medians
#: (0.316, 0.392), (0.688, 0.384), (0.505, 0.601), (0.360, 0.764), (0.648, 0.760)), then made left-right symmetric.
FER2013_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.314, 0.388), (0.686, 0.388), (0.500, 0.601), (0.356, 0.762), (0.644, 0.762),
)
