"""Fusion benchmark on a pseudo-multimodal protocol (no aligned face+voice+text corpus is available here).

    python scripts/bench_fusion.py --json docs/results/bench_fusion.json --model-out fusion-learned.json

Each modality's model is run on its own test set, never seen in training:
- face: emotion-fer2013 on FER2013 PrivateTest (3,573 faces);
- voice: the 4 RAVDESS fold models, each on the 6 actors it never heard (1,440 clips, out-of-fold; calm counted
  as neutral), read from the fold report that ``python -m emolens.train.voice`` writes (docs/results);
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
from emolens.fusion import LearnedFusion, fuse
from emolens.labels import FER2013

K = len(FER2013)
MODALITIES = ("face", "voice", "text")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def face_probs() -> tuple[np.ndarray, np.ndarray]:
    from emolens.emotion.classifier import EmotionModel
    from emolens.evaluate.runner import load_labelled_npz

    x, y = load_labelled_npz(data_root() / "fer2013" / "private_test.npz")
    return EmotionModel().predict(x), y


def text_probs() -> tuple[np.ndarray, np.ndarray]:
    from emolens.text import TextAnalyzer
    from emolens.text.data import goemotions_face_targets, load_goemotions

    texts, labels = load_goemotions("test")
    targets = goemotions_face_targets(labels)
    keep = [i for i, t in enumerate(targets) if len(t) == 1]
    analyzer = TextAnalyzer(language="en")
    results = analyzer.analyze_batch([texts[i] for i in keep])
    p = np.array([r.scores.probs for r in results])
    y = np.array([FER2013.index(targets[i][0]) for i in keep])
    return p, y


def voice_probs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold clip probabilities of the 4 speaker-independent fold models (``predictions`` in the voice
    fold report), merged onto the face labels (calm counted as neutral)."""
    from emolens.labels import RAVDESS_TO_FER2013
    from emolens.voice.analyzer import merge_to_fer2013

    rows = json.loads(path.read_text())["predictions"]
    p = np.stack([merge_to_fer2013(np.asarray(r["probs"], np.float64)) for r in rows])
    y = np.array([FER2013.index(RAVDESS_TO_FER2013[r["label"]]) for r in rows])
    return p, y


def make_tuples(ys: dict[str, np.ndarray], per_class: int, rng: np.random.Generator) -> tuple[dict, dict, np.ndarray]:
    """Indices of (face, voice, text) samples per tuple, for a train half and a test half, and the labels."""
    halves: dict[str, dict[str, list[int]]] = {h: {m: [] for m in MODALITIES} for h in ("train", "test")}
    labels = {"train": [], "test": []}
    for c in range(K):
        pools = {}
        for m in MODALITIES:
            idx = rng.permutation(np.flatnonzero(ys[m] == c))
            pools[m] = (idx[: len(idx) // 2], idx[len(idx) // 2 :])
        for h, half in enumerate(("train", "test")):
            if any(len(pools[m][h]) == 0 for m in MODALITIES):
                continue
            for m in MODALITIES:
                halves[half][m] += rng.choice(pools[m][h], per_class, replace=True).tolist()
            labels[half] += [c] * per_class
    return halves["train"], halves["test"], labels


def stack(probs: dict[str, np.ndarray], idx: dict[str, list[int]]) -> np.ndarray:
    return np.stack([probs[m][idx[m]] for m in MODALITIES], axis=1)  # [N, 3, K]


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
        help="Voice fold report with out-of-fold clip predictions (python -m emolens.train.voice --folds).",
    )
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-out", type=Path, help="Save the learned fuser here.")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    probs, ys = {}, {}
    t = time.perf_counter()
    probs["face"], ys["face"] = face_probs()
    probs["voice"], ys["voice"] = voice_probs(a.voice)
    probs["text"], ys["text"] = text_probs()
    log(f"predictions in {time.perf_counter() - t:.0f} s: " + ", ".join(f"{m} {len(ys[m])}" for m in MODALITIES))
    train_idx, test_idx, labels = make_tuples(ys, a.per_class, rng)
    ptr, ytr = stack(probs, train_idx), np.array(labels["train"])
    pte, yte = stack(probs, test_idx), np.array(labels["test"])
    full = np.ones(pte.shape[:2], bool)
    present_tr = rng.random(ptr.shape[:2]) > 0.2  # the learned fuser sees missing modalities in training
    present_tr[~present_tr.any(1), 0] = True
    learned = LearnedFusion.fit(ptr, present_tr, ytr, MODALITIES, FER2013)
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
