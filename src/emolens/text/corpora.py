"""Every text corpus on the face labels, and the figures used to compare models across corpora.

Corpora: ``goemotions`` (English Reddit comments, multi-label), ``dair`` (English tweets), ``usual`` and
``virus`` (the two SMP2020-EWECT Weibo domains, Chinese). Each text's target is the set of face labels its labels
map onto (FER2013 order; dair: love and joy -> happy; SMP: neutral, happy, angry, sad, fear, surprise).

Leave-one-corpus-out figures (a model trained on one corpus of a language, tested on the other):

- ``dair`` test: accuracy of the argmax over all seven face labels (a neutral or disgust answer is wrong, as
  dair has neither), and macro-F1 over dair's five face labels;
- ``goemotions`` test, texts with one face label among the five dair has (angry, fear, happy, sad, surprise):
  argmax over those five; accuracy and macro-F1 over the five;
- ``usual`` / ``virus`` test: argmax over the six SMP labels; accuracy and macro-F1 over the six.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emolens.errors import ConfigError
from emolens.labels import DAIR_TO_FACE, FER2013, SMP2020
from emolens.text.data import goemotions_face_targets, load_dair, load_goemotions, load_smp
from emolens.text.evaluate import multilabel_f1

#: corpus -> (language, train, validation, test split names)
CORPORA: dict[str, tuple[str, str, str, str]] = {
    "goemotions": ("en", "train", "dev", "test"),
    "dair": ("en", "train", "val", "test"),
    "usual": ("zh", "train", "eval", "test"),
    "virus": ("zh", "train", "eval", "test"),
}
#: The face labels of dair-ai emotion (no disgust, no neutral): the labels English corpora share.
DAIR_FACE = ("angry", "fear", "happy", "sad", "surprise")


@dataclass(frozen=True)
class FaceCorpus:
    name: str
    split: str
    texts: list[str]
    targets: np.ndarray  # (texts, 7) bool, FER2013 order


def load_face_corpus(corpus: str, split: str) -> FaceCorpus:
    """A corpus split with every text's face labels."""
    if corpus not in CORPORA:
        raise ConfigError(f"unknown text corpus {corpus!r} (known: {', '.join(CORPORA)})")
    if split in ("train", "val", "test"):
        split = CORPORA[corpus][("train", "val", "test").index(split) + 1]
    if corpus == "goemotions":
        texts, labels = load_goemotions(split)
        faces = goemotions_face_targets(labels)
    elif corpus == "dair":
        texts, labs = load_dair(split)
        faces = [(DAIR_TO_FACE[lab],) for lab in labs]
    else:
        texts, labs = load_smp(split, corpus)
        faces = [(lab,) for lab in labs]
    y = np.array([[lab in f for lab in FER2013] for f in faces], dtype=bool)
    return FaceCorpus(corpus, split, texts, y)


def single_label_figures(
    probs: np.ndarray, targets: np.ndarray, among: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Accuracy and macro-F1 of the argmax on the texts with one face label (among ``among`` when given).

    With ``among``, only texts whose label is one of them count and the argmax is taken over them; otherwise the
    argmax is over all seven and macro-F1 over the labels present in the targets.
    """
    one = targets.sum(1) == 1
    cols = list(range(len(FER2013))) if among is None else [FER2013.index(c) for c in among]
    keep = one & targets[:, cols].any(1)
    y = targets[keep].argmax(1)
    pred = np.array(cols)[probs[keep][:, cols].argmax(1)]
    labels = [k for k in cols if (y == k).any()]
    f1 = {}
    for k in labels:
        tp = float(((pred == k) & (y == k)).sum())
        denom = float((pred == k).sum() + (y == k).sum())
        f1[FER2013[k]] = 2 * tp / denom if denom else 0.0
    return {
        "n": int(keep.sum()),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(np.mean(list(f1.values()))),
        "per_class_f1": {k: round(v, 4) for k, v in f1.items()},
        "predicted_share": {FER2013[k]: round(float((pred == k).mean()), 4) for k in cols},
    }


def corpus_figures(corpus: str, probs: np.ndarray, scores: np.ndarray | None, fc: FaceCorpus, thresholds=None) -> dict:
    """The figures of a model's outputs on a corpus split: the cross-corpus ones above, and for GoEmotions with a
    multi-label model (``scores`` and ``thresholds``) also the multi-label macro-F1 over the seven labels."""
    out: dict[str, Any] = {}
    if corpus == "dair":
        out["all_labels"] = single_label_figures(probs, fc.targets)
        out["common"] = single_label_figures(probs, fc.targets, DAIR_FACE)
    elif corpus == "goemotions":
        out["common"] = single_label_figures(probs, fc.targets, DAIR_FACE)
        out["all_labels"] = single_label_figures(probs, fc.targets)
        if scores is not None and thresholds is not None:
            out["multilabel_macro_f1"], per = multilabel_f1(fc.targets, scores >= np.asarray(thresholds))
            out["multilabel_per_class_f1"] = dict(zip(FER2013, (round(x, 4) for x in per), strict=True))
    else:
        out["common"] = single_label_figures(probs, fc.targets, SMP2020)
    return out
