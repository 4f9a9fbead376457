"""Train the text emotion models: TF-IDF word/char n-grams and a linear head, selected on validation splits.

Needs scikit-learn (training only). One model per dataset; everything is deterministic (liblinear with a fixed
seed), so a rerun writes the same files::

    emolens train text --dataset goemotions   # English, 7 face labels, multi-label (one-vs-rest)
    emolens train text --dataset dair         # English tweets, 6 classes
    emolens train text --dataset smp          # Chinese Weibo (SMP2020-EWECT usual), 6 classes
    emolens train text --dataset all

For each dataset: every (features, classifier, C[, NB smoothing alpha]) in its grid is fitted on train and
scored on the validation split; the best is calibrated on validation (softmax temperature, or per-label
thresholds for the multi-label head), exported to ``src/emolens/models/<name>.npz`` with a manifest, checked against
scikit-learn (the NumPy features and scores must equal scikit-learn's), and evaluated on the official test
split with the shipped NumPy code. Figures go to ``docs/results/text_<dataset>.json``. The multi-corpus models
(``emolens train text --multi en|zh``) are :mod:`emolens.train.text_multi`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.evaluate.metrics import fit_temperature
from emolens.labels import DAIR_EMOTION, DAIR_TO_FACE, FER2013, SMP2020, SMP2020_TO_FACE
from emolens.models import TextManifest, new_manifest
from emolens.text.data import SPLITS, goemotions_face_targets, load_dair, load_goemotions, load_smp
from emolens.text.evaluate import evaluate_text_model, multilabel_f1
from emolens.text.features import normalize_text
from emolens.text.model import load_npz

SEED = 0
REPO = Path(__file__).resolve().parents[3]


def _quiet(_message: str) -> None:
    """The default progress log: none (the CLI passes one that prints)."""


@dataclass(frozen=True)
class Spec:
    name: str  # shipped model name
    language: str
    classes: tuple[str, ...]
    to_face: dict[str, str]
    head: str  # softmax | sigmoid
    features: dict[str, list[dict[str, Any]]]  # feature-set name -> TfidfVectorizer settings per block
    classifiers: list[tuple[str, float]]  # (lr|svc, C)
    select_by: str  # validation figure to maximise
    data_licence: str
    notes: list[str] = field(default_factory=list)
    nb_alphas: tuple[float, ...] = (1.0,)  # NB smoothing alphas tried for the NB-weighted heads


CLASSIFIER_NAMES = {
    "lr": "logistic regression",
    "svc": "linear SVM",
    "nblr": "NB-weighted one-vs-rest logistic regression (NBSVM-style)",
    "nbsvc": "NB-weighted one-vs-rest linear SVM (NBSVM)",
    "lr+nblr": "mean of logistic regression and NB-weighted logistic regression (one linear model)",
}
WORD12 = {"analyzer": "word", "ngram_range": [1, 2], "min_df": 2}
CHARWB25 = {"analyzer": "char_wb", "ngram_range": [2, 5], "min_df": 3}

SPECS: dict[str, Spec] = {
    "goemotions": Spec(
        name="text-en-goemotions",
        language="en",
        classes=FER2013,
        to_face={c: c for c in FER2013},
        head="sigmoid",
        features={"word1-2+char_wb2-5": [WORD12, CHARWB25]},
        classifiers=[
            ("lr", 0.5),
            ("lr", 1.0),
            ("lr", 2.0),
            ("nblr", 0.5),
            ("nblr", 1.0),
            ("lr+nblr", 0.5),
            ("lr+nblr", 1.0),
        ],
        select_by="multi-label macro-F1 (dev, thresholds tuned on dev)",
        data_licence="GoEmotions (Demszky et al. 2020), CC BY 4.0; texts are Reddit comments",
        nb_alphas=(1.0, 0.5, 0.25, 0.1),
    ),
    "dair": Spec(
        name="text-en-dair",
        language="en",
        classes=DAIR_EMOTION,
        to_face=DAIR_TO_FACE,
        head="softmax",
        features={"word1-2": [WORD12], "word1-2+char_wb2-5": [WORD12, CHARWB25]},
        classifiers=[("svc", 0.3), ("svc", 1.0), ("lr", 30.0), ("nblr", 1.0), ("nblr", 4.0), ("nbsvc", 0.3)],
        select_by="accuracy (val)",
        data_licence=(
            "dair-ai emotion / CARER (Saravia et al. 2018): 'educational and research purposes only'; "
            "the weights carry that term"
        ),
    ),
    "smp": Spec(
        name="text-zh-smp",
        language="zh",
        classes=SMP2020,
        to_face=SMP2020_TO_FACE,
        head="softmax",
        features={
            "char1-3": [{"analyzer": "char", "ngram_range": [1, 3], "min_df": 2}],
            "char1-4": [{"analyzer": "char", "ngram_range": [1, 4], "min_df": 2}],
        },
        classifiers=[("svc", 0.1), ("svc", 0.3), ("lr", 10.0), ("nbsvc", 0.1), ("nbsvc", 0.3)],
        select_by="macro-F1 (eval)",
        data_licence=(
            "SMP2020-EWECT (Weibo posts): released to evaluation participants with no licence stated; "
            "research and evaluation use only; the weights carry that term"
        ),
    ),
}


def _vectorizer(blocks: list[dict[str, Any]]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                f"b{i}",
                TfidfVectorizer(
                    analyzer=b["analyzer"],
                    ngram_range=tuple(b["ngram_range"]),
                    min_df=b["min_df"],
                    lowercase=True,
                    sublinear_tf=True,
                    dtype=np.float64,
                ),
            )
            for i, b in enumerate(blocks)
        ]
    )


def _binary_lr(c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear", class_weight="balanced", max_iter=2000, random_state=SEED)


def _multiclass(kind: str, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if kind == "svc":
        return LinearSVC(C=c, class_weight="balanced", random_state=SEED, max_iter=5000)
    return LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=SEED)


def tune_thresholds(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per label, the threshold on a 0.025 grid (0.05-0.95) that maximises that label's F1."""
    grid = np.round(np.arange(0.05, 0.951, 0.025), 4)
    out = np.empty(scores.shape[1])
    for k in range(scores.shape[1]):
        best = (-1.0, 0.5)
        for th in grid:
            _, (f,) = multilabel_f1(targets[:, [k]], scores[:, [k]] >= th)
            if f > best[0] + 1e-12:
                best = (f, float(th))
        out[k] = best[1]
    return out


def nb_ratio(x, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Log-count ratio of each feature between positive and negative texts (Wang & Manning 2012, NBSVM)."""
    p = alpha + np.asarray(x[positive].sum(0)).ravel()
    q = alpha + np.asarray(x[~positive].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def _fit_head(spec: Spec, kind: str, c: float, x, y, nb_alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Fitted W (classes × features) and b.

    ``nblr`` / ``nbsvc``: one-vs-rest, each class on its features scaled by their NB log-count ratio ``r``
    (NBSVM, smoothing ``nb_alpha``); the scaling folds into the weights (``W_k = w_k * r_k``), so the shipped
    model stays linear.
    """
    if kind in ("nblr", "nbsvc"):
        from sklearn.svm import LinearSVC

        targets = y.astype(bool) if spec.head == "sigmoid" else np.eye(len(spec.classes), dtype=bool)[y]
        ws, bs = [], []
        for k in range(targets.shape[1]):
            r = nb_ratio(x, targets[:, k], nb_alpha)
            xk = x.multiply(r).tocsr()
            if kind == "nblr":
                m = _binary_lr(c).fit(xk, targets[:, k])
            else:
                m = LinearSVC(C=c, class_weight="balanced", random_state=SEED, max_iter=5000).fit(xk, targets[:, k])
            ws.append(m.coef_[0] * r)
            bs.append(m.intercept_[0])
        return np.stack(ws), np.array(bs)
    if spec.head == "sigmoid":
        ws, bs = [], []
        for k in range(y.shape[1]):
            m = _binary_lr(c).fit(x, y[:, k])
            ws.append(m.coef_[0])
            bs.append(m.intercept_[0])
        return np.stack(ws), np.array(bs)
    m = _multiclass(kind, c).fit(x, y)
    order = [list(m.classes_).index(i) for i in range(len(spec.classes))]
    return m.coef_[order], m.intercept_[order]


def _score_val(spec: Spec, w, b, x, y, thresholds: np.ndarray | None = None) -> tuple[float, dict[str, Any]]:
    """The selection figure on (x, y); a sigmoid head's thresholds are tuned here unless given."""
    z = np.asarray(x @ w.T) + b
    if spec.head == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        th = tune_thresholds(s, y.astype(bool)) if thresholds is None else thresholds
        f, _ = multilabel_f1(y.astype(bool), s >= th)
        return f, {"thresholds": th}
    pred = z.argmax(1)
    acc = float((pred == y).mean())
    f1s = []
    for k in range(len(spec.classes)):
        tp = np.sum((pred == k) & (y == k))
        denom = np.sum(pred == k) + np.sum(y == k)
        f1s.append(2 * tp / denom if denom else 0.0)
    return (acc if spec.select_by.startswith("accuracy") else float(np.mean(f1s))), {"accuracy": acc}


def _load(dataset: str, split: str) -> tuple[list[str], np.ndarray]:
    if dataset == "goemotions":
        texts, labels = load_goemotions(split)
        targets = goemotions_face_targets(labels)
        y = np.array([[lab in t for lab in FER2013] for t in targets], dtype=np.int64)
    else:
        texts, labs = load_dair(split) if dataset == "dair" else load_smp(split)
        y = np.array([SPECS[dataset].classes.index(lab) for lab in labs])
    return [normalize_text(t) for t in texts], y


def _json_bytes(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def vocab_arrays(vec, blocks: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The fitted vectorizer's vocabularies and idf weights as arrays of the .npz, and the blocks' settings."""
    arrays: dict[str, np.ndarray] = {}
    cfg_blocks = []
    for i, (_, tv) in enumerate(vec.transformer_list):
        terms = [""] * len(tv.vocabulary_)
        for t, j in tv.vocabulary_.items():
            terms[j] = t
        arrays[f"vocab_{i}"] = _json_bytes(terms)
        arrays[f"idf_{i}"] = tv.idf_.astype(np.float32)
        cfg_blocks.append(
            {"analyzer": blocks[i]["analyzer"], "ngram_range": blocks[i]["ngram_range"], "lowercase": True}
            | {"sublinear_tf": True}
        )
    return arrays, cfg_blocks


def text_manifest(
    name: str, path: Path, language: str, classes, to_face: dict[str, str], head: str, **keys: Any
) -> TextManifest:
    """A text model's manifest: what the file is and which labels it speaks, then ``keys`` (the model's figures)."""
    return new_manifest(
        TextManifest,
        path,
        name=name,
        language=language,
        classes=tuple(FER2013),
        source_classes=tuple(classes),
        to_face=to_face,
        head=head,
        **keys,
    )


def run_record(model: str, command: str) -> dict[str, str]:
    """The first keys of a training run's figures file: the model, the command that made it, when and where."""
    return {
        "model": model,
        "command": command,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs".strip(),
    }


def export(spec: Spec, vec, blocks: list[dict[str, Any]], w, b, temperature: float, thresholds, path: Path) -> None:
    arrays, cfg_blocks = vocab_arrays(vec, blocks)
    cfg = {
        "name": spec.name,
        "language": spec.language,
        "classes": list(spec.classes),
        "to_face": spec.to_face,
        "head": spec.head,
        "temperature": temperature,
        "thresholds": None if thresholds is None else [float(t) for t in thresholds],
        "blocks": cfg_blocks,
    }
    arrays["config"] = _json_bytes(cfg)
    arrays["W"] = w.astype(np.float32)
    arrays["b"] = b.astype(np.float32)
    np.savez_compressed(path, **arrays)


def parity_check(path: Path, vec, w, b, texts: list[str]) -> float:
    """Largest |NumPy score - scikit-learn score| over ``texts``; raises if the features differ."""
    model = load_npz(path)
    x = vec.transform(texts)
    ref = np.asarray(x @ w.T) + b
    ours = model.logits(texts)
    diff = float(np.abs(ours - ref).max())
    if diff > 1e-3:
        raise ModelError(f"parity check failed: NumPy and scikit-learn scores differ by {diff:.3g}", str(path))
    return diff


def train(dataset: str, out_dir: Path, results_dir: Path, log=_quiet) -> dict[str, Any]:
    spec = SPECS[dataset]
    np.random.seed(SEED)
    s_train, s_val, _ = SPLITS[dataset]
    xtr_t, ytr = _load(dataset, s_train)
    xva_t, yva = _load(dataset, s_val)
    xte_t, yte = _load(dataset, "test")
    rows, best = [], None
    t_all = time.perf_counter()
    for fname, blocks in spec.features.items():
        t0 = time.perf_counter()
        vec = _vectorizer(blocks)
        xtr = vec.fit_transform(xtr_t)
        xva = vec.transform(xva_t)
        xte = vec.transform(xte_t)
        log(f"[{dataset}] features {fname}: {xtr.shape[1]} columns ({time.perf_counter() - t0:.0f} s)")
        heads: dict[tuple[str, float, float], tuple[np.ndarray, np.ndarray]] = {}
        grid = [
            (kind, c, alpha)
            for kind, c in spec.classifiers
            for alpha in (spec.nb_alphas if "nb" in kind else (spec.nb_alphas[0],))
        ]
        for kind, c, alpha in grid:
            t0 = time.perf_counter()
            parts = kind.split("+")  # "lr+nblr": the mean of both heads (still one linear model)
            keys = [(part, c, alpha if part.startswith("nb") else 1.0) for part in parts]
            for key in keys:
                if key not in heads:
                    heads[key] = _fit_head(spec, key[0], c, xtr, ytr, key[2])
            w = np.mean([heads[key][0] for key in keys], axis=0)
            b = np.mean([heads[key][1] for key in keys], axis=0)
            score, extra = _score_val(spec, w, b, xva, yva)
            row = {"features": fname, "classifier": kind, "C": c, "val": round(score, 5), "columns": xtr.shape[1]}
            if len(spec.nb_alphas) > 1:
                row["nb_alpha"] = alpha if "nb" in kind else None
            if "accuracy" in extra:
                row["val_accuracy"] = round(extra["accuracy"], 5)
            # Reported for reference only (the choice is made on validation above).
            test_score, test_extra = _score_val(spec, w, b, xte, yte, extra.get("thresholds"))
            row["test"] = round(test_score, 5)
            if "accuracy" in test_extra:
                row["test_accuracy"] = round(test_extra["accuracy"], 5)
            rows.append(row)
            nb = f" alpha={alpha}" if "nb" in kind and len(spec.nb_alphas) > 1 else ""
            log(
                f"[{dataset}]   {kind} C={c}{nb}: val {score:.4f} (test {test_score:.4f})"
                f" ({time.perf_counter() - t0:.0f} s)"
            )
            if best is None or score > best[0] + 1e-9:
                best = (score, fname, blocks, kind, c, alpha, vec, w, b, extra, xva)
    assert best is not None
    score, fname, blocks, kind, c, alpha, vec, w, b, extra, xva = best
    temperature, thresholds = 1.0, None
    if spec.head == "sigmoid":
        thresholds = extra["thresholds"]
    else:
        temperature = float(fit_temperature(np.asarray(xva @ w.T) + b, yva))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{spec.name}.npz"
    export(spec, vec, blocks, w, b, temperature, thresholds, path)
    diff = parity_check(path, vec, w, b, [*xte_t[:1000], "", "!!!", "ok", "Ünïcode 😀 テスト 中文"])
    log(f"[{dataset}] selected {fname} {kind} C={c} alpha={alpha} (val {score:.4f}); parity max |diff| {diff:.2e}")
    model = load_npz(path, spec.name)
    test = evaluate_text_model(model, dataset, "test")
    val = evaluate_text_model(model, dataset, s_val)
    command = f"emolens train text --dataset {dataset}"
    manifest = text_manifest(
        spec.name,
        path,
        spec.language,
        spec.classes,
        spec.to_face,
        spec.head,
        architecture=f"TF-IDF {fname} + {CLASSIFIER_NAMES[kind]}",
        hyperparameters={"features": blocks, "classifier": kind, "C": c, "class_weight": "balanced", "nb_alpha": alpha},
        temperature=round(temperature, 5),
        thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
        features=int(model.n_features),
        metrics=_headline(dataset, test),
        training=command,
        evaluation=f"emolens text --evaluate {dataset}",
        licence=f"weights: {spec.data_licence}",
        data_licence=spec.data_licence,
    )
    manifest.write(out_dir / f"{spec.name}.json")  # checked key by key before it is written
    result = {
        **run_record(spec.name, command),
        "dataset": dataset,
        "python": sys.version.split()[0],
        "selected": {"features": fname, "classifier": kind, "C": c, "nb_alpha": alpha, "val": round(score, 5)},
        "selection_metric": spec.select_by,
        "grid": rows,
        "parity_max_abs_diff": diff,
        "file_bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - t_all, 1),
        "validation": val,
        "test": test,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"text_{dataset}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"[{dataset}] test: {json.dumps(manifest.metrics)}; {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return result


def _headline(dataset: str, test: dict[str, Any]) -> dict[str, Any]:
    if dataset == "goemotions":
        return {
            "test_multilabel_macro_f1": test["macro_f1"],
            "test_single_label_accuracy": test["single_label"]["accuracy"],
            "test_single_label_macro_f1": test["single_label"]["macro_f1"],
        }
    return {"test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"]}
