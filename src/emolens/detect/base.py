"""The detector protocol and the base every shipped ONNX backend builds on.

Backends know nothing of one another nor of the catalog: :mod:`emolens.registry` lists and builds them by name.
A backend subclasses :class:`OnnxDetector`, names its shipped model (``name``) and implements :meth:`_detect`.
The options a caller leaves out come from the model manifest's ``defaults``.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from emolens.detect.common import check_fraction, check_image, check_int, check_nonnegative
from emolens.errors import ConfigError
from emolens.models import DetectorManifest, ModelInfo, open_model
from emolens.types import Detection


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB uint8 image ``[H, W, 3]``; returns detections sorted by score, highest first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


class OnnxDetector:
    """A face detector on ONNX Runtime: options checked, model verified and opened once.

    Parameters
    ----------
    score_threshold
        Lowest face score kept, in [0, 1]; default: the manifest's.
    max_size
        Longest image side fed to the network; larger images are shrunk, smaller ones are not enlarged (not for
        a backend with a fixed input size); default: the manifest's.
    threads
        ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose.
    min_face
        Smallest face kept, as ``max(w, h)`` of its box in pixels of the input image.
    nms_threshold
        IoU above which the lower-scored of two overlapping boxes is dropped (or merged); default: the manifest's.
    model
        Shipped model name, or the path of a manifest (``.json``) or of an ONNX file beside one; default: the
        backend's own model.

    Raises
    ------
    ConfigError
        On an option out of range.
    ModelError
        If the model is missing, fails its sha256 check, is not a detector, or cannot be loaded.
    """

    #: The backend's name and the name of its shipped model.
    name: ClassVar[str]
    #: Input sides must be multiples of this; 0: the backend has a fixed input size and no ``max_size``.
    stride: ClassVar[int] = 32

    def __init__(
        self,
        score_threshold: float | None = None,
        *,
        max_size: int | None = None,
        threads: int = 0,
        min_face: float = 0.0,
        nms_threshold: float | None = None,
        model: str | None = None,
    ) -> None:
        self.threads = check_int("threads", threads, 0)
        self.info: ModelInfo[DetectorManifest]
        self.info, self._session, self._input = open_model(str(model or self.name), DetectorManifest, self.threads)
        defaults = self.info.manifest.defaults
        pick = defaults.score_threshold if score_threshold is None else score_threshold
        self.score_threshold = check_fraction("score_threshold", pick)
        pick = defaults.nms_threshold if nms_threshold is None else nms_threshold
        self.nms_threshold = check_fraction("nms_threshold", pick)
        if self.stride:
            pick = (defaults.max_size or 1024) if max_size is None else max_size
            self.max_size = check_int("max_size", pick, self.stride)
        elif max_size is not None:
            raise ConfigError(f"the {self.name} detector has a fixed input size; it takes no max_size")
        self.min_face = check_nonnegative("min_face", min_face)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an RGB uint8 image ``[H, W, 3]``.

        Returns
        -------
        list of Detection
            Boxes and landmarks in pixels of ``image``, sorted by score, highest first.

        Raises
        ------
        ImageError
            If ``image`` is not an RGB uint8 array.
        """
        return self._detect(check_image(image))

    def _detect(self, image: np.ndarray) -> list[Detection]:
        raise NotImplementedError
