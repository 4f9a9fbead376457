"""Score emotion models on each source's held-out validation rows (the ``train``-side ``val`` cut of
``faces_extra``, aligned once by ``research/cache_faces_extra.py``) and FER2013 PublicTest, and print the mean over
sources: the figure a cross-source model is chosen on.

    python research/score_sources.py -m emotion-fer2013 -m runs/x/emotion-fer2013.json [--split val]

``--split dev`` scores the cached dev faces instead: the faces ``emolens evaluate --input photos`` finds, so a
quick check of the dev figures that ``emolens evaluate --suite`` reports (never select on them).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from emolens.align import FER2013_TEMPLATE
from emolens.datasets import data_root
from emolens.emotion import EmotionModel
from emolens.evaluate.metrics import classification_report
from emolens.train.sources import SOURCES, cache_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", action="append", required=True)
    ap.add_argument("--split", default="val", choices=("val", "dev"))
    ap.add_argument("--cache", default="../cache/faces_extra")
    ap.add_argument("--json")
    args = ap.parse_args()
    cache = f"{args.cache}/{cache_key('retinaface', FER2013_TEMPLATE, 48)}"
    out = {}
    for name in args.model:
        m = EmotionModel(name, threads=1)
        rows = {}
        if args.split == "val":
            with np.load(data_root() / "fer2013" / "public_test.npz") as d:
                x, y = d["x"], d["y"]
            p = m.predict(x)
            r = classification_report(y, p.argmax(1), m.labels, probs=p)
            rows["fer2013 public_test"] = r
        for s in SOURCES:
            with np.load(f"{cache}/{s}.npz") as d:
                k = d["split"] == args.split
                x, y, found = d["x"][k], d["y"][k], d["found"][k]
            p = m.predict(x)
            pred = np.where(found, p.argmax(1), -1)  # a face not found is an error, as in evaluate
            rows[f"{s} {args.split}"] = classification_report(y, pred, m.labels, probs=np.where(found[:, None], p, 0))
        mean = float(np.mean([r.accuracy for r in rows.values()]))
        out[name] = {
            k: {"n": r.n, "accuracy": round(r.accuracy, 4), "macro_f1": round(r.macro_f1, 4), "ece": round(r.ece, 4)}
            for k, r in rows.items()
        }
        out[name]["mean_accuracy"] = round(mean, 4)
        print(f"{name} (T={m.temperature})")
        for k, r in rows.items():
            print(f"  {k:22s} n {r.n:5d}  acc {r.accuracy:.4f}  macro-F1 {r.macro_f1:.4f}  ECE {r.ece:.4f}")
        print(f"  {'mean over sources':22s}          acc {mean:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
