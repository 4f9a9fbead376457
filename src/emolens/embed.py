"""Face embeddings: aligned 112x112 crops to L2-normalised identity vectors (SFace by default).

Two faces of one person give embeddings with a high cosine similarity; the gallery compares a face with the
enrolled ones by that similarity. The embedder reuses the detector's five landmarks: each face is warped onto
the ArcFace template that the recognition model was trained with, so no second detector is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emolens.align import align, align_all
from emolens.models import EmbedderManifest, OnnxModel
from emolens.types import Detection

DEFAULT_EMBEDDER = "sface"

#: The five-point template of ArcFace/SFace 112x112 crops (left eye, right eye, nose, mouth left, mouth right),
#: as fractions of the side.
ARCFACE_TEMPLATE: tuple[tuple[float, float], ...] = tuple(
    (x / 112, y / 112)
    for x, y in (
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    )
)


class FaceEmbedder(OnnxModel[EmbedderManifest]):
    """Turns faces into unit-length identity embeddings.

    Parameters
    ----------
    name:
        A shipped embedding model (``task: embed``) or the path of its manifest.
    threads:
        ONNX Runtime threads (0: ONNX Runtime's default).
    batch_size:
        Faces per model call.
    """

    def __init__(self, name: str = DEFAULT_EMBEDDER, threads: int = 0, batch_size: int = 32) -> None:
        super().__init__(name, EmbedderManifest, threads, batch_size)
        m = self.info.manifest
        self.size = m.input_size
        self.dim = m.embedding_dim
        self.template = m.template or ARCFACE_TEMPLATE
        self.colour = m.preprocessing.colour.upper()

    def same_probabilities(self, scores: np.ndarray) -> np.ndarray | None:
        """Same-person probabilities of cosine similarities: the manifest's logistic ``sigmoid(a * score + b)``,
        fitted on pooled verification pairs (``same_person_probability``); ``None`` when the manifest has none.
        Scores below -1 (pairs with a failed image) get 0."""
        fit = self.info.manifest.same_person_probability
        if fit is None:
            return None
        return same_probability(scores, fit.a, fit.b)

    def same_probability(self, score: float) -> float | None:
        """The same-person probability of one cosine similarity (see :meth:`same_probabilities`)."""
        p = self.same_probabilities(np.array([score]))
        return None if p is None else float(p[0])

    def crop(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        """The aligned ``size`` x ``size`` RGB uint8 crop of one detected face."""
        return align(rgb, detection.landmarks, detection.box, self.template, self.size, grey=False)

    def crops(self, rgb: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """Aligned crops ``[N, size, size, 3]`` (RGB uint8) of several faces of one image."""
        return align_all(rgb, detections, self.template, self.size, grey=False)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings ``[N, dim]`` (float32, unit length) of aligned RGB crops ``[N, size, size, 3]``."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected crops of shape [N, {self.size}, {self.size}, 3], got {list(crops.shape)}")
        out = np.zeros((len(crops), self.dim), np.float32)
        for i in range(0, len(crops), self.batch_size):
            x = crops[i : i + self.batch_size].astype(np.float32)
            if self.colour == "BGR":
                x = x[..., ::-1]
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            out[i : i + len(x)] = self._run(x)
        return normalise(out)

    def embed(self, rgb: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """Embeddings ``[N, dim]`` of the detected faces of one RGB image."""
        return self.embed_crops(self.crops(rgb, detections))


def normalise(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (rows of zeros stay zero)."""
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def same_probability(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    """``sigmoid(a * score + b)``; 0 for pairs with a failed image (score below -1)."""
    s = np.asarray(scores, np.float64)
    return np.where(s < -1.0, 0.0, 1 / (1 + np.exp(-(a * s + b))))
