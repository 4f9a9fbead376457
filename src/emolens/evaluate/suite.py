"""The cross-source suite: every labelled face set found in the data folder, scored for each model into one table
(accuracy, macro-F1, ECE, faces not found per set and model, and each model's mean over the sets).

Sets (each where its files exist): FER2013 PrivateTest (FER2013 labels, crops), FER+ majority on PrivateTest
(crops; for a 7-class model the rows whose majority is contempt are left out), the ``dev`` split of each
``faces_extra`` source (photos: detect, take the largest face, align, classify; the boxes in ExpW's CSV are not
used, so a face is found as a user's photo would be), and the expression grid photo (25 faces in one image,
each cell's single face).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.evaluate.labelled import LabelledImage, detections_for, evaluate_images, read_csv
from emolens.metrics import Report, classification_report

FACES_EXTRA = ("expw", "sfew", "taiwanese")


@dataclass
class SuiteSet:
    name: str
    kind: str  # npz, images or grid
    path: Path
    labels: str = "fer2013"  # npz label source
    items: list[LabelledImage] = field(default_factory=list)

    @property
    def size(self) -> int:
        if self.kind == "images":
            return len(self.items)
        if self.kind == "grid":
            return 1
        with np.load(self.path) as d:
            return len(d["x"])


def find_sets(root: str | Path, split: str = "dev") -> list[SuiteSet]:
    """The labelled sets under the data folder ``root`` that exist there."""
    root = Path(root)
    sets: list[SuiteSet] = []
    private = root / "fer2013" / "private_test.npz"
    if private.exists():
        sets.append(SuiteSet("FER2013 PrivateTest", "npz", private, "fer2013"))
        sets.append(SuiteSet("FER+ majority", "npz", private, "ferplus"))
    for source in FACES_EXTRA:
        csv_path = root / "faces_extra" / source / "labels.csv"
        if csv_path.exists():
            items = [LabelledImage(it.path, it.label) for it in read_csv(csv_path, split)]
            sets.append(SuiteSet(f"{source} {split}", "images", csv_path, items=items))
    grid = root / "photos" / "expression_grid.json"
    if grid.exists():
        sets.append(SuiteSet("expression grid", "grid", grid))
    return sets


def _npz_report(model, s: SuiteSet) -> Report:
    from emolens.evaluate.runner import load_labelled_npz, top_labels

    x, y = load_labelled_npz(s.path, s.labels)
    keep = y < len(model.labels)
    x, y = x[keep], y[keep]
    probs = np.concatenate([model.predict(x[i : i + 512]) for i in range(0, len(x), 512)])
    return classification_report(y, top_labels(probs), model.labels, probs=probs)


def _grid_report(analyzer, s: SuiteSet) -> Report:
    from emolens.evaluate.grid import match_cells

    meta = json.loads(s.path.read_text())
    result = analyzer.analyze(s.path.parent / meta["image"])
    pairs = match_cells(meta, result)
    classes = analyzer.emotion.labels
    y = np.array([classes.index(t) for t, _ in pairs])
    probs = np.full((len(pairs), len(classes)), np.nan, dtype=np.float32)
    for i, (_, face) in enumerate(pairs):
        if face is not None:
            probs[i] = face.emotions.probs
    from emolens.evaluate.runner import top_labels

    pred = top_labels(probs)
    return classification_report(y, pred, classes, probs=np.where((pred >= 0)[:, None], probs, 0))


def run_suite(
    models: list[str],
    root: str | Path,
    detector: str = "retinaface",
    threads: int = 0,
    sets: list[SuiteSet] | None = None,
    on_set: Callable[[str, str], None] | None = None,
    tta: bool = False,
) -> list[dict[str, Any]]:
    """One row per set and model (``set``, ``model``, ``n``, ``accuracy``, ``macro_f1``, ``ece``, ``no_face``), then
    one ``mean`` row per model. Faces are detected once per set and shared by the models; ``tta`` averages each
    face with its mirror image."""
    from emolens.analyzer import Analyzer

    sets = find_sets(root) if sets is None else sets
    analyzers = {m: Analyzer(detector, m, threads=threads, tta=tta) for m in models}
    first = analyzers[models[0]]
    rows: list[dict[str, Any]] = []
    for s in sets:
        found = detections_for(first, s.items) if s.kind == "images" else None
        for name, analyzer in analyzers.items():
            if on_set:
                on_set(s.name, name)
            if s.kind == "npz":
                r = _npz_report(analyzer.emotion, s)
            elif s.kind == "grid":
                r = _grid_report(analyzer, s)
            else:
                r, _ = evaluate_images(analyzer, s.items, "photos", str(s.path), found=found)
            rows.append(
                {
                    "set": s.name,
                    "model": name,
                    "n": r.n,
                    "accuracy": round(r.accuracy, 4),
                    "macro_f1": round(r.macro_f1, 4),
                    "ece": None if r.ece is None else round(r.ece, 4),
                    "no_face": r.errors,
                }
            )
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        rows.append(
            {
                "set": "mean",
                "model": name,
                "n": sum(r["n"] for r in mine),
                "accuracy": round(float(np.mean([r["accuracy"] for r in mine])), 4),
                "macro_f1": round(float(np.mean([r["macro_f1"] for r in mine])), 4),
                "ece": round(float(np.mean([r["ece"] for r in mine if r["ece"] is not None])), 4),
                "no_face": sum(r["no_face"] for r in mine),
            }
        )
    return rows
