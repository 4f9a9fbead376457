"""The enrolment gallery: enrol people from photos, match faces against them, verify two photos.

>>> g = Gallery("people.db")                                     # doctest: +SKIP
>>> g.enroll("ada", ["ada1.jpg", "ada2.jpg", "ada3.jpg"])        # doctest: +SKIP
>>> [m.label for m in g.identify("door-camera.jpg")]             # doctest: +SKIP
['ada', 'unknown']

A face matches the enrolled person whose closest embedding has the highest cosine similarity, if that
similarity reaches the threshold; otherwise it is ``unknown``. The default threshold is the embedding model's
(its manifest records how it was chosen).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolens.embed import DEFAULT_EMBEDDER, FaceEmbedder, normalise
from emolens.errors import EmolensError, GalleryError, ImageError
from emolens.identity.store import EmbeddingRecord, EventQuery, GalleryStore, Person, SQLiteStore
from emolens.io.images import load_image
from emolens.stages import FaceFinder, ImageInput, Stages
from emolens.types import Box, Detection
from emolens.userdata import user_data_file

UNKNOWN = "unknown"


def default_gallery_path() -> Path:
    """``$EMOLENS_GALLERY``, else ``$XDG_DATA_HOME/emolens/gallery.db`` (``~/.local/share`` by default)."""
    return user_data_file("EMOLENS_GALLERY", "gallery.db")


@dataclass(frozen=True)
class Match:
    """Who a face is: the best enrolled person if the similarity reaches the threshold, else unknown."""

    name: str | None
    score: float
    threshold: float
    candidates: tuple[tuple[str, float], ...] = ()

    @property
    def known(self) -> bool:
        return self.name is not None

    @property
    def label(self) -> str:
        return self.name if self.name is not None else UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.label,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "candidates": [{"name": n, "score": round(s, 4)} for n, s in self.candidates],
        }


@dataclass(frozen=True)
class Verification:
    """Whether two faces are one person: their similarity and the threshold it was compared with."""

    same: bool
    score: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "score": round(self.score, 4), "threshold": round(self.threshold, 4)}


@dataclass(frozen=True)
class EnrollReport:
    """What an enrolment did: embeddings added, the person's total, and the images that could not be used."""

    name: str
    added: int
    total: int
    failures: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "added": self.added,
            "total": self.total,
            "failures": [{"source": s, "error": e} for s, e in self.failures],
        }


class Gallery:
    """Enrolled people and their face embeddings, in a store (SQLite by default).

    Parameters
    ----------
    path:
        The SQLite file (created if missing); default :func:`default_gallery_path`. Ignored if ``store`` is given.
    store:
        Any :class:`~emolens.identity.store.GalleryStore`.
    embedder:
        A shipped embedding model name, or a :class:`FaceEmbedder`.
    threshold:
        Cosine similarity from which a face counts as a match (default: the embedding model's).
    stages:
        What finds faces in enrolment and query images: a :class:`~emolens.stages.Stages` (by default one with the
        default detector, created lazily) or anything with ``detect(rgb)`` (an :class:`~emolens.Analyzer`).
    analyzer:
        The older name of ``stages`` (an :class:`~emolens.Analyzer`, or anything with ``detect(rgb)``).
    keep_images:
        Also store each enrolment's aligned face crop (JPEG). Off by default: only embeddings are kept.
    threads:
        ONNX Runtime threads for the models it creates.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        store: GalleryStore | None = None,
        embedder: str | FaceEmbedder = DEFAULT_EMBEDDER,
        threshold: float | None = None,
        stages: FaceFinder | None = None,
        analyzer: FaceFinder | None = None,
        keep_images: bool = False,
        threads: int = 0,
    ) -> None:
        self.store: GalleryStore = store if store is not None else SQLiteStore(path or default_gallery_path())
        self._embedder = embedder if isinstance(embedder, FaceEmbedder) else None
        self._embedder_name = embedder.name if isinstance(embedder, FaceEmbedder) else embedder
        self._threshold = threshold
        self._finder = stages if stages is not None else analyzer
        self.keep_images = keep_images
        self.threads = threads
        self._cache: tuple[int, list[str], np.ndarray, np.ndarray] | None = None

    # --- models -------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = FaceEmbedder(self._embedder_name, threads=self.threads)
        return self._embedder

    @property
    def stages(self) -> FaceFinder:
        """What finds the faces of enrolment and query images (default: :class:`~emolens.stages.Stages`)."""
        if self._finder is None:
            self._finder = Stages(threads=self.threads)
        return self._finder

    @property
    def analyzer(self) -> FaceFinder:
        """The older name of :attr:`stages`."""
        return self.stages

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        return self.embedder.info.manifest.threshold

    @property
    def model(self) -> str:
        return self._embedder_name

    # --- people -------------------------------------------------------------------------------------------

    def enroll(self, name: str, images: Iterable[ImageInput], *, replace: bool = False) -> EnrollReport:
        """Enrol ``name`` from photos (paths, bytes, RGB arrays), one face each; all-or-nothing per call.

        In each photo the largest face is used; a photo without a face, with two faces of similar size, or
        that cannot be read is reported in ``failures`` and skipped. Nothing is written if no photo is usable.
        """
        records: list[EmbeddingRecord] = []
        failures: list[tuple[str, str]] = []
        for i, img in enumerate(images):
            src = str(img) if isinstance(img, str | os.PathLike) else f"image {i + 1}"
            try:
                crop = self._enrol_crop(img, src)
            except EmolensError as e:
                failures.append((e.source or src, e.message))
                continue
            vec = self.embedder.embed_crops(crop[None])[0]
            jpeg = cv2.imencode(".jpg", crop[..., ::-1])[1].tobytes() if self.keep_images else None
            records.append(EmbeddingRecord(vec, src, jpeg))
        if not records:
            total = next((p.embeddings for p in self.store.persons() if p.name == name), 0)
            return EnrollReport(name, 0, total, tuple(failures))
        total = self.store.add(name, self.model, records, replace=replace)
        return EnrollReport(name, len(records), total, tuple(failures))

    def enroll_embeddings(
        self, name: str, vectors: np.ndarray, sources: Sequence[str | None] | None = None, *, replace: bool = False
    ) -> int:
        """Enrol precomputed embeddings (rows of ``vectors``, from this gallery's model). Returns the total."""
        vectors = normalise(np.atleast_2d(vectors))
        if vectors.shape[1] != self.embedder.dim:
            raise GalleryError(f"embeddings have {vectors.shape[1]} values; {self.model} makes {self.embedder.dim}")
        srcs = list(sources) if sources is not None else [None] * len(vectors)
        return self.store.add(
            name, self.model, [EmbeddingRecord(v, s) for v, s in zip(vectors, srcs, strict=True)], replace
        )

    def remove(self, name: str) -> bool:
        """Delete a person with their embeddings, events and alerts. Returns whether they were enrolled."""
        return self.store.remove(name)

    def people(self) -> list[Person]:
        """Everyone enrolled, by name, with their number of embeddings."""
        return self.store.persons()

    def __len__(self) -> int:
        return len(self.store.persons())

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.store.persons())

    def export(self) -> dict[str, Any]:
        """The gallery as a JSON-ready dict: model, threshold and each person's embeddings (no images)."""
        names, owner, matrix = self.store.vectors(self.model)
        people = [{"name": n, "embeddings": matrix[owner == i].round(6).tolist()} for i, n in enumerate(names)]
        return {"model": self.model, "threshold": self.threshold, "people": people}

    def import_(self, data: dict[str, Any], *, replace: bool = False) -> int:
        """Enrol everyone in an :meth:`export` dict made with the same model. Returns the number of people."""
        if data.get("model") != self.model:
            raise GalleryError(f"the export was made with {data.get('model')!r}, this gallery uses {self.model!r}")
        for p in data.get("people", []):
            self.enroll_embeddings(p["name"], np.asarray(p["embeddings"], np.float32), replace=replace)
        return len(data.get("people", []))

    # --- matching -----------------------------------------------------------------------------------------

    def _vectors(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        rev = self.store.revision()
        if self._cache is None or self._cache[0] != rev:
            names, owner, matrix = self.store.vectors(self.model)
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
            self._cache = (rev, names, starts, np.ascontiguousarray(matrix, np.float32))
        return self._cache[1], self._cache[2], self._cache[3]

    def match(self, embeddings: np.ndarray, top_k: int = 3) -> list[Match]:
        """Match embeddings ``[N, dim]`` against everyone enrolled: one :class:`Match` per row."""
        embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
        names, starts, matrix = self._vectors()
        if not names:
            return [Match(None, float("nan"), self.threshold) for _ in embeddings]
        if len(embeddings) <= 4:
            # A few faces: NumPy's own single-threaded loop. A multi-threaded BLAS call is faster on an idle
            # machine but can stall for a scheduler slice (10+ ms) when the cores are busy, as on a camera box.
            sims = np.einsum("rd,nd->nr", matrix, embeddings)  # [N, rows]
        else:
            sims = embeddings @ matrix.T
        per_person = np.maximum.reduceat(sims, starts, axis=1)  # best embedding of each person
        k = min(top_k, len(names))
        out = []
        for row in per_person:
            top = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            top = top[np.argsort(-row[top])]
            best = float(row[top[0]])
            cands = tuple((names[j], float(row[j])) for j in top)
            out.append(Match(names[top[0]] if best >= self.threshold else None, best, self.threshold, cands))
        return out

    def identify(self, image: ImageInput, *, color_order: str | None = None) -> list[tuple[Detection, Match]]:
        """Every face in an image with who it is (``unknown`` below the threshold)."""
        rgb = load_image(image, color_order=color_order or ("rgb" if isinstance(image, np.ndarray) else None)).rgb
        dets = find_faces(self.stages, rgb)
        if not dets:
            return []
        matches = self.match(self.embedder.embed(rgb, dets))
        return list(zip(dets, matches, strict=True))

    def verify(self, a: ImageInput, b: ImageInput) -> Verification:
        """Whether the main faces of two photos are one person (each photo's largest face)."""
        ea = self.embedder.embed_crops(self._enrol_crop(a, str(a))[None])[0]
        eb = self.embedder.embed_crops(self._enrol_crop(b, str(b))[None])[0]
        score = float(ea @ eb)
        return Verification(score >= self.threshold, score, self.threshold)

    def embedding(self, image: ImageInput, *, pick: str = "largest", source: str | None = None) -> np.ndarray:
        """The embedding of one face of a photo: the ``largest`` or the one nearest the ``center``."""
        return self.embedder.embed_crops(self._enrol_crop(image, source or str(image), pick=pick)[None])[0]

    # --- events -------------------------------------------------------------------------------------------

    def events(self, query: EventQuery | None = None, *, alerts: bool = False) -> list[dict[str, Any]]:
        """Logged events (or alerts) matching ``query``, oldest first."""
        return self.store.events(query or EventQuery(), table="alerts" if alerts else "events")

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ------------------------------------------------------------------------------------------

    def _enrol_crop(self, image: ImageInput, source: str, pick: str = "largest") -> np.ndarray:
        rgb = _load_rgb(image, source)
        dets = find_faces(self.stages, rgb)
        if not dets:
            raise ImageError("no face found", source)
        if pick == "center":
            h, w = rgb.shape[:2]
            det = min(dets, key=lambda d: np.hypot((d.box.x1 + d.box.x2 - w) / 2, (d.box.y1 + d.box.y2 - h) / 2))
        else:
            dets = sorted(dets, key=lambda d: d.box.area, reverse=True)
            if len(dets) > 1 and dets[1].box.area > 0.5 * dets[0].box.area:
                raise ImageError(f"{len(dets)} faces of similar size; use a photo of one person", source)
            det = dets[0]
        return self.embedder.crop(rgb, det)

    # ``gallery.list()`` reads naturally; defined last so it shadows the builtin in no annotation of this class
    list = people


def find_faces(finder: FaceFinder, rgb: np.ndarray) -> list[Detection]:
    """Faces in an image; a small image whose face fills the frame (a passport-style crop, ORL's 92x112
    portraits) is retried padded and enlarged, because detectors need some context around a face."""
    dets = finder.detect(rgb)
    h, w = rgb.shape[:2]
    if dets or max(h, w) > 400:
        return dets
    pad = max(h, w) // 2
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scale = 2.0
    big = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    out = []
    for d in finder.detect(big):
        out.append(_unmap(d, scale, pad))
    return out


def _unmap(d: Detection, scale: float, pad: int) -> Detection:
    from dataclasses import replace

    b = d.box
    box = Box(b.x1 / scale - pad, b.y1 / scale - pad, b.x2 / scale - pad, b.y2 / scale - pad)
    lm = d.landmarks
    if lm is not None:
        pts = tuple((x / scale - pad, y / scale - pad) for x, y in lm.points)
        lm = replace(lm, points=pts)
    return replace(d, box=box, landmarks=lm)


def _load_rgb(image: ImageInput, source: str) -> np.ndarray:
    """Pixels of a path, bytes, PIL image or RGB array (arrays given to a gallery are read as RGB)."""
    is_path = isinstance(image, str | os.PathLike)
    order = "rgb" if isinstance(image, np.ndarray) else None
    return load_image(image, color_order=order, source=source if is_path else None).rgb


def load_export(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise GalleryError(f"cannot read the gallery export ({e})", str(path)) from None
