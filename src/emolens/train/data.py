"""Training data: FER2013 npz files (with FER+ votes), the Kaggle csv, and class-named image folders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import DataError
from emolens.ferplus import ferplus_distribution, ferplus_plurality


@dataclass
class FaceSet:
    """Grey face crops ``x`` (uint8 [N, H, W]), hard labels ``y`` and optional soft labels ``soft`` ([N, C])."""

    x: np.ndarray
    y: np.ndarray
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> FaceSet:
        return FaceSet(self.x[idx], self.y[idx], None if self.soft is None else self.soft[idx])


def load_npz(path: str | Path, labels: str = "fer2013", ferplus_soft: float = 0.0) -> FaceSet:
    """Load an npz with ``x`` and ``y`` (and ``ferplus_votes`` for ``labels='ferplus'``).

    ``ferplus_soft`` (7-class labels only): where the file has FER+ votes, the soft target is that share of the
    votes' distribution over the seven FER2013 emotions and the rest the row's own label."""
    with np.load(path) as d:
        x = d["x"]
        if x.ndim == 4:
            x = (x[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
        if labels == "fer2013" and ferplus_soft > 0 and "ferplus_votes" in d:
            y = d["y"].astype(np.int64)
            dist = ferplus_distribution(d["ferplus_votes"])[:, :7].astype(np.float64)
            total = dist.sum(1, keepdims=True)
            has = total[:, 0] > 0
            dist = np.divide(dist, total, out=np.zeros_like(dist), where=total > 0)
            hard = np.eye(7)[y]
            w = np.where(has, ferplus_soft, 0.0)[:, None]
            return FaceSet(x, y, ((1 - w) * hard + w * dist).astype(np.float32))
        if labels == "ferplus":
            votes = d["ferplus_votes"]
            y = ferplus_plurality(votes)  # the rows `emolens evaluate --labels ferplus-all` scores
            keep = y >= 0
            return FaceSet(x[keep], y[keep], ferplus_distribution(votes)[keep])
        return FaceSet(x, d["y"].astype(np.int64))


def load_kaggle_csv(path: str | Path, usage: str = "Training") -> FaceSet:
    """Load the Kaggle ``fer2013.csv`` (emotion, pixels, Usage) rows of one ``Usage``."""
    import csv

    xs: list[np.ndarray] = []
    ys: list[int] = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Usage", usage) != usage:
                continue
            xs.append(np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48))
            ys.append(int(row["emotion"]))
    if not xs:
        raise DataError(f"no rows with Usage {usage!r}", str(path))
    return FaceSet(np.stack(xs), np.array(ys, dtype=np.int64))


def load_folder(root: str | Path, classes: list[str], size: int = 48, detector: str | None = None) -> FaceSet:
    """Load a ``class_name/*.jpg`` tree; folder names must be in ``classes`` (case-insensitive).

    Without ``detector`` the images are taken as face crops and resized. With one (``"retinaface"``,
    ``"blazeface"``), each image is a photo: its largest face is found and aligned onto the FER2013 template,
    as `emolens analyze` aligns faces, and images with no face are left out.
    """
    import cv2

    to_face = _face_aligner(detector, size) if detector else None
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for sub in sorted(Path(root).iterdir()):
        if not sub.is_dir():
            continue
        if sub.name.lower() not in lookup:
            raise DataError(f"folder name is not a class ({', '.join(classes)})", str(sub))
        for f in sorted(sub.rglob("*")):
            if f.suffix.lower() not in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}:
                continue
            if to_face is not None:
                img = to_face(f)
            else:
                img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                img = None if img is None else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            if img is None:  # unreadable or faceless files are left out; the run's data.json counts what was used
                continue
            xs.append(img)
            ys.append(lookup[sub.name.lower()])
    if not xs:
        raise DataError(f"no readable images in class folders ({', '.join(classes)})", str(root))
    return FaceSet(np.stack(xs), np.array(ys, dtype=np.int64))


def _face_aligner(detector: str, size: int) -> Callable[[Path], np.ndarray | None]:
    """``path -> aligned grey face`` (the largest face in the photo), or None when it has no face or is
    unreadable."""
    from emolens.align import FER2013_TEMPLATE, align
    from emolens.errors import EmolensError
    from emolens.io.images import load_image
    from emolens.registry import build_detector as create

    det = create(detector)

    def to_face(path: Path) -> np.ndarray | None:
        try:
            rgb = load_image(path).rgb
        except EmolensError:
            return None
        faces = det.detect(rgb)
        if not faces:
            return None
        face = max(faces, key=lambda d: d.box.area)
        return align(rgb, face.landmarks, face.box, FER2013_TEMPLATE, size, grey=True)

    return to_face


def split_usage(spec: str | Path) -> tuple[Path, str]:
    """``.../fer2013.csv:PublicTest`` → (the csv's path, ``PublicTest``); any other spec → (its path, ``Training``)."""
    head, sep, usage = str(spec).rpartition(".csv:")
    return (Path(head + ".csv"), usage) if sep else (Path(spec), "Training")


def load_dataset(
    spec: str | Path, labels: str = "fer2013", detector: str | None = None, ferplus_soft: float = 0.0
) -> FaceSet:
    """The data set a training config names.

    - ``*.npz`` in the FER2013 layout (``x``, ``y``, and ``ferplus_votes`` for ``labels='ferplus'``);
    - the Kaggle ``fer2013.csv``: ``.../fer2013.csv`` is its Training rows, ``.../fer2013.csv:PublicTest`` (or
      ``:PrivateTest``) another ``Usage``;
    - a folder of ``class_name/*.jpg`` face crops, class names from the label set (FER2013's seven, plus
      ``contempt`` for ``labels='ferplus'``): face crops used as they are, or, with ``detector``, photos whose
      largest face is detected and aligned;
    - ``.../SOURCE.npz:SPLIT``: one split (train, val, dev) of a source cached by ``train/sources.py``.
    """
    from emolens.labels import labels_for

    head, sep, split = str(spec).rpartition(".npz:")
    if sep:  # one split of a cached source (train/sources.py)
        from emolens.train.sources import load_split

        if labels != "fer2013":
            raise DataError("a cached source's split has FER2013's seven labels only", str(spec))
        if not Path(head + ".npz").exists():
            raise DataError("no such cached source (research/cache_faces_extra.py builds it)", head + ".npz")
        x, y = load_split(head + ".npz", split)
        if not len(y):
            raise DataError(f"no faces in split {split!r}", head + ".npz")
        return FaceSet(x, y)
    path, usage = split_usage(spec)
    if path.is_dir():
        return load_folder(path, list(labels_for(8 if labels == "ferplus" else 7)), detector=detector)
    if not path.exists():
        raise DataError("no such data set", str(path))
    if path.suffix.lower() == ".csv":
        if labels == "ferplus":
            raise DataError("FER+ labels need an npz with ferplus_votes (the Kaggle csv has none)", str(path))
        return load_kaggle_csv(path, usage)
    return load_npz(path, labels, ferplus_soft)
