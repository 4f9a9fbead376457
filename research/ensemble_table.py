"""Accuracy of emotion models alone and of every average of their probabilities, on one FER2013 split.

    python research/ensemble_table.py --split public_test --labels ferplus emotion-ferplus path/to/other.json

Models are shipped names or manifest paths with the same classes. Use it on PublicTest to decide what to
ship; PrivateTest is for the figures of what ships.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.emotion import EmotionModel
from emolens.evaluate.runner import load_labelled_npz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="shipped model names or manifest paths")
    ap.add_argument("--split", default="public_test", help="an npz in the fer2013 dataset folder")
    ap.add_argument("--labels", default="fer2013", choices=("fer2013", "ferplus"))
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    x, y = load_labelled_npz(data_root() / "fer2013" / f"{args.split}.npz", args.labels)
    probs = {m: EmotionModel(m, threads=2).predict(x) for m in args.models}
    names = {m: Path(m).stem if m.endswith(".json") else m for m in args.models}
    table = {}
    for r in range(1, len(args.models) + 1):
        for combo in itertools.combinations(args.models, r):
            p = np.mean([probs[m] for m in combo], axis=0)
            table[" + ".join(names[m] for m in combo)] = round(float((p.argmax(1) == y).mean()), 4)
    report = {"split": args.split, "labels": args.labels, "rows": len(y), "accuracy": table}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
