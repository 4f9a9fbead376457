"""Training data: FER2013 npz files (with FER+ votes), the Kaggle csv, and class-named image folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import DataError
from emolens.ferplus import ferplus_distribution


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


def load_npz(path: str | Path, labels: str = "fer2013") -> FaceSet:
    """Load an npz with ``x`` and ``y`` (and ``ferplus_votes`` for ``labels='ferplus'``)."""
    with np.load(path) as d:
        x = d["x"]
        if x.ndim == 4:
            x = (x[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
        if labels == "ferplus":
            soft = ferplus_distribution(d["ferplus_votes"])
            keep = soft.sum(1) > 0
            return FaceSet(x[keep], soft[keep].argmax(1), soft[keep])
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


def load_folder(root: str | Path, classes: list[str], size: int = 48) -> FaceSet:
    """Load a ``class_name/*.jpg`` tree; folder names must be in ``classes`` (case-insensitive)."""
    import cv2

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
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:  # unreadable files are left out; data.json in the run folder counts what was used
                continue
            xs.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
            ys.append(lookup[sub.name.lower()])
    if not xs:
        raise DataError(f"no readable images in class folders ({', '.join(classes)})", str(root))
    return FaceSet(np.stack(xs), np.array(ys, dtype=np.int64))


def split_usage(spec: str | Path) -> tuple[Path, str]:
    """``.../fer2013.csv:PublicTest`` → (the csv's path, ``PublicTest``); any other spec → (its path, ``Training``)."""
    head, sep, usage = str(spec).rpartition(".csv:")
    return (Path(head + ".csv"), usage) if sep else (Path(spec), "Training")


def load_dataset(spec: str | Path, labels: str = "fer2013") -> FaceSet:
    """The data set a training config names.

    - ``*.npz`` in the FER2013 layout (``x``, ``y``, and ``ferplus_votes`` for ``labels='ferplus'``);
    - the Kaggle ``fer2013.csv``: ``.../fer2013.csv`` is its Training rows, ``.../fer2013.csv:PublicTest`` (or
      ``:PrivateTest``) another ``Usage``;
    - a folder of ``class_name/*.jpg`` face crops, class names from the label set (FER2013's seven, plus
      ``contempt`` for ``labels='ferplus'``); the crops are used as they are (no detection or alignment).
    """
    from emolens.labels import labels_for

    path, usage = split_usage(spec)
    if path.is_dir():
        return load_folder(path, list(labels_for(8 if labels == "ferplus" else 7)))
    if not path.exists():
        raise DataError("no such data set", str(path))
    if path.suffix.lower() == ".csv":
        if labels == "ferplus":
            raise DataError("FER+ labels need an npz with ferplus_votes (the Kaggle csv has none)", str(path))
        return load_kaggle_csv(path, usage)
    return load_npz(path, labels)
