"""Fit the learned fuser (:class:`emolens.fusion.LearnedFusion`) on pseudo-multimodal tuples.

No aligned face + voice + text corpus is available, so each modality's model is run on its own test set, never
seen in its training:

- face: emotion-fer2013 on FER2013 PrivateTest;
- voice: the 4 RAVDESS fold models, each on the 6 actors it never heard (out-of-fold; calm counted as neutral),
  read from the fold report that ``emolens train voice --folds`` writes (``docs/results/voice_cnn_folds.json``);
- text: text-en-goemotions on the GoEmotions test rows with exactly one Ekman label (neutral included).

A tuple joins one face, one clip and one text of the same label, drawn with a fixed seed; every label gets
``per_class`` tuples, and tuples are split by their underlying samples into a half that trains the fuser and a
half kept for measuring (no sample is in both halves). ``emolens train fusion`` fits and saves the fuser that
``emolens fuse --rule learned --model FILE`` loads; ``scripts/bench_fusion.py`` measures it on the other half.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import DataError
from emolens.fusion import LearnedFusion
from emolens.labels import FER2013

MODALITIES = ("face", "voice", "text")
#: The share of modalities hidden at random in the training tuples, so the fuser learns to do without them.
MISSING_RATE = 0.2


def face_probs(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """emotion-fer2013's probabilities on FER2013 PrivateTest and the labels."""
    from emolens.emotion.classifier import EmotionModel
    from emolens.evaluate.runner import load_labelled_npz

    x, y = load_labelled_npz(root / "fer2013" / "private_test.npz")
    return EmotionModel().predict(x), y


def text_probs() -> tuple[np.ndarray, np.ndarray]:
    """text-en-goemotions' probabilities on the GoEmotions test rows with exactly one face label, and the labels."""
    from emolens.text import TextAnalyzer
    from emolens.text.data import goemotions_face_targets, load_goemotions

    texts, labels = load_goemotions("test")
    targets = goemotions_face_targets(labels)
    keep = [i for i, t in enumerate(targets) if len(t) == 1]
    results = TextAnalyzer(language="en").analyze_batch([texts[i] for i in keep])
    p = np.array([r.scores.probs for r in results])
    y = np.array([FER2013.index(targets[i][0]) for i in keep])
    return p, y


def voice_probs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold clip probabilities of the 4 speaker-independent fold models (``predictions`` in the voice
    fold report), merged onto the face labels (calm counted as neutral)."""
    from emolens.labels import RAVDESS_TO_FER2013
    from emolens.voice.analyzer import merge_to_fer2013

    try:
        rows = json.loads(Path(path).read_text())["predictions"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"not a voice fold report with out-of-fold predictions ({e})", str(path)) from None
    p = np.stack([merge_to_fer2013(np.asarray(r["probs"], np.float64)) for r in rows])
    y = np.array([FER2013.index(RAVDESS_TO_FER2013[r["label"]]) for r in rows])
    return p, y


def make_tuples(ys: dict[str, np.ndarray], per_class: int, rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """Indices of (face, voice, text) samples per tuple, for a train half and a test half, and the labels."""
    halves: dict[str, dict[str, list[int]]] = {h: {m: [] for m in MODALITIES} for h in ("train", "test")}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for c in range(len(FER2013)):
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
    """The tuples' probabilities, ``[N, 3, K]`` in :data:`MODALITIES` order."""
    return np.stack([probs[m][idx[m]] for m in MODALITIES], axis=1)


@dataclass
class FusionTuples:
    """The two halves of the tuples: probabilities ``[N, 3, K]`` and labels ``[N]``."""

    train_probs: np.ndarray
    train_labels: np.ndarray
    test_probs: np.ndarray
    test_labels: np.ndarray


def build_tuples(
    probs: dict[str, np.ndarray], ys: dict[str, np.ndarray], per_class: int, rng: np.random.Generator
) -> FusionTuples:
    train_idx, test_idx, labels = make_tuples(ys, per_class, rng)
    return FusionTuples(
        stack(probs, train_idx), np.array(labels["train"]), stack(probs, test_idx), np.array(labels["test"])
    )


def fit_fuser(probs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> LearnedFusion:
    """Fit the fuser on tuples with :data:`MISSING_RATE` of their modalities hidden (each keeps at least one)."""
    present = rng.random(probs.shape[:2]) > MISSING_RATE
    present[~present.any(1), 0] = True
    return LearnedFusion.fit(probs, present, labels, MODALITIES, FER2013)


def modality_predictions(root: Path, voice_report: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each modality's probabilities on its own test set and the labels, keyed by :data:`MODALITIES`."""
    probs, ys = {}, {}
    probs["voice"], ys["voice"] = voice_probs(voice_report)  # first: a wrong report fails before the slow parts
    probs["face"], ys["face"] = face_probs(root)
    probs["text"], ys["text"] = text_probs()
    return {m: probs[m] for m in MODALITIES}, {m: ys[m] for m in MODALITIES}


def train_fuser(
    root: Path, voice_report: Path, out: Path, *, per_class: int = 300, seed: int = 0
) -> tuple[LearnedFusion, dict]:
    """Fit the fuser on the training half of the tuples and save it to ``out``; returns it and a summary."""
    rng = np.random.default_rng(seed)
    probs, ys = modality_predictions(root, voice_report)
    tuples = build_tuples(probs, ys, per_class, rng)
    fuser = fit_fuser(tuples.train_probs, tuples.train_labels, rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    fuser.save(out)
    summary = {
        "model": str(out),
        "samples": {m: len(ys[m]) for m in MODALITIES},
        "tuples": {"train": len(tuples.train_labels), "held_out": len(tuples.test_labels)},
        "per_class": per_class,
        "seed": seed,
    }
    return fuser, summary
