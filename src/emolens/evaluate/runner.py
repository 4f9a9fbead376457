"""Score an emotion model on a labelled npz: crops fed straight to the model, or photos through detection."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emolens.analyzer import Analyzer
from emolens.errors import DataError
from emolens.metrics import Report, classification_report

#: How the labels of an npz are read: its ``y`` (FER2013's 7 labels), or the FER+ majority or plurality of its votes.
LABEL_SOURCES = ("fer2013", "ferplus", "ferplus-all")


def load_labelled_npz(path: str | Path, labels: str = "fer2013") -> tuple[np.ndarray, np.ndarray]:
    """``x`` uint8 ``[N,H,W]`` or ``[N,H,W,3]`` and integer ``y`` from an npz, checked.

    ``labels='ferplus'`` takes ``y`` from the file's ``ferplus_votes`` under the FER+ majority protocol
    (:func:`emolens.ferplus.ferplus_majority`; 8 classes) and keeps only the rows that protocol keeps;
    ``'ferplus-all'`` takes each row's plurality emotion (:func:`emolens.ferplus.ferplus_plurality`) and keeps
    every row with an emotion vote.
    """
    from emolens.ferplus import ferplus_majority, ferplus_plurality

    if labels not in LABEL_SOURCES:
        raise DataError(f"unknown label source {labels!r}; use one of {', '.join(LABEL_SOURCES)}")
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", str(p))
    try:
        with np.load(p) as d:
            ferplus = labels.startswith("ferplus")
            need = ("x", "ferplus_votes") if ferplus else ("x", "y")
            if ferplus and "ferplus_votes" not in d and "x" in d and "y" in d:
                raise DataError(
                    "has no ferplus_votes for FER+ labels; to score its y (FER2013's seven labels) with an 8-class "
                    "model, pass --labels fer2013",
                    str(p),
                )
            if any(k not in d for k in need):
                raise DataError(f"needs arrays {' and '.join(map(repr, need))} (found {', '.join(d.files)})", str(p))
            if ferplus:
                votes = d["ferplus_votes"]
                y = ferplus_majority(votes) if labels == "ferplus" else ferplus_plurality(votes)
                keep = y >= 0
                x, y = d["x"][keep], y[keep]
            else:
                x, y = d["x"], d["y"]
    except (OSError, ValueError) as e:
        raise DataError(f"not a readable npz ({e})", str(p)) from None
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or len(x) != len(y):
        raise DataError(
            f"x must be uint8 [N,H,W] or [N,H,W,3] matching y (got {x.dtype} {x.shape}, y {y.shape})", str(p)
        )
    return x, y.astype(np.int64)


def top_labels(probs: np.ndarray) -> np.ndarray:
    """Each row's most likely class, or -1 where no face was found (a row of NaN)."""
    return np.where(np.isnan(probs).any(1), -1, np.nan_to_num(probs).argmax(1))


def evaluate_npz(
    analyzer: Analyzer,
    path: str | Path,
    input_kind: str = "auto",
    limit: int = 0,
    on_progress: Callable[[int], None] | None = None,
    labels: str = "fer2013",
) -> tuple[Report, np.ndarray]:
    """Evaluate ``analyzer``'s emotion model on a labelled npz; returns the report and the probabilities.

    ``input_kind``: ``crops`` (images are already face crops), ``photos`` (detect the largest face and
    align it first; images with no face found count as errors) or ``auto`` (crops when the images are
    at most 64 px on a side). ``labels``: see :func:`load_labelled_npz`.
    """
    x, y = load_labelled_npz(path, labels)
    if limit:
        x, y = x[:limit], y[:limit]
    if input_kind == "auto":
        input_kind = "crops" if max(x.shape[1:3]) <= 64 else "photos"
    model = analyzer.emotion
    k = len(model.labels)
    if y.max(initial=0) >= k:
        raise DataError(f"labels go up to {int(y.max())} but the model has {k} classes", str(path))
    probs = np.full((len(x), k), np.nan, dtype=np.float32)
    t0 = time.perf_counter()
    step = 256
    if input_kind == "crops":
        for i in range(0, len(x), step):
            probs[i : i + step] = model.predict(x[i : i + step])
            if on_progress:
                on_progress(min(step, len(x) - i))
    else:
        for i in range(len(x)):
            img = x[i] if x.ndim == 4 else np.repeat(x[i][..., None], 3, axis=2)
            dets = analyzer.detect(img)
            if dets:
                largest = max(dets, key=lambda d: d.box.area)
                probs[i] = model.predict(model.crop(img, largest)[None])[0]
            if on_progress:
                on_progress(1)
    ms_per_face = (time.perf_counter() - t0) * 1000 / max(len(x), 1)
    pred = top_labels(probs)
    found = pred >= 0
    report = classification_report(y, pred, model.labels, probs=np.where(found[:, None], probs, 0))
    report.extra.update(
        {
            "model": model.name,
            "input": input_kind,
            "tta": model.tta,
            "ms_per_face": round(ms_per_face, 3),
            "file": str(path),
            "label_source": labels,
        }
    )
    return report, probs
