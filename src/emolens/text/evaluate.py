"""Test-split figures of a text model on its dataset, computed with the shipped (NumPy) model.

- ``dair``: single-label, the six source classes (accuracy, macro-F1), and the same predictions on the face
  labels (love -> happy).
- ``smp``: single-label, six classes (macro-F1 over them is the SMP2020-EWECT measure), ``usual`` domain;
  ``smp-virus``: the same on the ``virus`` (COVID-19) domain.

A model whose own classes are the seven face labels (the multi-corpus models) is scored on a single-label
dataset after mapping the dataset's labels onto the face labels (dair: love and joy -> happy); accuracy is the
argmax of its seven probabilities, macro-F1 is over the face labels the dataset has.
- ``goemotions``: multi-label. The headline is **multi-label macro-F1 over the seven face labels** (six Ekman
  groups + neutral) on every test text: a label is predicted when its one-vs-rest score reaches the model's
  threshold (tuned on dev), and F1 is computed per label over all texts, then averaged. This is the measure of
  the GoEmotions paper's Ekman table (BERT-base: 0.64). Also given: single-label texts only (those whose labels
  fall in one face label: 4,968 of 5,427), the top label, accuracy/macro-F1/confusion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emolens.errors import ConfigError
from emolens.labels import DAIR_TO_FACE, FER2013, SMP2020_TO_FACE
from emolens.metrics import classification_report
from emolens.text.data import goemotions_face_targets, load_dair, load_goemotions, load_smp
from emolens.text.model import LinearTextModel

DATASETS = ("goemotions", "dair", "smp", "smp-virus")


def multilabel_f1(targets: np.ndarray, predicted: np.ndarray) -> tuple[float, list[float]]:
    """Macro-F1 over labels of 0/1 matrices (texts × labels): per-label F1 over all texts, averaged."""
    tp = (targets & predicted).sum(0).astype(float)
    fp = (~targets & predicted).sum(0).astype(float)
    fn = (targets & ~predicted).sum(0).astype(float)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean()), [float(x) for x in f1]


def _single_label(model: LinearTextModel, texts: list[str], labels: list[str], split: str) -> dict[str, Any]:
    classes = model.classes
    y = np.array([classes.index(lab) for lab in labels])
    z = model.logits(texts)
    pred = z.argmax(1)
    rep = classification_report(y, pred, classes).to_dict()
    face, _ = model.probabilities(texts)
    face_of = [FER2013.index(model_face) for model_face in (_face_name(model, c) for c in classes)]
    y_face = np.array([face_of[i] for i in y])
    face_rep = classification_report(y_face, face.argmax(1), FER2013).to_dict()
    present = [lab for lab in FER2013 if face_rep["per_class"][lab]["support"] > 0]
    return {
        "split": split,
        "n": len(texts),
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "per_class_f1": {c: rep["per_class"][c]["f1"] for c in classes},
        "report": rep,
        "face_labels": {
            "labels_present": present,
            "accuracy": face_rep["accuracy"],
            "macro_f1": face_rep["macro_f1"],
            "per_class_f1": {c: face_rep["per_class"][c]["f1"] for c in present},
            "confusion": face_rep["confusion"],
        },
    }


def _face_model_single_label(
    model: LinearTextModel, texts: list[str], face_labels: list[str], split: str
) -> dict[str, Any]:
    y = np.array([FER2013.index(lab) for lab in face_labels])
    probs, _ = model.probabilities(texts)
    pred = probs.argmax(1)
    rep = classification_report(y, pred, FER2013).to_dict()
    present = [lab for lab in FER2013 if rep["per_class"][lab]["support"] > 0]
    f1 = {c: rep["per_class"][c]["f1"] for c in present}
    return {
        "split": split,
        "n": len(texts),
        "labels": "face labels",
        "accuracy": rep["accuracy"],
        "macro_f1": float(np.mean(list(f1.values()))),
        "per_class_f1": f1,
        "predicted_share": {c: round(float((pred == k).mean()), 4) for k, c in enumerate(FER2013)},
        "report": rep,
    }


def _face_name(model: LinearTextModel, cls: str) -> str:
    return FER2013[int(model.to_face[model.classes.index(cls)].argmax())]


def evaluate_goemotions(model: LinearTextModel, texts: list[str], targets: list[tuple[str, ...]], split: str) -> dict:
    if model.head != "sigmoid" or model.thresholds is None:
        raise ConfigError(f"{model.name} is not a multi-label (sigmoid) model; GoEmotions needs one")
    t = np.array([[lab in ts for lab in FER2013] for ts in targets], dtype=bool)
    probs, scores = model.probabilities(texts)
    predicted = scores >= model.thresholds
    macro, per = multilabel_f1(t, predicted)
    single = t.sum(1) == 1
    y = t[single].argmax(1)
    rep = classification_report(y, probs[single].argmax(1), FER2013).to_dict()
    return {
        "split": split,
        "n": len(texts),
        "metric": "multi-label macro-F1 over 7 face labels (Ekman groups + neutral), thresholds tuned on dev",
        "macro_f1": round(macro, 5),
        "per_class_f1": {lab: round(f, 4) for lab, f in zip(FER2013, per, strict=True)},
        "thresholds": [round(float(x), 4) for x in model.thresholds],
        "exact_match": round(float((predicted == t).all(1).mean()), 5),
        "single_label": {
            "n": int(single.sum()),
            "accuracy": rep["accuracy"],
            "macro_f1": rep["macro_f1"],
            "per_class_f1": {c: rep["per_class"][c]["f1"] for c in FER2013},
            "confusion": rep["confusion"],
        },
    }


def evaluate_text_model(model: LinearTextModel, dataset: str, split: str = "test", limit: int | None = None) -> dict:
    """Figures of ``model`` on ``dataset``'s ``split`` (first ``limit`` texts if given)."""
    if dataset == "goemotions":
        texts, labels = load_goemotions(split)
        targets = goemotions_face_targets(labels)
        return evaluate_goemotions(model, texts[:limit], targets[:limit], split)
    if dataset == "dair":
        texts, labs = load_dair(split)
        face_map = DAIR_TO_FACE
    elif dataset in ("smp", "smp-virus"):
        texts, labs = load_smp(split, "virus" if dataset == "smp-virus" else "usual")
        face_map = SMP2020_TO_FACE
    else:
        raise ConfigError(f"unknown text dataset {dataset!r} (known: {', '.join(DATASETS)})")
    if model.classes == FER2013 and set(labs) - set(FER2013):
        return _face_model_single_label(model, texts[:limit], [face_map[lab] for lab in labs[:limit]], split)
    if model.classes == FER2013 and set(labs) <= set(FER2013) and model.head == "sigmoid":
        return _face_model_single_label(model, texts[:limit], labs[:limit], split)
    unknown = sorted(set(labs) - set(model.classes))
    if unknown:
        raise ConfigError(f"{model.name} has no class for {', '.join(unknown)}; it was not trained on {dataset}")
    return _single_label(model, texts[:limit], labs[:limit], split)
