"""Readers for the text emotion datasets in the shared data folder (``EMOLENS_DATA`` or ``../shared/datasets``).

Each returns the texts and their labels in the source's own label set, in file order; the splits are the
official ones. Standard library only.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from emolens.datasets import data_root
from emolens.errors import DataError
from emolens.labels import FER2013, GOEMOTIONS_EKMAN_TO_FACE

#: Dataset name -> its splits (train, validation, test) as named in the files.
SPLITS: dict[str, tuple[str, str, str]] = {
    "goemotions": ("train", "dev", "test"),
    "dair": ("train", "val", "test"),
    "smp": ("train", "eval", "test"),
}


def _folder(name: str) -> Path:
    p = data_root() / "text" / name
    if not p.is_dir():
        raise DataError("text dataset folder is missing", str(p))
    return p


def _check_split(dataset: str, split: str) -> None:
    if split not in SPLITS[dataset]:
        raise DataError(f"{dataset} has no split {split!r} (splits: {', '.join(SPLITS[dataset])})")


def goemotions_face_map() -> dict[str, str]:
    """Each of GoEmotions' 28 labels -> its face label via the official Ekman grouping (neutral -> neutral)."""
    folder = _folder("goemotions")
    groups = json.loads((folder / "ekman_mapping.json").read_text(encoding="utf-8"))
    out = {"neutral": "neutral"}
    for group, members in groups.items():
        for m in members:
            out[m] = GOEMOTIONS_EKMAN_TO_FACE[group]
    return out


def load_goemotions(split: str) -> tuple[list[str], list[tuple[str, ...]]]:
    """GoEmotions (simplified, multi-label): texts and, per text, its label names (of 28)."""
    _check_split("goemotions", split)
    folder = _folder("goemotions")
    names = (folder / "emotions.txt").read_text(encoding="utf-8").split("\n")
    path = folder / f"{split}.tsv"
    texts, labels = [], []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t"):
                texts.append(row[0])
                labels.append(tuple(names[int(i)] for i in row[1].split(",")))
    except (OSError, IndexError, ValueError) as e:
        raise DataError(f"cannot read GoEmotions ({e})", str(path)) from None
    return texts, labels


def goemotions_face_targets(labels: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Per text, the sorted set of face labels its GoEmotions labels fall in (FER2013 order)."""
    m = goemotions_face_map()
    return [tuple(f for f in FER2013 if f in {m[x] for x in ls}) for ls in labels]


def load_dair(split: str) -> tuple[list[str], list[str]]:
    """dair-ai emotion: texts and their label (sadness, joy, love, anger, fear, surprise)."""
    _check_split("dair", split)
    path = _folder("dair_emotion") / f"{split}.txt"
    texts, labels = [], []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line:
                text, label = line.rsplit(";", 1)
                texts.append(text)
                labels.append(label)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read dair emotion ({e})", str(path)) from None
    return texts, labels


def load_smp(split: str, domain: str = "usual") -> tuple[list[str], list[str]]:
    """SMP2020-EWECT (``usual``: general posts; ``virus``: COVID-19): texts and labels, ``neural`` -> ``neutral``."""
    _check_split("smp", split)
    path = _folder("smp2020_ewect") / f"{domain}_{split}.jsonl.gz"
    texts, labels = [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                texts.append(row["text"])
                labels.append("neutral" if row["label"] == "neural" else row["label"])
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read SMP2020-EWECT ({e})", str(path)) from None
    return texts, labels
