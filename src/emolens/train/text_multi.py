"""Train the multi-corpus text models: TF-IDF n-grams and a sentence embedding, one head over every corpus of a
language (needs scikit-learn and the ``text`` extra's sentence encoder)::

    emolens train text --multi en   # GoEmotions + dair-ai -> text-en-all (the English default)
    emolens train text --multi zh   # SMP2020-EWECT usual + virus -> text-zh-all (the Chinese default)

The sentence embeddings (:mod:`emolens.text.encoder`) of every split are cached in ``--embeddings`` (default
``runs/text_embeddings``): computing them all takes about half an hour on two cores.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.evaluate.metrics import fit_temperature
from emolens.labels import FER2013, SMP2020
from emolens.models import sha256_file
from emolens.text.features import normalize_text
from emolens.text.model import load_npz
from emolens.train.text import (
    CHARWB25,
    SEED,
    SPECS,
    WORD12,
    _binary_lr,
    _json_bytes,
    _quiet,
    _vectorizer,
    run_record,
    text_manifest,
    tune_thresholds,
    vocab_arrays,
)


@dataclass(frozen=True)
class MultiSpec:
    name: str
    language: str
    corpora: tuple[str, ...]
    blocks: list[dict[str, Any]]
    head: str  # sigmoid: 7 face labels, thresholds + softmax probabilities; softmax: over `classes`
    classes: tuple[str, ...]
    data_licence: str


MULTI: dict[str, MultiSpec] = {
    "en": MultiSpec(
        name="text-en-all",
        language="en",
        corpora=("goemotions", "dair"),
        blocks=[WORD12, CHARWB25],
        head="sigmoid",
        classes=FER2013,
        data_licence=SPECS["goemotions"].data_licence + "; " + SPECS["dair"].data_licence,
    ),
    "zh": MultiSpec(
        name="text-zh-all",
        language="zh",
        corpora=("usual", "virus"),
        blocks=SPECS["smp"].features["char1-3"],
        head="softmax",
        classes=SMP2020,
        data_licence=SPECS["smp"].data_licence + " (usual and virus domains)",
    ),
}
#: C of the TF-IDF head and of the embedding head (each one-vs-rest logistic regression, fitted separately).
MULTI_C = {"tfidf": 0.5, "embedding": 1.0}
#: Weights of the embedding head's logits next to the TF-IDF head's, chosen on the pooled validation splits.
MULTI_WEIGHTS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)


def corpus_embeddings(fc, cache_dir: Path | None, log=_quiet) -> np.ndarray:
    """Sentence embeddings of a corpus split's texts, cached by the texts' and the encoder's identity."""
    import hashlib

    from emolens.text.encoder import sentence_encoder

    enc = sentence_encoder()
    texts = [normalize_text(t) for t in fc.texts]
    key = hashlib.sha256(("\n".join(texts) + enc.version).encode("utf-8")).hexdigest()[:16]
    path = None if cache_dir is None else cache_dir / f"{fc.name}_{fc.split}_{key}.npy"
    if path is not None and path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    e = enc.encode(texts)
    log(f"embedded {fc.name} {fc.split}: {len(texts)} texts in {time.perf_counter() - t0:.0f} s")
    if path is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, e)
    return e


def sliced_embeddings(fc, cache_dir: Path | None, log=_quiet, step: int = 2000):
    """:func:`corpus_embeddings` of a long split computed and cached in slices of ``step`` texts (resumable)."""
    from emolens.text.corpora import FaceCorpus

    parts = []
    for a in range(0, len(fc.texts), step):
        b = min(a + step, len(fc.texts))
        part = FaceCorpus(fc.name, f"{fc.split}{a}-{b}", fc.texts[a:b], fc.targets[a:b])
        parts.append(corpus_embeddings(part, cache_dir, log))
    return np.vstack(parts)


def fit_ovr(x, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest logistic regression (balanced) per column of ``y``: liblinear on sparse TF-IDF, L-BFGS on the
    dense embedding; a column without positives gets zero weights and a bias of -30 (probability ~0)."""
    from sklearn.linear_model import LogisticRegression

    w = np.zeros((y.shape[1], x.shape[1]))
    b = np.full(y.shape[1], -30.0)
    dense = isinstance(x, np.ndarray)
    for k in range(y.shape[1]):
        if y[:, k].any():
            lr = (
                LogisticRegression(C=c, solver="lbfgs", class_weight="balanced", max_iter=1000, random_state=SEED)
                if dense
                else _binary_lr(c)
            )
            m = lr.fit(x, y[:, k])
            w[k], b[k] = m.coef_[0], m.intercept_[0]
    return w, b


@dataclass
class MultiFit:
    """Two one-vs-rest heads over the head's classes, fitted separately: one on the TF-IDF features, one on the
    sentence embedding. The model's logits are ``tfidf + weight * embedding`` (one linear model in the end)."""

    vec: Any
    w_tfidf: np.ndarray
    b_tfidf: np.ndarray
    w_emb: np.ndarray
    b_emb: np.ndarray
    classes: tuple[str, ...]
    weight: float = 1.0

    def logits(self, texts: list[str], emb: np.ndarray, weight: float | None = None) -> np.ndarray:
        a = self.weight if weight is None else weight
        zt = np.asarray(self.vec.transform([normalize_text(t) for t in texts]) @ self.w_tfidf.T) + self.b_tfidf
        ze = emb.astype(np.float64) @ self.w_emb.T + self.b_emb
        return zt + a * ze

    def face_logits(self, texts: list[str], emb: np.ndarray, weight: float | None = None) -> np.ndarray:
        """Logits on the seven face labels (-30 where the head has no class for a label)."""
        z = self.logits(texts, emb, weight)
        out = np.full((len(texts), len(FER2013)), -30.0)
        for i, c in enumerate(self.classes):
            out[:, FER2013.index(c)] = z[:, i]
        return out


def fit_tfidf_head(spec: MultiSpec, corpora: tuple[str, ...], data: dict, cache: Path | None = None, log=_quiet):
    """The TF-IDF vectoriser and one-vs-rest head on the train splits of ``corpora``; with ``cache`` (a local
    folder, never shipped) the fit is kept as a joblib file keyed by the texts, features and C."""
    import hashlib

    import joblib

    t0 = time.perf_counter()
    texts = [normalize_text(t) for k in corpora for t in data[(k, "train")][0].texts]
    y = np.vstack([data[(k, "train")][0].targets for k in corpora])
    cols = [FER2013.index(cl) for cl in spec.classes]
    ident = json.dumps([texts, spec.blocks, MULTI_C["tfidf"], cols]).encode("utf-8")
    path = (
        None if cache is None else cache / f"tfidf_{'+'.join(corpora)}_{hashlib.sha256(ident).hexdigest()[:16]}.joblib"
    )
    if path is not None and path.exists():
        return joblib.load(path)
    vec = _vectorizer(spec.blocks)
    x = vec.fit_transform(texts)
    wt, bt = fit_ovr(x, y[:, cols].astype(int), MULTI_C["tfidf"])
    log(f"[{'+'.join(corpora)}] TF-IDF head: {x.shape[1]} columns ({time.perf_counter() - t0:.0f} s)")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump((vec, wt, bt), path)
    return vec, wt, bt


def fit_multi(
    spec: MultiSpec,
    corpora: tuple[str, ...],
    data: dict,
    log=_quiet,
    cache: Path | None = None,
    c_embedding: float | None = None,
) -> MultiFit:
    """Fit both heads on the train splits of ``corpora`` (``data[(corpus, 'train')] = (FaceCorpus, embeddings)``);
    the embedding head sees the leading texts that have embeddings (all, unless fewer rows were given)."""
    vec, wt, bt = fit_tfidf_head(spec, corpora, data, cache, log)
    emb = np.vstack([data[(k, "train")][1] for k in corpora]).astype(np.float64)
    y_emb = np.vstack([data[(k, "train")][0].targets[: len(data[(k, "train")][1])] for k in corpora])
    cols = [FER2013.index(cl) for cl in spec.classes]
    t0 = time.perf_counter()
    we, be = fit_ovr(emb, y_emb[:, cols].astype(int), c_embedding or MULTI_C["embedding"])
    log(f"[{'+'.join(corpora)}] embedding head ({time.perf_counter() - t0:.0f} s)")
    return MultiFit(vec, wt, bt, we, be, spec.classes)


def multi_val_figure(
    spec: MultiSpec, fit: MultiFit, data: dict, corpora: tuple[str, ...], weight: float
) -> tuple[float, dict]:
    """Selection figure: mean over ``corpora`` of GoEmotions dev multi-label macro-F1 (thresholds tuned on the
    pooled validation texts), dair val accuracy over 7 labels, SMP eval macro-F1 (six labels)."""
    from emolens.text.corpora import corpus_figures

    z = {k: fit.face_logits(data[(k, "val")][0].texts, data[(k, "val")][1], weight) for k in corpora}
    extra: dict[str, Any] = {}
    if spec.head == "sigmoid":
        s_all = 1 / (1 + np.exp(-np.vstack([z[k] for k in corpora])))
        y_all = np.vstack([data[(k, "val")][0].targets for k in corpora])
        extra["thresholds"] = tune_thresholds(s_all, y_all)
    figs = {}
    for k in corpora:
        probs = _softmax_rows(z[k])
        f = corpus_figures(k, probs, 1 / (1 + np.exp(-z[k])), data[(k, "val")][0], extra.get("thresholds"))
        figs[k] = (
            f["multilabel_macro_f1"]
            if "multilabel_macro_f1" in f
            else f["all_labels"]["accuracy"]
            if k == "dair"
            else f["common"]["macro_f1"]
        )
    extra["per_corpus"] = figs
    return float(np.mean(list(figs.values()))), extra


def _softmax_rows(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    from emolens.probability import softmax

    return softmax(z, t)


def load_multi_data(corpora: tuple[str, ...], cache_dir: Path | None, log=_quiet) -> dict:
    from emolens.text.corpora import load_face_corpus

    data = {}
    for k in corpora:
        for split in ("train", "val", "test"):
            fc = load_face_corpus(k, split)
            embed = sliced_embeddings if split == "train" else corpus_embeddings
            data[(k, split)] = (fc, embed(fc, cache_dir, log))
    return data


def export_multi(spec: MultiSpec, fit: MultiFit, temperature: float, thresholds, path: Path) -> None:
    from emolens.text.encoder import DIM, PACKAGE, sentence_encoder

    enc = sentence_encoder()
    arrays, cfg_blocks = vocab_arrays(fit.vec, spec.blocks)
    cfg = {
        "name": spec.name,
        "language": spec.language,
        "classes": list(spec.classes),
        "to_face": {c: c for c in spec.classes},
        "head": spec.head,
        "temperature": temperature,
        "thresholds": None if thresholds is None else [float(t) for t in thresholds],
        "probabilities": "softmax",
        "blocks": cfg_blocks,
        "encoder": {
            "package": PACKAGE,
            "version": enc.version,
            "weights_sha256": sha256_file(enc.weights_path),
            "weight": 1.0,
            "dim": DIM,
        },
    }
    arrays["config"] = _json_bytes(cfg)
    arrays["W"] = np.hstack([fit.w_tfidf, fit.weight * fit.w_emb]).astype(np.float32)
    arrays["b"] = (fit.b_tfidf + fit.weight * fit.b_emb).astype(np.float32)
    np.savez_compressed(path, **arrays)


def train_multi(language: str, out_dir: Path, results_dir: Path, cache_dir: Path | None, log=_quiet) -> dict:
    """Select (embedding weight, C) on the pooled validation splits, calibrate, export, evaluate on every test split."""
    from emolens.text.corpora import corpus_figures

    spec = MULTI[language]
    t_all = time.perf_counter()
    data = load_multi_data(spec.corpora, cache_dir, log)
    fit = fit_multi(spec, spec.corpora, data, log, cache_dir)
    rows, best = [], None
    for weight in MULTI_WEIGHTS:
        score, extra = multi_val_figure(spec, fit, data, spec.corpora, weight)
        rows.append({"embedding_weight": weight, "val": round(score, 5), "per_corpus": extra["per_corpus"]})
        log(f"[{spec.name}] embedding weight {weight}: val {score:.4f} {extra['per_corpus']}")
        if best is None or score > best[0] + 1e-9:
            best = (score, weight, extra)
    assert best is not None
    score, fit.weight, extra = best
    # temperature: softmax over the head's classes, NLL on the single-label validation texts of every corpus
    zs, ys = [], []
    for k in spec.corpora:
        fc, emb = data[(k, "val")]
        one = fc.targets.sum(1) == 1
        zs.append(fit.logits(fc.texts, emb)[one])
        ys.append(np.array([spec.classes.index(FER2013[i]) for i in fc.targets[one].argmax(1)]))
    temperature = float(fit_temperature(np.vstack(zs), np.concatenate(ys)))
    thresholds = extra.get("thresholds") if spec.head == "sigmoid" else None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{spec.name}.npz"
    export_multi(spec, fit, temperature, thresholds, path)
    model = load_npz(path, spec.name)
    # parity: the NumPy model on cached embeddings against the fitted head, and the live encoder on a few texts
    fc, emb = data[(spec.corpora[0], "test")]
    diff = float(np.abs(model.logits(fc.texts[:500], emb[:500]) - fit.logits(fc.texts[:500], emb[:500])).max())
    live = model.embed(fc.texts[:20])
    cos = float((live * emb[:20]).sum(1).min())
    if diff > 1e-3 or cos < 0.9999:
        raise ModelError(f"parity check failed: scores differ by {diff:.3g}; embedding cosine {cos:.6f}", str(path))
    tests = {}
    for k in spec.corpora:
        fc, emb = data[(k, "test")]
        probs, scores = model.probabilities(fc.texts, emb)
        tests[k] = corpus_figures(k, probs, scores, fc, model.thresholds)
    command = f"emolens train text --multi {language}"
    manifest = text_manifest(
        spec.name,
        path,
        spec.language,
        spec.classes,
        {c: c for c in spec.classes},
        spec.head,
        architecture=(
            f"TF-IDF {'+'.join(b['analyzer'] + str(b['ngram_range']) for b in spec.blocks)} and the "
            "multilingual Universal Sentence Encoder v3 embedding: one-vs-rest logistic regression on each, "
            f"logits summed (embedding head x{fit.weight})"
        ),
        trained_on=tuple(f"{k} train" for k in spec.corpora),
        hyperparameters={
            "features": spec.blocks,
            "C_tfidf": MULTI_C["tfidf"],
            "C_embedding": MULTI_C["embedding"],
            "embedding_weight": fit.weight,
            "class_weight": "balanced",
        },
        temperature=round(temperature, 5),
        thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
        encoder=model.encoder,
        features=int(model.n_features),
        metrics={f"{k}_{m}": v for k, f in tests.items() for m, v in _multi_headline(k, f).items()},
        training=command,
        evaluation="python scripts/bench_text_crosscorpus.py",
        licence=f"weights: {spec.data_licence}; encoder (not in this file): Apache-2.0",
        data_licence=spec.data_licence,
    )
    manifest.write(out_dir / f"{spec.name}.json")  # checked key by key before it is written
    result = {
        **run_record(spec.name, command),
        "selected": {"embedding_weight": fit.weight, **MULTI_C, "val": round(score, 5)},
        "grid": rows,
        "temperature": temperature,
        "parity_max_abs_diff": diff,
        "encoder_cosine_min": cos,
        "seconds": round(time.perf_counter() - t_all, 1),
        "test": tests,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{spec.name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"[{spec.name}] test: {json.dumps(manifest.metrics)}")
    return result


def _multi_headline(corpus: str, f: dict) -> dict:
    if corpus == "goemotions":
        return {
            "test_multilabel_macro_f1": round(float(f["multilabel_macro_f1"]), 4),
            "test_single_label_accuracy": round(f["all_labels"]["accuracy"], 4),
        }
    if corpus == "dair":
        return {
            "test_accuracy_7": round(f["all_labels"]["accuracy"], 4),
            "test_macro_f1": round(f["all_labels"]["macro_f1"], 4),
        }
    return {"test_accuracy": round(f["common"]["accuracy"], 4), "test_macro_f1": round(f["common"]["macro_f1"], 4)}
