"""Faces from other sources than FER2013 (``faces_extra``: ExpW, SFEW, Taiwanese), put through the path a photo takes
at inference (detect the largest face, align it onto the model's template) once, and cached as npz.

Each source's ``train`` split is cut again into ``train`` and ``val`` (held out for model selection) by group, so
that one photo (ExpW), one film (SFEW) or one performer (Taiwanese) never falls on both sides; the ``dev`` split
is kept as it is, for reporting only.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from emolens.errors import DataError
from emolens.labels import FER2013

SOURCES = ("expw", "sfew", "taiwanese")
#: How a manifest names each source it was trained on.
SOURCE_NAMES = {"expw": "ExpW", "sfew": "SFEW 2.0", "taiwanese": "the Taiwanese posed-expression set"}
#: Share of each source's ``train`` split held out (by group) for validation.
VAL_SHARE = 0.2
#: How much a tight crop is padded (each side, as a fraction of its size) when no face is found in it as it is.
PAD = 0.3


def _group(source: str, row: dict) -> str:
    """The unit a source is split by: the photo (ExpW), the film (SFEW), the performer (Taiwanese)."""
    if source == "expw":
        return row["source_image"]
    if source == "sfew":
        return Path(row["source"]).name.split("_")[0]
    return row["performer"]


def _in_val(group: str) -> bool:
    h = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16)
    return (h % 1000) < VAL_SHARE * 1000


def read_labels(root: str | Path, source: str) -> list[dict]:
    """Rows of ``root/source/labels.csv`` with ``split`` recut: ``train``/``val`` out of the train split, ``dev``."""
    path = Path(root) / source / "labels.csv"
    if not path.exists():
        raise DataError("no labels.csv", str(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r["split"] == "train" and _in_val(_group(source, r)):
            r["split"] = "val"
        r["path"] = str(Path(root) / source / "images" / r["file"])
    return rows


def cache_key(detector: str, template: Sequence[Sequence[float]], size: int) -> str:
    t = json.dumps([[round(float(v), 4) for v in p] for p in template])
    return f"{detector}-{size}-{hashlib.sha1(t.encode()).hexdigest()[:8]}"


def aligned_source(
    root: str | Path,
    source: str,
    cache_dir: str | Path,
    detector: str = "retinaface",
    template: Sequence[Sequence[float]] | None = None,
    size: int = 48,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """The npz of one source's aligned faces, built on first use: ``x`` grey ``[N,S,S]``, ``xc`` RGB ``[N,S,S,3]``,
    ``y``, ``split`` (train/val/dev), ``found`` (a face was found), ``padded`` (found only after padding), ``files``.

    Faces are found as ``emolens evaluate --input photos`` finds them (the largest face the detector returns,
    aligned by its landmarks). Training and validation rows where no face is found are retried on the image padded
    by ``PAD`` on each side (tight crops such as SFEW's); ``dev`` rows are never padded, so the cache gives what
    the evaluation path sees."""
    import cv2

    from emolens.align import FER2013_TEMPLATE, align
    from emolens.errors import EmolensError
    from emolens.io.images import load_image
    from emolens.registry import build_detector as create

    template = FER2013_TEMPLATE if template is None else template
    out = Path(cache_dir) / cache_key(detector, template, size) / f"{source}.npz"
    if out.exists():
        return out
    rows = read_labels(root, source)
    det = create(detector, threads=1)
    lookup = {c: i for i, c in enumerate(FER2013)}
    n = len(rows)
    x = np.zeros((n, size, size), np.uint8)
    xc = np.zeros((n, size, size, 3), np.uint8)
    found = np.zeros(n, bool)
    padded = np.zeros(n, bool)
    for i, r in enumerate(rows):
        try:
            rgb = load_image(r["path"]).rgb
        except EmolensError:
            rgb = None
        if rgb is not None:
            faces = det.detect(rgb)
            if not faces and r["split"] != "dev":
                p = round(PAD * max(rgb.shape[:2]))
                rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
                faces = det.detect(rgb)
                padded[i] = bool(faces)
            if faces:
                face = max(faces, key=lambda d: d.box.area)
                x[i] = align(rgb, face.landmarks, face.box, template, size, grey=True)
                xc[i] = align(rgb, face.landmarks, face.box, template, size, grey=False)
                found[i] = True
        if on_progress:
            on_progress(i + 1, n)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        x=x,
        xc=xc,
        y=np.array([lookup[r["label"]] for r in rows], np.int64),
        split=np.array([r["split"] for r in rows]),
        found=found,
        padded=padded,
        files=np.array([r["file"] for r in rows]),
    )
    tmp.replace(out)
    return out


def load_split(path: str | Path, split: str, colour: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The found faces of one split of a cached source: ``x`` and ``y``."""
    with np.load(path) as d:
        keep = (d["split"] == split) & d["found"]
        return (d["xc"] if colour else d["x"])[keep], d["y"][keep]


def extra_data_note(extra_train: Sequence[str]) -> str:
    """What a manifest's data note adds for the training sets beside FER2013 (``extra_train`` specs): the cached
    `faces_extra` sources by name, with their licence caveat, and any other set by its path."""
    known = [SOURCE_NAMES[Path(spec.rpartition(".npz:")[0]).name] for spec in extra_train if _cached(spec)]
    other = [spec for spec in extra_train if not _cached(spec)]
    parts = []
    if known:
        names = known[0] if len(known) == 1 else ", ".join(known[:-1]) + " and " + known[-1]
        parts.append(
            f" Also trained on the train split{'s' if len(known) > 1 else ''} of {names} (research data"
            " sets redistributed without a licence: research and testing only)."
        )
    if other:
        parts.append(f" Also trained on {', '.join(other)}.")
    return "".join(parts)


def _cached(spec: str) -> bool:
    """Whether a training-set spec is a cached `faces_extra` source's split (``.../expw.npz:train``)."""
    head, sep, _ = spec.rpartition(".npz:")
    return bool(sep) and Path(head).name in SOURCE_NAMES
