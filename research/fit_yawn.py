"""Fit the yawn classifier: a logistic regression on five face-mesh features (``geometry.yawn_features``).

The declared split (nothing else of ``attention/yawn`` is used):

- positives: the 169 ``valid`` yawns of ``attention/yawn``;
- negatives: the ``train`` split of ``faces_extra/taiwanese`` (986 posed faces of 23 performers: laughs,
  surprise and fear open the mouth wide), the **first half** of the ``none`` photos of ``attention/yawn``
  (sorted by file name, every other one from the first: people talking and eating in cars, the kind of face the
  posed set lacks) and, with ``--expw N``, N faces of the ``train`` split of ``faces_extra/expw``.

Reported elsewhere (``scripts/bench_attention.py``) and never fitted on: the 31 ``test`` yawns, the second half of
the ``none`` photos and ``photos/expression_grid.jpg``.

The decision threshold is not the regression's 0.5: the intercept is shifted so that probability 0.5 sits at the
``--percentile`` (8) percentile of the valid yawns' scores, i.e. recall 0.92 on the fitting yawns, as far from the
negatives as a recall above the 0.90 target allows. Prints the coefficients to paste into
``emolens/attention/estimate.py`` (``YAWN_MODEL``).

Usage: ``python research/fit_yawn.py [--data DIR] [--percentile 8] [--expw 1500] [--json out.json]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def features(analyzer, att, path: Path, centre=None) -> np.ndarray | None:
    from emolens.attention.geometry import yawn_features
    from emolens.io.images import load_image

    rgb = load_image(path).rgb
    dets = analyzer.detect(rgb)
    if centre is not None:
        dets = [d for d in dets if d.box.x1 <= centre[0] <= d.box.x2 and d.box.y1 <= centre[1] <= d.box.y2]
    if not dets:
        return None
    m = att.measures(rgb, [max(dets, key=lambda d: d.box.area)])[0]
    return yawn_features(m.mesh.points, (m.ear_left + m.ear_right) / 2)


def all_features(analyzer, att, path: Path) -> list[np.ndarray]:
    """The yawn features of every face found in a photo."""
    from emolens.attention.geometry import yawn_features
    from emolens.io.images import load_image

    rgb = load_image(path).rgb
    dets = analyzer.detect(rgb)
    if not dets:
        return []
    return [yawn_features(m.mesh.points, (m.ear_left + m.ear_right) / 2) for m in att.measures(rgb, dets)]


def none_fit_half(rows: list[dict]) -> list[dict]:
    """The declared fitting half of the ``none`` photos: sorted by file name, every other one from the first."""
    return sorted((r for r in rows if r["label"] == "none"), key=lambda r: r["file"])[0::2]


def fit(pos: np.ndarray, neg: np.ndarray, percentile: float = 8.0) -> dict:
    """Standardise, fit a balanced logistic regression, and shift its intercept so that probability 0.5 sits at
    the ``percentile`` percentile of the positives' scores."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([pos, neg])
    y = np.array([1] * len(pos) + [0] * len(neg))
    ok = np.isfinite(x).all(axis=1)
    x, y = x[ok], y[ok]
    mean, scale = x.mean(0), x.std(0)
    clf = LogisticRegression(class_weight="balanced", C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    z = clf.decision_function((x - mean) / scale)
    shift = float(np.percentile(z[y == 1], percentile))
    return {
        "positives": int(y.sum()),
        "negatives": int((1 - y).sum()),
        "percentile": percentile,
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": clf.coef_[0].round(6).tolist(),
        "intercept": round(float(clf.intercept_[0]) - shift, 6),
        "train_recall": round(float((z[y == 1] >= shift).mean()), 4),
        "train_false_rate": round(float((z[y == 0] >= shift).mean()), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("EMOLENS_DATA", REPO.parent / "shared/datasets")))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--expw", type=int, default=0, help="also this many ExpW train faces as negatives")
    ap.add_argument("--percentile", type=float, default=8.0, help="valid-yawn score percentile of the threshold")
    args = ap.parse_args()
    from emolens import Analyzer
    from emolens.attention import AttentionAnalyzer

    analyzer, att = Analyzer("retinaface", threads=2), AttentionAnalyzer(threads=2)
    pos, neg = [], []
    rows = list(csv.DictReader(open(args.data / "attention/yawn/labels.csv")))
    for r in rows:
        if r["split"] == "valid" and r["label"] == "yawn":
            c = ((float(r["x1"]) + float(r["x2"])) / 2, (float(r["y1"]) + float(r["y2"])) / 2)
            f = features(analyzer, att, args.data / "attention/yawn/images" / r["file"], c)
            if f is not None:
                pos.append(f)
    for r in none_fit_half(rows):
        neg += all_features(analyzer, att, args.data / "attention/yawn/images" / r["file"])
    tw = args.data / "faces_extra/taiwanese"
    for r in csv.DictReader(open(tw / "labels.csv")):
        if r["split"] == "train":
            f = features(analyzer, att, tw / "images" / r["file"])
            if f is not None:
                neg.append(f)
    if args.expw:
        ex = args.data / "faces_extra/expw"
        rows = [r for r in csv.DictReader(open(ex / "labels.csv")) if r["split"] == "train"]
        order = {"surprise": 0, "happy": 1, "fear": 2, "disgust": 3, "angry": 4, "sad": 5, "neutral": 6}
        rows = sorted(rows[::3], key=lambda r: order.get(r["label"], 9))[: args.expw]
        for r in rows:
            f = features(analyzer, att, ex / "images" / r["file"])
            if f is not None:
                neg.append(f)
    out = fit(np.array(pos), np.array(neg), args.percentile)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
