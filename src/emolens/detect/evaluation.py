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
