"""Reference row for docs/voice.md: eGeMAPSv02 functionals (openSMILE, 88 features a clip) + multinomial logistic
regression, RAVDESS speech 8 classes, the same 4 folds by actor as the CNN. Needs ``pip install opensmile``.

    python research/voice_egemaps_baseline.py --out docs/results/voice_egemaps.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.labels import RAVDESS

FOLDS = {k: set(range(6 * (k - 1) + 1, 6 * k + 1)) for k in range(1, 5)}


def features(cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    root = data_root() / "audio" / "ravdess"
    rows = list(csv.DictReader(open(root / "metadata.csv", newline="")))
    if cache.exists():
        z = np.load(cache)
        return z["x"], z["y"], z["actor"], [r["file"] for r in rows]
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    from emolens.io.audio import load_audio

    x = np.stack([smile.process_signal(load_audio(root / r["file"]).samples, 16000).to_numpy()[0] for r in rows])
    y = np.array([int(r["emotion_code"]) - 1 for r in rows])
    actor = np.array([int(r["actor"]) for r in rows])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, y=y, actor=actor)
    return x, y, actor, [r["file"] for r in rows]


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 3000, lr: float = 0.05) -> np.ndarray:
    """Multinomial logistic regression (weights incl. bias) by full-batch Adam on the mean log-loss + L2."""
    n, d = x.shape
    k = int(y.max()) + 1
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros((d + 1, k))
    m = v = np.zeros_like(w)
    t1 = np.eye(k)[y]
    for t in range(1, iters + 1):
        z = xb @ w
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = xb.T @ (p - t1) / n
        g[:-1] += l2 * w[:-1]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=Path("runs/voice/egemaps.npz"))
    ap.add_argument("--out", type=Path, default=Path("docs/results/voice_egemaps.json"))
    ap.add_argument("--l2", type=float, default=1e-2)
    a = ap.parse_args()
    t0 = time.time()
    x, y, actor, files = features(a.cache)
    feat_s = time.time() - t0
    accs, per_fold, preds = [], {}, {}
    cm = np.zeros((8, 8), int)
    for k, test_actors in FOLDS.items():
        te = np.isin(actor, list(test_actors))
        mu, sd = x[~te].mean(0), x[~te].std(0) + 1e-8  # standardised with training-fold statistics only
        w = fit_logreg((x[~te] - mu) / sd, y[~te], a.l2)
        xt = np.hstack([(x[te] - mu) / sd, np.ones((te.sum(), 1))])
        p = (xt @ w).argmax(1)
        acc = float((p == y[te]).mean())
        accs.append(acc)
        per_fold[f"fold{k}"] = round(acc, 4)
        np.add.at(cm, (y[te], p), 1)
        for i, pi in zip(np.flatnonzero(te), p, strict=True):
            preds[files[i]] = RAVDESS[pi]
    out = {
        "model": f"eGeMAPSv02 functionals (88) + multinomial logistic regression (L2 {a.l2:g})",
        "protocol": "RAVDESS speech, 8 classes, 4 folds by actor (1-6, 7-12, 13-18, 19-24), train-fold z-scoring",
        "accuracy_mean": round(float(np.mean(accs)), 4),
        "accuracy_std": round(float(np.std(accs)), 4),
        "per_fold": per_fold,
        "per_class_recall": {RAVDESS[i]: round(float(cm[i, i] / cm[i].sum()), 4) for i in range(8)},
        "confusion": cm.tolist(),
        "feature_seconds": round(feat_s, 1),
        "command": "python research/voice_egemaps_baseline.py --out " + str(a.out),
        "predictions": preds,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("predictions", "confusion")}))


if __name__ == "__main__":
    main()
