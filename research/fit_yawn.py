"""Fit the yawn classifier (``emolens.attention.estimate.YAWN_MODEL``) and measure it out of fold.

Input: the faces collected by ``research/yawn_faces.py`` (run it first). The classifier is a class-balanced
logistic regression on :func:`emolens.attention.geometry.yawn_features` (the head-pose-normalised inner-lip gap,
the gap over the mouth width and how low the mouth corners sit under the upper lip; ``--features 0,1`` keeps the
first two, the model shipped before 2026-12-07 13:00 UTC), fitted with

- positives: all 200 yawning faces of ``attention/yawn``;
- negatives: all faces found in its 120 ``none`` photos and the 986 ``train`` faces of ``faces_extra/taiwanese``
  (posed laughs, surprise, fear); ``--expw`` adds the open-mouth ``train`` faces of ``faces_extra/expw``.

Faces whose mesh does not see a face (its face score under 0.5) get no decision, as in the package: a missed
yawn, never a false one. The threshold (probability 0.5) sits at the ``--percentile`` (8) percentile of the
fitting yawns' scores.

Features are chosen on the out-of-fold figures only, by the mean of the two negative sources' false-yawn rates
(``none``: talking and eating in web photos; ``taiwanese``: posed laughs, surprise and fear) at recall ≥ 0.90,
never on the grid.

Because the issue's figures are over all 200 yawns and all ``none`` faces, they are measured **out of fold**: a
5-fold cross-validation (``StratifiedGroupKFold``, ``--seeds`` shuffles) in which each fold's model and threshold
are fitted on the other folds only, with groups that keep near-duplicates and one person's photos together:
``yawn``/``none`` faces whose SFace embeddings have a cosine similarity over ``--same`` (0.5) are joined
(connected components; the SFace manifest puts same-person probability 0.5 at 0.35), and the taiwanese faces are
grouped by performer. ``photos/expression_grid.jpg`` is never fitted on; it is scored by the final model.

Usage::

    python research/yawn_faces.py --out /tmp/yawn_core.npz --sources yawn,none,grid
    python research/yawn_faces.py --out /tmp/yawn_tw.npz --sources taiwanese
    python research/fit_yawn.py /tmp/yawn_core.npz /tmp/yawn_tw.npz [--percentile 8] [--features 0,1,2]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def load(paths: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in paths]
    return {k: np.concatenate([d[k] for d in parts]) for k in parts[0].files}


def person_groups(data: dict[str, np.ndarray], same: float) -> np.ndarray:
    """Group keys: ``yawn``/``none`` faces joined by SFace cosine similarity over ``same``, others as given."""
    from scipy.sparse.csgraph import connected_components

    groups = data["group"].astype(object)
    idx = np.flatnonzero(np.isin(data["source"], ["yawn", "none"]))
    emb = data["emb"][idx]
    _, comp = connected_components(emb @ emb.T > same, directed=False)
    groups[idx] = [f"person{c}" for c in comp]
    return groups.astype(str)


def fit(x: np.ndarray, y: np.ndarray, percentile: float) -> dict:
    """Standardise, fit a class-balanced logistic regression, and shift its intercept so that probability 0.5 sits
    at the ``percentile`` percentile of the positives' scores."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(0), x.std(0)
    clf = LogisticRegression(class_weight="balanced", C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    z = clf.decision_function((x - mean) / scale)
    shift = float(np.percentile(z[y == 1], percentile))
    return {
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": clf.coef_[0].round(6).tolist(),
        "intercept": round(float(clf.intercept_[0]) - shift, 6),
    }


def yawning(model: dict, x: np.ndarray) -> np.ndarray:
    from emolens.attention.estimate import yawn_probability

    return np.array([yawn_probability(f, model) >= 0.5 for f in x])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("faces", type=Path, nargs="+", help="files written by research/yawn_faces.py")
    ap.add_argument("--percentile", type=float, default=8.0, help="fitting-yawn score percentile of the threshold")
    ap.add_argument("--same", type=float, default=0.5, help="SFace cosine similarity that joins two faces' groups")
    ap.add_argument("--seeds", type=int, default=3, help="cross-validation shuffles")
    ap.add_argument("--expw", action="store_true", help="also the expw open-mouth faces as negatives")
    ap.add_argument("--features", default="0,1,2", help="which yawn_features columns to fit on")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from sklearn.model_selection import StratifiedGroupKFold

    from emolens.attention.estimate import MESH_FACE
    from emolens.attention.geometry import yawn_features

    data = load(args.faces)
    src = data["source"].astype(str)
    x = np.array([yawn_features(p) for p in data["points"]])
    try:
        cols = [int(c) for c in args.features.split(",")]
    except ValueError:
        ap.error(f"--features: comma-separated column numbers, got {args.features!r}")
    if not cols or not all(0 <= c < x.shape[1] for c in cols):
        ap.error(f"--features: columns of yawn_features are 0 to {x.shape[1] - 1}, got {args.features!r}")
    x = x[:, cols]
    x[data["score"] < MESH_FACE] = np.nan  # as in the package: no yawn where the mesh does not see a face
    y = data["label"].astype(int)
    groups = person_groups(data, args.same)
    use = np.isin(src, ["yawn", "none", "taiwanese"]) | (args.expw & np.char.startswith(src, "expw"))
    use &= np.isfinite(x).all(1)
    idx = np.flatnonzero(use)
    out: dict = {
        "features": cols,
        "faces": {s: int((src[use] == s).sum()) for s in sorted(set(src[use]))},
        "folds": [],
    }
    for seed in range(args.seeds):
        hit = np.zeros(len(y), bool)
        for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(x[idx], y[idx], groups[idx]):
            model = fit(x[idx[tr]], y[idx[tr]], args.percentile)
            hit[idx[te]] = yawning(model, x[idx[te]])
        # yawning faces the detector missed or whose features are missing count as missed
        recall = round(float(hit[src == "yawn"].sum() / 200), 4)
        none = src == "none"
        fired = sorted(str(n) for n in data["name"][none & hit])
        tw = src == "taiwanese"
        out["folds"].append(
            {
                "seed": seed,
                "recall": recall,
                "none_faces": int(none.sum()),
                "none_false": fired,
                "taiwanese_faces": int(tw.sum()),
                "taiwanese_false": int((tw & hit).sum()),
                # the selection figure: each negative source's false-yawn rate counts the same
                "mean_false_rate": round(float(np.mean([(s & hit).sum() / s.sum() for s in (none, tw) if s.any()])), 4),
            }
        )
    fitted = fit(x[idx], y[idx], args.percentile)  # on the chosen columns; the package's model names them
    grid = x[src == "grid"]
    final = yawning(fitted, x)
    out["model"] = {"features": cols, **fitted}
    out["final_in_sample"] = {
        "recall": round(float(final[src == "yawn"].sum() / 200), 4),
        "none_false": int(final[src == "none"].sum()),
        "taiwanese_false": int(final[src == "taiwanese"].sum()),
    }
    out["grid"] = {"faces": len(grid), "false": int(yawning(fitted, grid).sum())}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
