"""Result types, and the record schemas every output is written with.

- :mod:`emolens.types.faces`: ``Box``, ``Landmarks``, ``EmotionScores``, the attention states and ``Face``;
- :mod:`emolens.types.results`: ``ImageResult`` (a photo) and ``FrameResult`` (a video frame);
- :mod:`emolens.types.records`: the flat row schemas (photo faces, frame faces), declared once with their types;
- :mod:`emolens.types.tables`: records as pandas DataFrames;
- :mod:`emolens.types.supervision`: results to and from ``supervision.Detections``.

Nothing here imports from a layer above (``emolens.io`` writes these records; it is not imported here).
"""

from emolens.types.faces import (
    LANDMARK_NAMES,
    AttentionState,
    Box,
    Detection,
    EmotionScores,
    EyeState,
    Face,
    HeadPose,
    Landmarks,
    MouthState,
    PartialLandmarks,
)
from emolens.types.results import FrameResult, ImageResult

__all__ = [
    "LANDMARK_NAMES",
    "AttentionState",
    "Box",
    "Detection",
    "EmotionScores",
    "EyeState",
    "Face",
    "FrameResult",
    "HeadPose",
    "ImageResult",
    "Landmarks",
    "MouthState",
    "PartialLandmarks",
]
