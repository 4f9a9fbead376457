"""Face alignment: a 5-point similarity transform onto a canonical template, giving the crop a model expects."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from emolens.types import Box, Detection, Landmarks


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


def landmark_correspondences(landmarks: Landmarks, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair the located landmarks with the points of a five-point template, for a similarity fit.

    Parameters
    ----------
    landmarks
        Five-point landmarks; for ``PartialLandmarks`` only the located points are used, and the
        mouth centre is paired with the midpoint of the template's two mouth corners.
    template
        ``[5, 2]`` template points in the order of ``emolens.types.LANDMARK_NAMES``.

    Returns
    -------
    tuple of numpy.ndarray
        ``src [K, 2]`` image points and ``dst [K, 2]`` template points, ``K`` between 0 and 5.
    """
    template = np.asarray(template, dtype=np.float64)
    src = np.asarray(landmarks.points, dtype=np.float64)
    ok = np.asarray(np.isfinite(src).all(axis=1))  # a row mask (numpy types .all(axis=...) as scalar or array)
    s, d = src[ok], template[ok]
    mouth = getattr(landmarks, "mouth_center", None)
    if mouth is not None and not ok[3:5].any():
        s = np.vstack([s, np.asarray(mouth, dtype=np.float64)])
        d = np.vstack([d, template[3:5].mean(axis=0)])
    return s, d


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
    # Only located points take part: partial landmarks (BlazeFace) have NaN mouth corners and a mouth centre,
    # which is paired with the midpoint of the template's mouth corners.
    src_pts, dst_pts = landmark_correspondences(landmarks, dst) if landmarks is not None else (dst[:0], dst[:0])
    if len(src_pts) >= 2:
        m = similarity_transform(src_pts, dst_pts)
    else:
        m = _box_transform(box, size)
    return cv2.warpAffine(
        src,
        m,
        (size, size),
        flags=cv2.INTER_AREA if _scale(m) < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def align_all(
    image: np.ndarray,
    detections: Sequence[Detection],
    template: Sequence[Sequence[float]],
    size: int,
    grey: bool = True,
) -> np.ndarray:
    """:func:`align` for every detection of one image, stacked: ``[N, size, size]`` (grey) or
    ``[N, size, size, 3]``. A grey crop's image is converted once, not once per face."""
    if not detections:
        return np.zeros((0, size, size) if grey else (0, size, size, 3), np.uint8)
    if grey and image.ndim == 3 and len(detections) > 1:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.stack([align(image, d.landmarks, d.box, template, size, grey) for d in detections])


def _scale(m: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def _box_transform(box: Box, size: int, margin: float = 0.1) -> np.ndarray:
    side = box.size * (1 + 2 * margin)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    s = size / side
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])


#: Where the 5 landmarks sit in a FER2013 48x48 crop, as fractions of the side (left eye, right eye, nose,
#: mouth left, mouth right). Emotion models trained on FER2013 expect faces framed like this. Measured with
#: ``python research/fit_template.py --n 1500`` (RetinaFace on 1,483 training faces; medians
#: (0.316, 0.392), (0.688, 0.384), (0.505, 0.601), (0.360, 0.764), (0.648, 0.760)), then made left-right symmetric.
FER2013_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.314, 0.388),
    (0.686, 0.388),
    (0.500, 0.601),
    (0.356, 0.762),
    (0.644, 0.762),
)
