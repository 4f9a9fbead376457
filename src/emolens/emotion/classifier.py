"""The emotion classifier: an ONNX model plus the preprocessing its manifest describes.

Manifest keys used here (:class:`emolens.models.EmotionManifest`): ``classes``, ``preprocessing`` (``align_size``,
the side of the aligned crop; ``input_size``, the centre crop fed to the network; ``grey``, ``mean``, ``std``;
``template``, 5 landmark positions as fractions of ``align_size``) and ``temperature`` (post-hoc calibration of the
logits, fitted on the validation split).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emolens.align import align, align_all
from emolens.models import EmotionManifest, OnnxModel
from emolens.probability import softmax
from emolens.types import Detection, EmotionScores

DEFAULT_MODEL = "emotion-fer2013"


class EmotionModel(OnnxModel[EmotionManifest]):
    """Predicts emotion probabilities for faces.

    Parameters
    ----------
    name:
        A shipped model name (see ``emolens.registry.model_names("emotion")``) or a manifest path.
    threads:
        ONNX Runtime intra-op threads (0: its default).
    tta:
        Test-time augmentation: average over ten views (centre and corner crops, each mirrored).
    batch_size:
        Largest batch sent to the network at once.
    """

    def __init__(self, name: str = DEFAULT_MODEL, threads: int = 0, tta: bool = False, batch_size: int = 256) -> None:
        super().__init__(name, EmotionManifest, threads, batch_size)
        pre = self.info.manifest.preprocessing
        self.align_size = pre.align_size
        self.input_size = pre.input_size
        self.grey = pre.grey
        self.mean = pre.mean
        self.std = pre.std
        self.template = list(pre.template)
        self.temperature = self.info.manifest.temperature
        self.labels: tuple[str, ...] = self.info.manifest.classes
        self.tta = tta

    def crop(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """The aligned crop (``align_size`` square, grey or RGB as the model wants) for one detection."""
        return align(image, detection.landmarks, detection.box, self.template, self.align_size, self.grey)

    def crops(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """The aligned crops of every detection in one image, stacked (``[0, S, S]`` without detections)."""
        return align_all(image, detections, self.template, self.align_size, self.grey)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Raw network outputs for aligned crops ``[N, S, S]`` uint8 (S = ``align_size``), in batches.

        With ``tta`` the logits are averaged over the centre crop, the four corner crops and their mirror
        images (ten views).
        """
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        full = self._normalise(crops)
        views = [(self._offset, self._offset)]
        if self.tta:
            m = self.align_size - self.input_size
            views += [(0, 0), (0, m), (m, 0), (m, m)]
        z = np.zeros((len(full), len(self.labels)), dtype=np.float64)
        for oy, ox in views:
            x = full[..., oy : oy + self.input_size, ox : ox + self.input_size]
            for flip in (False, True) if self.tta else (False,):
                v = np.ascontiguousarray(x[..., ::-1] if flip else x)
                z += np.concatenate([self._run(v[i : i + self.batch_size]) for i in range(0, len(v), self.batch_size)])
        return (z / (len(views) * (2 if self.tta else 1))).astype(np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``[N, C]`` for aligned crops."""
        return softmax(self.logits(crops), self.temperature)

    def scores(self, crops: np.ndarray) -> list[EmotionScores]:
        return [EmotionScores(self.labels, tuple(float(v) for v in p)) for p in self.predict(crops)]

    @property
    def _offset(self) -> int:
        return (self.align_size - self.input_size) // 2

    def _normalise(self, crops: np.ndarray) -> np.ndarray:
        """Aligned crops to normalised float32 ``[N, C, S, S]`` at the full ``align_size``."""
        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        if crops.ndim == 4 and self.grey:  # RGB crops for a grey model
            crops = (crops[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
        s = crops.shape[1]
        if s != self.align_size or crops.shape[2] != self.align_size:
            import cv2

            crops = np.stack(
                [cv2.resize(c, (self.align_size, self.align_size), interpolation=cv2.INTER_AREA) for c in crops]
            )
        x = (crops.astype(np.float32) / 255.0 - self.mean) / self.std
        return np.ascontiguousarray(x[:, None] if self.grey else x.transpose(0, 3, 1, 2), dtype=np.float32)
