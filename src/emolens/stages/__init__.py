"""The downward stage bundle: detector → aligner → emotion model (+ face embedder, + attention) → ``Face`` values.

:class:`Stages` is the one place a :class:`~emolens.types.Face` is assembled; :class:`~emolens.Analyzer`, the
video pipeline and the identity gallery stand on it. :class:`PhotoRun` runs photos through it (worker threads,
batches); :mod:`emolens.stages.seams` types what the layers above plug in (a gallery, a track identifier).
"""

from emolens.stages.bundle import (
    DEFAULT_DETECTOR,
    AttentionOption,
    Prepared,
    StageOptions,
    Stages,
    attention_stage,
    make_face,
)
from emolens.stages.photos import ImageInput, PhotoRun
from emolens.stages.seams import FaceFinder, Identifier, IdentityMatch, TrackIdentifier

__all__ = [
    "DEFAULT_DETECTOR",
    "AttentionOption",
    "FaceFinder",
    "Identifier",
    "IdentityMatch",
    "ImageInput",
    "PhotoRun",
    "Prepared",
    "StageOptions",
    "Stages",
    "TrackIdentifier",
    "attention_stage",
    "make_face",
]
