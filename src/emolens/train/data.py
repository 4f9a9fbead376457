"""Training data: FER2013 npz files (with FER+ votes), the Kaggle csv, and class-named image folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
            raise ValueError(f"{sub}: folder name is not a class ({', '.join(classes)})")
        for f in sorted(sub.rglob("*")):
            if f.suffix.lower() not in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}:
                continue
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            xs.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
            ys.append(lookup[sub.name.lower()])
    return FaceSet(np.stack(xs), np.array(ys, dtype=np.int64))
