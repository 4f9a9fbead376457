"""Validation accuracy of training runs alone and of the uniform average of their weights (a "weight soup").

    python research/weight_soup.py runs/ferplus-cnn-r3 runs/ferplus-cnn-r3-s3 --json docs/results/soup_ferplus.json

The runs must share an architecture and should start from the same weights (a soup of unrelated runs is noise).
Each run's ``best.pt`` is scored on its config's validation split (PublicTest for the presets; all rows, the
argmax of the votes for FER+ runs), with its own batch-norm statistics and with statistics re-estimated on
8,192 training images; the soup is scored both ways too, since averaging batch-norm statistics is not the
statistics of averaged weights. Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from emolens.datasets import data_root
from emolens.train.config import TrainConfig
from emolens.train.data import load_dataset
from emolens.train.loop import _accuracy, _resolve, _to_tensor, build_model, center_crop, evaluate_logits


def reestimate_batch_norm(model: torch.nn.Module, x: torch.Tensor, cfg: TrainConfig, batch: int = 256) -> None:
    """Replace every batch-norm layer's running statistics by their plain average over ``x`` (centre crops)."""
    crops = (
        ((center_crop(x[i : i + batch], cfg.augment.crop) - cfg.mean) / cfg.std).contiguous(
            memory_format=torch.channels_last
        )
        for i in range(0, len(x), batch)
    )
    update_bn(crops, model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders with a best.pt")
    ap.add_argument("--json", type=Path, help="also write the table here")
    ap.add_argument("--bn-images", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = data_root()
    states = [torch.load(r / "best.pt", map_location="cpu", weights_only=False) for r in args.runs]
    cfg = TrainConfig.from_dict(states[0]["config"])
    if any(s["config"]["arch"] != cfg.arch or s["config"]["labels"] != cfg.labels for s in states):
        ap.error("the runs differ in architecture or labels")
    val = load_dataset(_resolve(cfg.val, root), cfg.labels)
    xva, yva = _to_tensor(val.x, cfg.input_size), torch.from_numpy(val.y)
    train = load_dataset(_resolve(cfg.train, root), cfg.labels)
    pick = np.sort(np.random.default_rng(0).choice(len(train), min(args.bn_images, len(train)), replace=False))
    xtr = _to_tensor(train.x[pick], cfg.input_size)

    def score(weights: dict[str, torch.Tensor]) -> dict[str, float]:
        out = {}
        for how in ("own", "reestimated"):
            model = build_model(cfg, pretrained=False)
            model.load_state_dict(weights)
            model = model.to(memory_format=torch.channels_last)
            if how == "reestimated":
                reestimate_batch_norm(model, xtr, cfg)
            out[f"bn_{how}"] = round(
                _accuracy(evaluate_logits(model, xva, cfg.augment.crop, cfg.mean, cfg.std), yva), 4
            )
        return out

    rows = [{"model": str(r), **score(s["model"])} for r, s in zip(args.runs, states, strict=True)]
    first = states[0]["model"]
    soup = {k: (sum(s["model"][k].double() for s in states) / len(states)).to(first[k].dtype) for k in first}
    rows.append({"model": "soup of " + " + ".join(r.name for r in args.runs), **score(soup)})
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}}  BN own  BN re-estimated   ({cfg.val}, {len(val)} images)")
    for r in rows:
        print(f"{r['model']:<{width}}  {r['bn_own']:.4f}  {r['bn_reestimated']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"val": cfg.val, "labels": cfg.labels, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
