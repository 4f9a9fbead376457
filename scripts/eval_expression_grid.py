"""Faces found and labels matched on the labelled 5x5 expression grid (../shared/datasets/photos).

python scripts/eval_expression_grid.py [--model emotion-fer2013] [--tta]
"""

from __future__ import annotations

import argparse
import json

import emolens
from emolens.datasets import data_root
from emolens.evaluate.grid import grid_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="emotion-fer2013")
    ap.add_argument("--tta", action="store_true")
    args = ap.parse_args()
    photos = data_root() / "photos"
    meta = json.loads((photos / "expression_grid.json").read_text())
    result = emolens.Analyzer(model=args.model, tta=args.tta).analyze(str(photos / "expression_grid.jpg"))
    s = grid_summary(meta, result)
    print(
        f"faces found {s['faces']} / 25; cells with one face {s['cells_with_one_face']}; "
        f"labels right {s['labels_right']} / {s['cells']}"
    )
    print("| label | right | of |\n|---|---:|---:|")
    for label, v in s["per_label"].items():
        print(f"| {label} | {v['right']} | {v['of']} |")


if __name__ == "__main__":
    main()
