"""Weight-space interpolation between a fine-tuning run's start and its result (WiSE-FT, Wortsman et al., 2022).

    python research/wise_ft.py /work/cache/runs/fer2013-cnn-xsource --alpha 0 0.25 0.5 0.75 1 \
        --json docs/results/wise_ft.json --write 0.5 --out /work/cache/runs/xsource-wise50

A run that fine-tunes the shipped model on more sources (``init_from`` an ONNX model, ``extra_train``) trades
accuracy on the first corpus for accuracy on the others. The weights ``(1 - alpha) * start + alpha * best`` often
keep most of both: the two ends share their start, so the straight line between them stays in one basin. Each
alpha is scored on the run's validation sets (``val`` and ``val_sets``: never a ``dev`` or test split), with the
batch-norm statistics interpolated like the weights and, separately, re-estimated on training rows drawn from
every source as the run drew them. ``--write ALPHA`` saves that mix as a run folder (``best.pt``, ``config.json``,
``init.json`` and ``interpolation.json``) that ``emolens export`` takes like any run. Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from emolens.datasets import data_root
from emolens.train.config import TrainConfig
from emolens.train.data import load_dataset
from emolens.train.loop import (
    _accuracy,
    _resolve,
    _to_tensor,
    build_model,
    evaluate_logits,
    load_onnx_start,
)
from emolens.train.teachers import resolve_teacher
from weight_soup import reestimate_batch_norm  # research/ is on sys.path when this file runs


def start_weights(cfg: TrainConfig, xtr: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weights the run started from: its ``init_from`` ONNX model loaded as the training loop loads it."""
    path, _ = resolve_teacher(cfg.init_from, field="init_from")
    model = build_model(cfg, pretrained=False)
    load_onnx_start(model, path, xtr, cfg)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def mix(start: dict, end: dict, alpha: float) -> dict:
    return {
        k: ((1 - alpha) * start[k].double() + alpha * end[k].double()).to(end[k].dtype)
        if end[k].is_floating_point()
        else end[k]
        for k in end
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder with best.pt, started from an ONNX model (init_from)")
    ap.add_argument("--alpha", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--bn-images", type=int, default=8192)
    ap.add_argument("--json", type=Path, help="also write the table here")
    ap.add_argument("--write", type=float, help="save this alpha's weights as a run folder (--out)")
    ap.add_argument("--bn", choices=("interpolated", "reestimated"), default="interpolated")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = data_root()
    state = torch.load(args.run / "best.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(state["config"])
    if not cfg.init_from or cfg.init_from.endswith((".pt", ".pth")):
        ap.error("the run must start from an exported ONNX model (init_from)")
    train = [load_dataset(_resolve(s, root), cfg.labels) for s in (cfg.train, *cfg.extra_train)]
    xtr0 = _to_tensor(train[0].x, cfg.input_size)
    start = start_weights(cfg, xtr0)
    # Rows for re-estimating batch norm, drawn across sources as the run's epochs draw them (source_balance).
    sizes = np.array([len(t) for t in train], dtype=float)
    share = sizes**cfg.source_balance / (sizes**cfg.source_balance).sum()
    rng = np.random.default_rng(0)
    parts = []
    for t, s in zip(train, share, strict=True):
        n = min(len(t), round(args.bn_images * s))
        parts.append(_to_tensor(t.x[np.sort(rng.choice(len(t), n, replace=False))], cfg.input_size))
    xbn = torch.cat(parts)
    vals = {}
    for spec in (cfg.val, *cfg.val_sets):
        v = load_dataset(_resolve(spec, root), cfg.labels)
        vals[spec] = (_to_tensor(v.x, cfg.input_size), torch.from_numpy(v.y))

    def score(weights: dict, how: str) -> dict[str, float]:
        model = build_model(cfg, pretrained=False)
        model.load_state_dict(weights)
        model = model.to(memory_format=torch.channels_last)
        if how == "reestimated":
            reestimate_batch_norm(model, xbn, cfg)
        per = {
            spec: round(_accuracy(evaluate_logits(model, x, cfg.augment.crop, cfg.mean, cfg.std), y), 4)
            for spec, (x, y) in vals.items()
        }
        return {**per, "mean": round(float(np.mean(list(per.values()))), 4)}

    rows = []
    for alpha in args.alpha:
        for how in ("interpolated", "reestimated"):
            rows.append({"alpha": alpha, "bn": how, **score(mix(start, state["model"], alpha), how)})
            print(json.dumps(rows[-1]))
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "rows": rows}, indent=2) + "\n")
    if args.write is not None:
        if args.out is None:
            ap.error("--write needs --out")
        weights = mix(start, state["model"], args.write)
        if args.bn == "reestimated":
            model = build_model(cfg, pretrained=False)
            model.load_state_dict(weights)
            reestimate_batch_norm(model, xbn, cfg)
            weights = model.state_dict()
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save({**state, "model": weights}, args.out / "best.pt")
        for name in ("config.json", "init.json", "data.json", "teachers.json"):
            if (args.run / name).exists():
                shutil.copy(args.run / name, args.out / name)
        record = {"from": str(args.run), "alpha": args.write, "batch_norm": args.bn, "epoch": int(state["epoch"])}
        (args.out / "interpolation.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
