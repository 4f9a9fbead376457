"""Helpers shared by the detector backends: input checks, resizing, non-maximum suppression, conversion to
``Detection``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from emolens.errors import ConfigError, ImageError
from emolens.types import Box, Detection, Landmarks

NAN_POINT: tuple[float, float] = (math.nan, math.nan)


def check_image(image: np.ndarray) -> np.ndarray:
    """Check that ``image`` is an RGB uint8 array ``[H, W, 3]`` with H, W >= 1 and return it.

    Parameters
    ----------
    image
        The image to check.

    Returns
    -------
    numpy.ndarray
        The same array.

    Raises
    ------
    ImageError
        If the array has another type, shape or dtype.
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"a detector needs a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"a detector needs an RGB image of shape [H, W, 3], got shape {list(image.shape)}")
    if image.dtype != np.uint8:
        raise ImageError(f"a detector needs a uint8 image, got dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"the image is empty (shape {list(image.shape)})")
    return image


def check_fraction(name: str, value: object) -> float:
    """Return ``value`` as a float in [0, 1] or raise ``ConfigError`` naming the option."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0 or math.isnan(v):
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    return v


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise ``ConfigError`` naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a finite float >= 0 or raise ``ConfigError`` naming the option."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    return v


def shrink_and_pad(
    image: np.ndarray, max_size: int, stride: int, interpolation: str = "area"
) -> tuple[np.ndarray, int, int]:
    """The image shrunk (never enlarged) so that its longer side is at most ``max_size``, then padded with black at
    the bottom and right to multiples of ``stride``.

    ``interpolation`` is ``"area"`` (OpenCV's ``INTER_AREA``: averages every source pixel, the most faithful, but
    slow for a fractional scale) or ``"linear"`` (``INTER_LINEAR``: about 10x faster; fine for mild shrinking).

    Returns
    -------
    tuple
        The padded image ``[H, W, 3]`` (same dtype), and the width and height of the image inside it.
    """
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}.get(interpolation)
        if flag is None:
            raise ConfigError(f"interpolation must be 'area' or 'linear', got {interpolation!r}")
        image = cv2.resize(image, (nw, nh), interpolation=flag)
    else:
        nw, nh = w, h
    ph, pw = -(-nh // stride) * stride, -(-nw // stride) * stride
    padded = np.zeros((ph, pw, image.shape[2]), image.dtype)
    padded[:nh, :nw] = image
    return padded, nw, nh


def to_image_pixels(
    boxes: np.ndarray, points: np.ndarray, scale: tuple[float, float], offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``[N, 4]`` and points ``[N, K, 2]`` from network-input pixels back to image pixels:
    ``(v - offset) * scale`` per axis."""
    ox, oy = offset
    sx, sy = scale
    boxes = (boxes - np.array([ox, oy, ox, oy], np.float32)) * np.array([sx, sy, sx, sy], np.float32)
    points = (points - np.array([ox, oy], np.float32)) * np.array([sx, sy], np.float32)
    return boxes, points


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a, b
        ``[N, 4]`` and ``[M, 4]`` boxes, corners ``x1, y1, x2, y2``.

    Returns
    -------
    numpy.ndarray
        ``[N, M]`` IoU values in [0, 1]; 0 where the union is empty.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Boxes are visited by falling score; a box is dropped when its IoU with an already kept box is
    greater than ``iou_threshold``.

    Parameters
    ----------
    boxes
        ``[N, 4]`` corners ``x1, y1, x2, y2``.
    scores
        ``[N]`` scores.
    iou_threshold
        Overlap above which the lower-scored box is suppressed.

    Returns
    -------
    numpy.ndarray
        Indices of the kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[iou_matrix(boxes[i], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted non-maximum suppression (the blending variant MediaPipe uses for BlazeFace).

    The best remaining box and every remaining box whose IoU with it is greater than ``iou_threshold`` form a
    cluster; the cluster becomes one detection whose box and ``points`` (``[N, K, 2]`` keypoints) are the
    score-weighted means over the cluster and whose score is the best one. ``boxes``, ``scores`` and
    ``iou_threshold`` are as for :func:`nms`.

    Returns
    -------
    tuple of numpy.ndarray
        Merged ``boxes [M, 4]``, ``scores [M]`` and ``points [M, K, 2]``, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    out_b, out_s, out_p = [], [], []
    while order.size:
        i = int(order[0])
        cluster = order[iou_matrix(boxes[i], boxes[order])[0] > iou_threshold]
        cluster = cluster if cluster.size else order[:1]  # a degenerate box still forms its own cluster
        w = scores[cluster] / scores[cluster].sum()
        out_b.append((boxes[cluster] * w[:, None]).sum(0))
        out_p.append((points[cluster] * w[:, None, None]).sum(0))
        out_s.append(scores[i])
        order = order[~np.isin(order, cluster)]
    if not out_s:
        k = points.shape[1] if points.ndim == 3 else 0
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, k, 2), np.float32)
    return np.stack(out_b), np.asarray(out_s), np.stack(out_p)


def to_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    points: np.ndarray | None,
    width: int,
    height: int,
    min_face: float = 0.0,
    make_landmarks: Callable[[np.ndarray], Landmarks] | None = None,
) -> list[Detection]:
    """Turn pixel arrays into ``Detection`` objects sorted by score, highest first.

    Boxes are clipped to the image; a box whose larger side is below ``min_face`` pixels (after
    clipping) or that is empty is left out. Landmarks are not clipped.

    Parameters
    ----------
    boxes
        ``[N, 4]`` corners in pixels of the original image.
    scores
        ``[N]`` scores.
    points
        ``[N, K, 2]`` keypoints in pixels, or ``None`` for no landmarks.
    width, height
        Size of the original image.
    min_face
        Smallest face to keep, as ``max(w, h)`` in pixels.
    make_landmarks
        Builds the landmarks of one face from its ``[K, 2]`` keypoints; by default the keypoints are
        the five points of ``emolens.types.LANDMARK_NAMES`` in that order.

    Returns
    -------
    list of Detection
    """
    if len(scores) == 0:
        return []
    b = np.asarray(boxes, dtype=np.float64).copy()
    b[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]) & (side >= min_face)
    out = []
    for i in np.flatnonzero(ok)[np.argsort(-np.asarray(scores)[ok], kind="stable")]:
        lm = None
        if points is not None:
            if make_landmarks is None:
                lm = Landmarks(tuple((float(x), float(y)) for x, y in points[i]))
            else:
                lm = make_landmarks(points[i])
        out.append(Detection(Box(*(float(v) for v in b[i])), float(scores[i]), lm))
    return out
