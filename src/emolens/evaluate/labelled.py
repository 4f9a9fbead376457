"""Labelled image sets as users hold them: a folder tree (``DIR/<label>/*.jpg``) or a CSV of ``file,label`` (with an
optional face box ``x1,y1,x2,y2`` and an optional ``split`` column), scored through the path a photo takes."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import DataError, EmolensError
from emolens.metrics import Report, classification_report
from emolens.types import Box, Detection

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".tif", ".tiff"}


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str
    box: Box | None = None


def read_folder(root: str | Path) -> list[LabelledImage]:
    """``root/<label>/*`` images (sub-folders of a label folder included), labels lower-cased, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("not a folder", str(root))
    items = [
        LabelledImage(f, sub.name.lower())
        for sub in sorted(p for p in root.iterdir() if p.is_dir())
        for f in sorted(sub.rglob("*"))
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise DataError("no images in label folders (expected DIR/<label>/*.jpg)", str(root))
    return items


def read_csv(path: str | Path, split: str | None = None) -> list[LabelledImage]:
    """Rows of a CSV with columns ``file`` and ``label``, and optionally ``x1,y1,x2,y2`` (the labelled face's box
    in the image, pixels) and ``split`` (rows of another split than ``split`` are left out when it is given).

    ``file`` is relative to the CSV's folder, or to an ``images/`` folder beside it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", str(path))
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or ())
        if not {"file", "label"} <= cols:
            raise DataError(f"needs columns 'file' and 'label' (found {', '.join(sorted(cols))})", str(path))
        if split is not None and "split" not in cols:
            raise DataError("has no 'split' column to choose rows by", str(path))
        has_box = {"x1", "y1", "x2", "y2"} <= cols
        items = []
        for row in reader:
            if split is not None and row["split"] != split:
                continue
            f_ = Path(row["file"])
            if not f_.is_absolute():
                f_ = path.parent / f_ if (path.parent / f_).exists() else path.parent / "images" / f_
            box = None
            if has_box and all(row[k] not in ("", None) for k in ("x1", "y1", "x2", "y2")):
                box = Box(*(float(row[k]) for k in ("x1", "y1", "x2", "y2")))
            items.append(LabelledImage(f_, row["label"].strip().lower(), box))
    if not items:
        raise DataError("no rows" + (f" in split {split!r}" if split else ""), str(path))
    return items


def read_labelled(spec: str | Path, split: str | None = None) -> list[LabelledImage]:
    """A folder tree or a CSV (see :func:`read_folder`, :func:`read_csv`)."""
    p = Path(spec)
    if p.is_dir():
        if split is not None:
            raise DataError("--split applies to a CSV with a split column, not a folder", str(p))
        return read_folder(p)
    if p.suffix.lower() == ".csv":
        return read_csv(p, split)
    raise DataError("expected a folder of label folders, a .csv or an .npz", str(p))


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def pick_face(dets: Sequence[Detection], box: Box | None) -> Detection | None:
    """The labelled face among the detections: the one overlapping ``box`` most (IoU ≥ 0.3), or without a box the
    largest; with a box and no overlapping detection, the box itself (aligned without landmarks)."""
    if box is None:
        return max(dets, key=lambda d: d.box.area) if dets else None
    best = max(dets, key=lambda d: _iou(d.box, box), default=None)
    if best is not None and _iou(best.box, box) >= 0.3:
        return best
    return Detection(box=box, score=0.0, landmarks=None)


def class_indices(items: Iterable[LabelledImage], classes: Sequence[str], where: str) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted({it.label for it in items} - set(lookup))
    if unknown:
        raise DataError(f"labels not among the model's classes ({', '.join(classes)}): {', '.join(unknown)}", where)
    return np.array([lookup[it.label] for it in items], dtype=np.int64)


def detections_for(
    analyzer, items: Sequence[LabelledImage], on_progress: Callable[[int], None] | None = None
) -> list[tuple[np.ndarray | None, Detection | None]]:
    """Each item's RGB image and labelled face (None where the image is unreadable or no face was found)."""
    from emolens.io.images import load_image

    out: list[tuple[np.ndarray | None, Detection | None]] = []
    for it in items:
        try:
            rgb = load_image(it.path).rgb
        except EmolensError:
            out.append((None, None))
        else:
            out.append((rgb, pick_face(analyzer.detect(rgb), it.box)))
        if on_progress:
            on_progress(1)
    return out


def evaluate_images(
    analyzer,
    items: Sequence[LabelledImage],
    input_kind: str = "auto",
    source: str = "",
    on_progress: Callable[[int], None] | None = None,
    found: list[tuple[np.ndarray | None, Detection | None]] | None = None,
) -> tuple[Report, np.ndarray]:
    """Score ``analyzer``'s emotion model on labelled images; returns the report and the probabilities (NaN rows
    where no face was found or the image could not be read: counted as errors).

    ``input_kind``: ``photos`` (detect, pick the labelled face, align), ``crops`` (each image is a face crop) or
    ``auto`` (crops when the first image is at most 64 px on a side). ``found`` reuses the detections of
    :func:`detections_for` (the same detector) for another model."""
    from emolens.io.images import load_image

    model = analyzer.emotion
    y = class_indices(items, model.labels, source)
    if input_kind == "auto":
        first = load_image(items[0].path).rgb
        input_kind = "crops" if max(first.shape[:2]) <= 64 else "photos"
    probs = np.full((len(items), len(model.labels)), np.nan, dtype=np.float32)
    t0 = time.perf_counter()
    if input_kind == "crops":
        for i, it in enumerate(items):
            try:
                probs[i] = model.predict(load_image(it.path).rgb[None])[0]
            except EmolensError:
                pass
            if on_progress:
                on_progress(1)
    else:
        if found is None:
            found = detections_for(analyzer, items, on_progress)
        for i, (rgb, det) in enumerate(found):
            if det is not None:
                probs[i] = model.predict(model.crop(rgb, det)[None])[0]
    ms = (time.perf_counter() - t0) * 1000 / max(len(items), 1)
    from emolens.evaluate.runner import top_labels

    pred = top_labels(probs)
    ok = pred >= 0
    report = classification_report(y, pred, model.labels, probs=np.where(ok[:, None], probs, 0))
    report.extra.update(
        {"model": model.name, "input": input_kind, "tta": model.tta, "ms_per_face": round(ms, 3), "file": source}
    )
    return report, probs
