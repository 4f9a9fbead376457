"""Who a face is: embeddings, the enrolment gallery and its stores, and the identity + emotion event log."""

from emolens.embed import DEFAULT_EMBEDDER, FaceEmbedder
from emolens.identity.gallery import (
    UNKNOWN,
    EnrollReport,
    Gallery,
    Match,
    Verification,
    default_gallery_path,
)
from emolens.identity.store import EventQuery, GalleryStore, Person, SQLiteStore

__all__ = [
    "DEFAULT_EMBEDDER",
    "UNKNOWN",
    "EnrollReport",
    "EventQuery",
    "FaceEmbedder",
    "Gallery",
    "GalleryStore",
    "Match",
    "Person",
    "SQLiteStore",
    "Verification",
    "default_gallery_path",
]
