"""Fusion benchmark on a pseudo-multimodal protocol (no aligned face+voice+text corpus is available here).

    python scripts/bench_fusion.py --json docs/results/bench_fusion.json --model-out fusion-learned.json

The modalities, the tuples and the fitting are :mod:`emolens.train.fusion` (``emolens train fusion`` fits and
saves the same fuser); this script measures the rules and the fuser on the held-out half.

Each modality's model is run on its own test set, never seen in training:
- face: emotion-fer2013 on FER2013 PrivateTest (3,573 faces);
- voice: the 4 RAVDESS fold models, each on the 6 actors it never heard (1,440 clips, out-of-fold; calm counted
  as neutral), read from the fold report that ``emolens train voice --folds`` writes (docs/results);
- text: text-en-goemotions on the GoEmotions test rows with exactly one Ekman label (neutral included).
A tuple joins one face, one clip and one text of the same label, drawn with a fixed seed; every label gets
``--per-class`` tuples, and tuples are split by their underlying samples into a half that trains the learned
fuser and a half that every figure is measured on (no sample is in both halves).

What it shows: how the rules combine three independent, differently reliable opinions, and how they degrade
when one opinion is noise, wrong or missing. What it cannot show: real multimodal data, where the modalities
of one moment are correlated (a smiling face says "happy" in a cheerful voice), labels are often mixed, and
the three do not agree by construction. The absolute fused accuracy is therefore an optimistic bound.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.evaluate.metrics import classification_report
from emolens.fusion import fuse
from emolens.labels import FER2013
from emolens.train.fusion import MODALITIES, build_tuples, fit_fuser, modality_predictions

K = len(FER2013)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def score(p: np.ndarray, y: np.ndarray) -> dict:
    rep = classification_report(y, p.argmax(1), FER2013, probs=p)
    return {"accuracy": round(rep.accuracy, 4), "macro_f1": round(rep.macro_f1, 4), "ece": round(rep.ece or 0, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--voice",
        type=Path,
        default=Path("docs/results/voice_cnn_folds.json"),
        help="Voice fold report with out-of-fold clip predictions (emolens train voice --folds).",
    )
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-out", type=Path, help="Save the learned fuser here.")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    t = time.perf_counter()
    probs, ys = modality_predictions(data_root(), a.voice)
    log(f"predictions in {time.perf_counter() - t:.0f} s: " + ", ".join(f"{m} {len(ys[m])}" for m in MODALITIES))
    tuples = build_tuples(probs, ys, a.per_class, rng)
    ytr, pte, yte = tuples.train_labels, tuples.test_probs, tuples.test_labels
    full = np.ones(pte.shape[:2], bool)
    learned = fit_fuser(tuples.train_probs, ytr, rng)  # the same fuser as `emolens train fusion --seed SEED`
    if a.model_out:
        learned.save(a.model_out)

    def rules(p: np.ndarray, present: np.ndarray) -> dict:
        out = {}
        for rule in ("weighted", "entropy", "gated", "learned"):
            out[rule] = score(fuse(p, present, rule=rule, model=learned), yte)
        return out

    res: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "command": "python " + " ".join(sys.argv),
        "protocol": __doc__.split("\n\n", 2)[2].strip(),
        "tuples": {"train": len(ytr), "test": len(yte), "per_class": a.per_class, "seed": a.seed},
        "single": {m: score(pte[:, j], yte) for j, m in enumerate(MODALITIES)},
        "single_on_own_test_set": {m: score(probs[m], ys[m]) for m in MODALITIES},
        "all_present": rules(pte, full),
        "corrupted": {},
        "missing": {},
    }
    for j, m in enumerate(MODALITIES):
        noise = pte.copy()
        noise[:, j] = rng.dirichlet(np.full(K, 0.3), len(yte))
        wrong = pte.copy()
        other = (yte + rng.integers(1, K, len(yte))) % K  # a confident opinion of another label
        wrong[:, j] = np.stack([np.where(np.arange(K) == o, 0.9, 0.1 / (K - 1)) for o in other])
        miss = full.copy()
        miss[:, j] = False
        res["corrupted"][f"{m}_noise"] = rules(noise, full)
        res["corrupted"][f"{m}_wrong_label"] = rules(wrong, full)
        res["missing"][m] = rules(pte, miss)
    text = json.dumps(res, indent=2)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
