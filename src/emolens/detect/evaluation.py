"""Scoring a detector against hand-drawn boxes: Pascal VOC files and greedy IoU matching."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.detect.common import iou_matrix
from emolens.errors import DataError
from emolens.types import Detection


@dataclass(frozen=True)
class VocBoxes:
    """The boxes of one Pascal VOC file."""

    image: str
    width: int
    height: int
    boxes: np.ndarray  #: ``[N, 4]`` x1, y1, x2, y2 in pixels
    difficult: np.ndarray  #: ``[N]`` bool

    @property
    def sizes(self) -> np.ndarray:
        """``max(w, h)`` of each box, in pixels."""
        return np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])


def read_voc(path: str | Path, name: str = "face") -> VocBoxes:
    """Read the ``<object>`` boxes named ``name`` from a Pascal VOC annotation file.

    Parameters
    ----------
    path
        The ``.xml`` file.
    name
        Object class to read.

    Returns
    -------
    VocBoxes

    Raises
    ------
    DataError
        If the file is missing or not a VOC annotation.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        width = int(size.findtext("width"))  # type: ignore[union-attr, arg-type]
        height = int(size.findtext("height"))  # type: ignore[union-attr, arg-type]
        boxes, difficult = [], []
        for obj in root.iter("object"):
            if obj.findtext("name") != name:
                continue
            bb = obj.find("bndbox")
            boxes.append([float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])  # type: ignore[union-attr, arg-type]
            difficult.append(obj.findtext("difficult", "0").strip() == "1")
        image = root.findtext("filename") or path.with_suffix(".jpg").name
    except FileNotFoundError:
        raise DataError("annotation file not found", str(path)) from None
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        raise DataError(f"not a Pascal VOC annotation ({e})", str(path)) from None
    return VocBoxes(image, width, height, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(difficult, bool))


def match(detections: list[Detection], truth: np.ndarray, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching as in Pascal VOC: by falling score, each detection takes the free true box it overlaps most.

    Parameters
    ----------
    detections
        The detector's output for one image.
    truth
        ``[M, 4]`` true boxes.
    iou_threshold
        Least IoU for a match.

    Returns
    -------
    tuple of numpy.ndarray
        ``found [M]`` (bool: the true box was matched) and ``true_positive [N]`` (bool: the detection
        matched a true box), with detections in the order given.
    """
    pred = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in detections], np.float64).reshape(-1, 4)
    ious = iou_matrix(pred, truth)
    found = np.zeros(len(truth), bool)
    tp = np.zeros(len(pred), bool)
    for i in np.argsort([-d.score for d in detections], kind="stable"):
        cand = np.where(found, -1.0, ious[i])
        if cand.size and cand.max() >= iou_threshold:
            found[int(cand.argmax())] = True
            tp[i] = True
    return found, tp


@dataclass(frozen=True)
class FaceCrop:
    """One labelled face photo of a ``faces_extra`` set: its file and, where the set gives it, the face box."""

    path: Path
    box: np.ndarray | None  #: ``[4]`` x1, y1, x2, y2 in pixels, or None (the photo is the face)


def read_faces_extra(folder: str | Path, split: str = "dev") -> list[FaceCrop]:
    """The photos of one ``faces_extra`` set (``expw``, ``sfew`` or ``taiwanese``) in ``split``, in file order.

    Each photo holds one labelled face; ExpW's ``labels.csv`` also gives that face's box inside the crop.

    Raises
    ------
    DataError
        If ``labels.csv`` is missing or lacks the ``file`` and ``split`` columns.
    """
    import csv

    folder = Path(folder)
    try:
        with (folder / "labels.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DataError("labels.csv not found", str(folder)) from None
    if rows and not {"file", "split"} <= set(rows[0]):
        raise DataError("labels.csv has no file and split columns", str(folder))
    images = folder / "images" if (folder / "images").is_dir() else folder
    out = []
    for r in rows:
        if r["split"] != split:
            continue
        box = None
        if all(r.get(k) not in (None, "") for k in ("x1", "y1", "x2", "y2")):
            box = np.array([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
        out.append(FaceCrop(images / r["file"], box))
    return sorted(out, key=lambda c: c.path.name)


def face_found(detections: list[Detection], crop: FaceCrop, iou_threshold: float = 0.5) -> bool:
    """Whether a detector found the labelled face of a ``faces_extra`` photo.

    With a labelled box (ExpW) the face is found when a detection overlaps it with IoU >= ``iou_threshold``;
    without one (the photo is a tight crop of the face) when anything is detected.
    """
    if crop.box is None:
        return bool(detections)
    found, _ = match(detections, crop.box.reshape(1, 4), iou_threshold)
    return bool(found[0])
