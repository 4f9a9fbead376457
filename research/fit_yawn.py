"""Fit the yawn classifier: a logistic regression on four face-mesh features (``geometry.yawn_features``).

Positives: the 169 ``valid`` yawns of ``attention/yawn``. Negatives: the ``train`` split of
``faces_extra/taiwanese`` (986 posed faces of 23 performers: laughs, surprise and fear open the mouth wide) and,
with ``--expw N``, N faces of the ``train`` split of ``faces_extra/expw`` (web photos; every third one, the
open-mouthed classes first), neither of which is ever reported. Nothing of ``attention/yawn`` test, its ``none``
photos or the expression grid is used. Prints the coefficients to paste into
``emolens/attention/estimate.py`` (``YAWN_MODEL``).

Usage: ``python research/fit_yawn.py [--data DIR] [--expw 1500] [--json out.json]``
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("EMOLENS_DATA", REPO.parent / "shared/datasets")))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--expw", type=int, default=0, help="also this many ExpW train faces as negatives")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    from emolens import Analyzer
    from emolens.attention import AttentionAnalyzer

    analyzer, att = Analyzer("retinaface", threads=2), AttentionAnalyzer(threads=2)
    pos, neg = [], []
    for r in csv.DictReader(open(args.data / "attention/yawn/labels.csv")):
        if r["split"] == "valid" and r["label"] == "yawn":
            c = ((float(r["x1"]) + float(r["x2"])) / 2, (float(r["y1"]) + float(r["y2"])) / 2)
            f = features(analyzer, att, args.data / "attention/yawn/images" / r["file"], c)
            if f is not None:
                pos.append(f)
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
    x = np.array(pos + neg)
    y = np.array([1] * len(pos) + [0] * len(neg))
    ok = np.isfinite(x).all(axis=1)
    x, y = x[ok], y[ok]
    mean, scale = x.mean(0), x.std(0)
    clf = LogisticRegression(class_weight="balanced", C=1.0).fit((x - mean) / scale, y)
    p = clf.predict_proba((x - mean) / scale)[:, 1]
    out = {
        "positives": int(y.sum()),
        "negatives": int((1 - y).sum()),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": clf.coef_[0].round(6).tolist(),
        "intercept": round(float(clf.intercept_[0]), 6),
        "train_recall": round(float((p[y == 1] > 0.5).mean()), 4),
        "train_false_rate": round(float((p[y == 0] > 0.5).mean()), 4),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
