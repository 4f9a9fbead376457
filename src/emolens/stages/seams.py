"""The seams of the stages, as protocols: what finds faces, what tells who a face is, what follows tracks.

Layers above implement them (:class:`emolens.identity.Gallery` is an :class:`Identifier`,
:class:`emolens.identity.tracks.TrackIdentities` a :class:`TrackIdentifier`, :class:`Stages` and
:class:`emolens.Analyzer` are :class:`FaceFinder` s), so the stages and the video pipeline name them without
importing upward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from emolens.embed import FaceEmbedder
from emolens.types import Detection

__all__ = ["FaceFinder", "Identifier", "IdentityMatch", "TrackIdentifier"]


class FaceFinder(Protocol):
    """Anything that finds faces in an RGB image (a :class:`Stages`, an :class:`emolens.Analyzer`)."""

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


class IdentityMatch(Protocol):
    """Who a face is (:class:`emolens.identity.Match`): a name or ``"unknown"``, and the similarity."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...


class Identifier(Protocol):
    """What the stages need of an identity gallery (:class:`emolens.identity.Gallery`)."""

    @property
    def embedder(self) -> FaceEmbedder: ...

    def match(self, embeddings: np.ndarray, top_k: int = 3) -> Sequence[IdentityMatch]: ...


class TrackIdentifier(Protocol):
    """Identity that follows video tracks (:class:`emolens.identity.tracks.TrackIdentities`)."""

    def update(self, rgb: np.ndarray, tracks: Sequence[tuple[int, Detection]]) -> Mapping[int, IdentityMatch]: ...

    def drop(self, track_id: int) -> None: ...
