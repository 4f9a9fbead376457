"""A wider `cnn` that starts exactly where a trained one ended (Net2WiderNet), as an ``init_from`` checkpoint.

    python research/widen_cnn.py runs/fer2013-cnn-r4 --widths 40 80 160 320 --out runs/widen/fer2013-w40.pt
    emolens train --config fer2013-cnn-r3 --set 'arch_kwargs={"widths": [40, 80, 160, 320]}' \\
        --set init_from=runs/widen/fer2013-w40.pt --run-dir runs/fer2013-cnn-w40

It prints the largest difference between the two networks' logits on a few of the run's validation faces
(float rounding, about 1e-6), so a wrong copy shows at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from emolens.datasets import data_root
from emolens.train.architectures import SimpleCNN, widen_cnn
from emolens.train.config import TrainConfig
from emolens.train.data import load_dataset
from emolens.train.loop import _resolve, _to_tensor, build_model, evaluate_logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder of a `cnn` (its best.pt and config.json)")
    ap.add_argument("--widths", type=int, nargs="+", required=True, help="channels of each stage, e.g. 40 80 160 320")
    ap.add_argument("--seed", type=int, default=0, help="which channels are copied, and the shares")
    ap.add_argument("--out", type=Path, required=True, help="the checkpoint to write")
    args = ap.parse_args()
    cfg = TrainConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    model = build_model(cfg, pretrained=False)
    if not isinstance(model, SimpleCNN):
        raise SystemExit(f"{args.run} is a {cfg.arch!r} run; only a `cnn` can be widened")
    model.load_state_dict(torch.load(args.run / "best.pt", map_location="cpu", weights_only=False)["model"])
    wide = widen_cnn(model, tuple(args.widths), seed=args.seed)
    faces = load_dataset(_resolve(cfg.val, data_root()), cfg.labels).x[:256]
    x = _to_tensor(faces, cfg.input_size)
    logits = [evaluate_logits(m, x, cfg.augment.crop, cfg.mean, cfg.std) for m in (model, wide)]
    gap = float((logits[0] - logits[1]).abs().max())
    if gap > 1e-3:
        raise SystemExit(f"the wide network differs from {args.run} by {gap:.2e} in its logits; nothing written")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": wide.state_dict(), "widened_from": str(args.run / "best.pt"), "widths": args.widths}, args.out)
    n_old = sum(p.numel() for p in model.parameters())
    n_new = sum(p.numel() for p in wide.parameters())
    print(f"{n_old:,} -> {n_new:,} parameters; largest logit difference on 256 validation faces {gap:.2e}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
