"""One verification threshold for several sources: LFW View 2 and ORL pairs pooled.

    python scripts/bench_identity_pooled.py --json docs/results/bench_identity_pooled.json [--cache F.npz]
    python scripts/bench_identity_pooled.py ... --write-manifest   # also writes the threshold and the
                                                                   # probability fit into sface.json

- LFW View 2: ``pairs.txt`` (10 person-disjoint folds of 300 same + 300 different pairs).
- ORL: :func:`emolens.identity.evaluation.orl_pairs` (10 person-disjoint folds of 4 people: their 180 same
  pairs and 180 different pairs drawn with a fixed seed; 3,600 pairs).
- Each set's own figure: its 10-fold accuracy (threshold chosen on its other 9 folds), and its best accuracy
  with one threshold chosen on the whole set (an upper bound).
- Pooled, cross-validated: for fold k, one threshold is chosen on the other 9 folds of *both* sets (each set
  weighs the same), then fold k of each set is scored at it.
- The shipped threshold: chosen the same way on all folds of both sets; each set is reported at it against its
  own best threshold. The same-person probability is a logistic fit on the cosine over the pooled pairs (each set
  weighing the same); its ECE is given per set, in-sample and cross-validated over the folds.

Faces: the detected face nearest the image centre (as ``emolens verify --pairs``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.identity import Gallery
from emolens.identity.evaluation import (
    PairScores,
    accuracy,
    best_threshold,
    evaluate_pairs,
    expected_calibration_error,
    fit_same_probability,
    orl_pairs,
    pooled_threshold,
    read_pairs,
    same_probability,
    score_pairs,
)

MANIFEST = Path(__file__).resolve().parents[1] / "src" / "emolens" / "models" / "sface.json"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fold(ps: PairScores, folds: int, k: int, keep: bool) -> PairScores:
    n = len(ps.scores) // folds
    m = np.zeros(len(ps.scores), bool)
    m[k * n : (k + 1) * n] = True
    if not keep:
        m = ~m
    return PairScores(ps.scores[m], ps.same[m])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cache", type=Path, help="npz of embeddings by path (resumes an interrupted run)")
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args()

    root = data_root()
    g = Gallery(":memory:")
    cache: dict[str, np.ndarray] = {}
    if args.cache is not None and args.cache.exists():
        with np.load(args.cache) as z:
            cache = {k: z[k] for k in z.files}
        log(f"{len(cache)} cached embeddings")

    def embed(path: str) -> np.ndarray:
        key = str(Path(path).relative_to(root))
        if key not in cache:
            try:
                cache[key] = g.embedding(path, pick="center")
            except Exception:
                cache[key] = np.zeros(0, np.float32)  # no face: remembered as failed
                raise
            if args.cache is not None and len(cache) % 250 == 0:
                np.savez(args.cache, **cache)
        if cache[key].size == 0:
            from emolens.errors import ImageError

            raise ImageError("no face found (cached)", path)  # as Gallery.embedding says it
        return cache[key]

    sets = {
        "LFW View 2": read_pairs(root / "lfw" / "pairs.txt", root / "lfw" / "images"),
        "ORL pairs": orl_pairs(root / "orl"),
    }
    scored: dict[str, PairScores] = {}
    for name, pl in sets.items():
        scored[name] = score_pairs(pl, embed, lambda k, n, name=name: log(f"{name}: {k}/{n}") if k % 500 == 0 else None)
        log(f"{name}: {len(pl.pairs)} pairs, {len(scored[name].failed)} images without a face")
    if args.cache is not None:
        np.savez(args.cache, **cache)

    names = list(sets)
    folds = 10
    old_thr = float(json.loads(MANIFEST.read_text())["threshold"])
    shipped = pooled_threshold([scored[n] for n in names])
    a, b = fit_same_probability([scored[n] for n in names])
    # cross-validated pooled threshold and probability
    cv_acc = {n: [] for n in names}
    cv_prob = {n: np.zeros(len(scored[n].scores)) for n in names}
    cv_thr = []
    for k in range(folds):
        train = [fold(scored[n], folds, k, keep=False) for n in names]
        t = pooled_threshold(train)
        ak, bk = fit_same_probability(train)
        cv_thr.append(t)
        for n in names:
            te = fold(scored[n], folds, k, keep=True)
            cv_acc[n].append(accuracy(te.scores, te.same, t))
            m = len(scored[n].scores) // folds
            cv_prob[n][k * m : (k + 1) * m] = same_probability(te.scores, ak, bk)
    out: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'CPU'}, python {platform.python_version()}",
        "pooled_threshold": shipped,
        "previous_threshold": old_thr,
        "same_person_probability": {"a": a, "b": b},
        "cv_pooled_thresholds": cv_thr,
        "sets": {},
    }
    for n in names:
        ps = scored[n]
        own = evaluate_pairs(ps, folds)
        best = best_threshold(ps.scores, ps.same)
        prob = same_probability(ps.scores, a, b)
        out["sets"][n] = {
            "pairs": len(ps.scores),
            "images_without_face": len(ps.failed),
            "own_10fold_accuracy": own["accuracy_mean"],
            "pooled_10fold_accuracy": float(np.mean(cv_acc[n])),
            "own_best_threshold": best,
            "accuracy_at_own_best_threshold": accuracy(ps.scores, ps.same, best),
            "accuracy_at_pooled_threshold": accuracy(ps.scores, ps.same, shipped),
            "accuracy_at_previous_threshold": accuracy(ps.scores, ps.same, old_thr),
            "roc_auc": own["roc_auc"],
            "probability_ece": expected_calibration_error(prob, ps.same),
            "probability_ece_cv": expected_calibration_error(cv_prob[n], ps.same),
        }
    print(
        f"pooled threshold {shipped:.4f} (previous, LFW pairsDevTrain only: {old_thr:.4f}); P(same) = "
        f"sigmoid({a:.3f} * cosine {b:+.3f})"
    )
    print(
        "| set | pairs | own 10-fold | pooled 10-fold | own best thr (acc) | at pooled thr | gap | at previous thr "
        "| P(same) ECE (cv) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in out["sets"].items():
        gap = r["accuracy_at_own_best_threshold"] - r["accuracy_at_pooled_threshold"]
        print(
            f"| {n} | {r['pairs']} | {100 * r['own_10fold_accuracy']:.2f}% | {100 * r['pooled_10fold_accuracy']:.2f}% "
            f"| {r['own_best_threshold']:.4f} ({100 * r['accuracy_at_own_best_threshold']:.2f}%) "
            f"| {100 * r['accuracy_at_pooled_threshold']:.2f}% | {100 * gap:.2f} "
            f"| {100 * r['accuracy_at_previous_threshold']:.2f}% "
            f"| {r['probability_ece']:.3f} ({r['probability_ece_cv']:.3f}) |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.write_manifest:
        m = json.loads(MANIFEST.read_text())
        m["threshold"] = round(shipped, 4)
        m["threshold_note"] = (
            "cosine similarity with the best mean accuracy over LFW View 2 pairs.txt and ORL pairs "
            "(emolens.identity.evaluation.orl_pairs), each set weighing the same "
            "(python scripts/bench_identity_pooled.py); before: 0.3245, best on LFW pairsDevTrain"
        )
        m["same_person_probability"] = {
            "a": round(a, 4),
            "b": round(b, 4),
            "note": "P(same) = 1 / (1 + exp(-(a * cosine + b))), logistic fit on the same pooled pairs",
        }
        m.setdefault("metrics", {}).update(
            {
                f"{n.lower().replace(' ', '_')}_accuracy_at_threshold": round(r["accuracy_at_pooled_threshold"], 4)
                for n, r in out["sets"].items()
            }
        )
        MANIFEST.write_text(json.dumps(m, indent=2) + "\n")


if __name__ == "__main__":
    main()
