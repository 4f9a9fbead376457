"""How much each pruning criterion loses before any fine-tuning: FER2013 PublicTest accuracy of the shipped
`emotion-fer2013` pruned by each channel ranking, with the batch norms re-estimated on Training rows (and without).

Costs seconds a criterion (no training), so it is how `emolens prune --importance/--global/--keep-first` is chosen;
PrivateTest is not used.

    python scripts/prune_criteria.py --ratio 0.3 0.5 --json docs/results/pruning_criteria.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

from emolens.datasets import data_root
from emolens.train.prune import (
    arch_kwargs,
    count,
    inputs,
    prune_channels,
    rebuild,
    recalibrate_batch_norms,
    val_accuracy,
)

# (importance, global ranking, first convolution kept whole)
CRITERIA = [
    ("l2", False, False),
    ("l1", False, False),
    ("bn", False, False),
    ("fpgm", False, False),
    ("l2", False, True),
    ("l2", True, False),
    ("lamp", True, False),
    ("bn", True, False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--model", default="emotion-fer2013")
    ap.add_argument("--ratio", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--recalibrate", type=int, default=2048, help="Training rows for the batch norms.")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--round-to",
        type=int,
        default=1,
        help="Channels kept a multiple of N (1: any number, as in privacy.md's table).",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    root = data_root()
    rb = rebuild(args.model, root, args.threads)
    calib = inputs(rb, rb.train_x[: args.recalibrate])
    rows = [{"criterion": "unpruned", "public_test": round(val_accuracy(rb.net, rb, root), 4)}]
    rows[0]["macs"], rows[0]["parameters"] = count(rb.net, rb.crop)
    for ratio in args.ratio:
        for importance, global_pruning, keep_first in CRITERIA:
            net = copy.deepcopy(rb.net)
            prune_channels(net, ratio, rb.crop, importance, global_pruning, keep_first, args.round_to)
            row: dict = {
                "ratio": ratio,
                "importance": importance,
                "global_pruning": global_pruning,
                "keep_first": keep_first,
                **arch_kwargs(net),
                "public_test_stale_bn": round(val_accuracy(net, rb, root), 4),
            }
            recalibrate_batch_norms(net, calib)
            row["public_test"] = round(val_accuracy(net, rb, root), 4)
            row["macs"], row["parameters"] = count(net, rb.crop)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = {
        "model": args.model,
        "split": "FER2013 PublicTest",
        "batch_norm_recalibration_rows": args.recalibrate,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
