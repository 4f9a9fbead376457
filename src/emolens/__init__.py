"""emolens: find faces and tell how people feel, offline.

>>> import emolens
>>> faces = emolens.analyze("photo.jpg")
>>> [(f.box.to_list(), f.label) for f in faces]
"""

from emolens.analyzer import Analyzer, analyze
from emolens.dataframes import analyze_many
from emolens.errors import EmolensError, ImageError, ModelError
from emolens.types import Box, Detection, EmotionScores, Face, ImageResult, Landmarks

__version__ = "0.1.0"

__all__ = [
    "Analyzer",
    "Box",
    "Detection",
    "EmolensError",
    "EmotionScores",
    "Face",
    "ImageError",
    "ImageResult",
    "Landmarks",
    "ModelError",
    "__version__",
    "analyze",
    "analyze_many",
]
