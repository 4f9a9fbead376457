"""Training ablations at a reduced budget: what each ingredient of the `fer2013-cnn` recipe gives on PublicTest.

Every variant is the `fer2013-cnn` preset with a few `--set` overrides, trained for the same short cosine
schedule (10 epochs by default, bf16 autocast) on the full FER2013 training split, one thread each, and scored at
its last epoch (no checkpoint selection) on PublicTest with the FER2013 labels. An 8-class FER+ variant is scored
on the 7 FER2013 classes (contempt dropped). Runs resume; a finished run is only re-scored.

    python research/ablate.py --only base,no-aug,...     # train and score (one worker per core)
    python research/ablate.py --table                    # collect docs/results/ablations.json, print markdown
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS_ROOT = ROOT / "runs" / "ablate"
RUNS = RUNS_ROOT / "e10"  # one folder per budget: runs/ablate/e<epochs>/<variant>
RESULTS = ROOT / "docs" / "results" / "ablations.json"
TEACHER = ROOT / "src" / "emolens" / "models" / "emotion-fer2013.onnx"

NO_AUG = {"rotate_deg": 0, "scale": [1, 1], "shift": 0, "brightness": 0, "contrast": 0, "erase_p": 0}

# name -> (what it changes, --set overrides)
VARIANTS: dict[str, tuple[str, dict]] = {
    "base": ("the recipe: CE + label smoothing 0.1, affine + crop + flip + photometric + erasing, SGD cosine", {}),
    "base-seed1": ("the recipe, seed 1 (run-to-run noise)", {"seed": 1}),
    "fp32": ("the recipe trained in fp32 instead of bf16 autocast", {"bf16": False}),
    "no-aug": ("augmentation reduced to random crop + flip", {"augment": NO_AUG}),
    "no-erase": ("without random erasing", {"augment": {"erase_p": 0}}),
    "no-ls": ("plain CE (no label smoothing)", {"label_smoothing": 0.0}),
    "focal": ("focal loss (gamma 2) instead of CE + smoothing", {"loss": "focal", "label_smoothing": 0.0}),
    "class-weights": ("class-weighted CE + smoothing", {"class_weights": True}),
    "mixup": ("MixUp (alpha 0.2) on top", {"augment": {"mixup_alpha": 0.2}}),
    "cutmix": ("CutMix (alpha 1.0) on top", {"augment": {"cutmix_alpha": 1.0}}),
    "ferplus-soft": (
        "FER+ vote distributions (8 classes, KL) instead of the FER2013 labels",
        {"labels": "ferplus", "loss": "kl", "label_smoothing": 0.0},
    ),
    "mobile": (
        "depthwise MobileNet-style net (38 MMAC vs 82, 44 x 44 crops)",
        {"arch": "mobile", "augment": {"crop": 44}},
    ),
    "onecycle": (
        "one-cycle schedule (rise from lr/25 over 30% of the steps, cosine to lr/10,000) instead of warmup + cosine",
        {"schedule": "onecycle"},
    ),
    "adamw": (
        "AdamW (lr 0.002, weight decay 0.05) instead of SGD with Nesterov (lr 0.05, weight decay 5e-4)",
        {"optimizer": "adamw", "lr": 0.002, "weight_decay": 0.05},
    ),
    "resnet-s": ("ResNet-style net (2.8 M parameters, 224 MMAC vs 82)", {"arch": "resnet-s"}),
    "resnet-s-adamw": (
        "ResNet-style net trained with AdamW (lr 0.002, weight decay 0.05)",
        {"arch": "resnet-s", "optimizer": "adamw", "lr": 0.002, "weight_decay": 0.05},
    ),
    "distill": (
        "distillation from the shipped model (weight 0.5, T 4)",
        {"teacher": [str(TEACHER)], "distill_weight": 0.5},
    ),
}


def train(name: str, epochs: int, data: str | None) -> None:
    overrides = {"epochs": epochs, "threads": 1, "bf16": True, **VARIANTS[name][1]}
    cmd = [str(Path(sys.executable).with_name("emolens")), "train", "--config", "fer2013-cnn"]
    cmd += ["--run-dir", str(RUNS / name)]
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={json.dumps(v)}"]
    if data:
        cmd += ["--data", data]
    subprocess.run(cmd, check=True)


def score(name: str, data: str | None) -> dict:
    """Last-epoch accuracy, macro-F1 and ECE on PublicTest (FER2013 labels)."""
    import torch

    from emolens.datasets import data_root
    from emolens.evaluate.metrics import classification_report
    from emolens.labels import labels_for
    from emolens.probability import softmax
    from emolens.train.config import TrainConfig
    from emolens.train.data import load_npz
    from emolens.train.loop import _to_tensor, build_model, evaluate_logits

    state = torch.load(RUNS / name / "last.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(state["config"])
    model = build_model(cfg, pretrained=False)
    model.load_state_dict(state["model"])
    val = load_npz(Path(data or data_root()) / "fer2013" / "public_test.npz", "fer2013")
    logits = evaluate_logits(model, _to_tensor(val.x, cfg.input_size), cfg.augment.crop, cfg.mean, cfg.std)
    p = softmax(logits[:, :7].numpy())  # an 8-class FER+ model: contempt dropped
    rep = classification_report(val.y, p.argmax(1), labels_for(7), probs=p)
    rows = [json.loads(x) for x in (RUNS / name / "metrics.jsonl").read_text().splitlines()]
    return {
        "name": name,
        "change": VARIANTS[name][0],
        "epochs": int(state["epoch"]) + 1,
        "public_accuracy": round(rep.accuracy, 4),
        "public_macro_f1": round(rep.macro_f1, 4),
        "public_ece": round(rep.ece or 0, 4),
        "public_mean_confidence": round(rep.confidence or 0, 4),
        "public_recall": {k: v["recall"] for k, v in rep.per_class.items()},
        "public_predicted": dict(zip(rep.labels, map(sum, zip(*rep.confusion, strict=True)), strict=True)),
        "train_seconds": round(sum(r["seconds"] for r in rows)),
        "overrides": {k: v for k, v in VARIANTS[name][1].items() if k != "teacher"},
    }


def table() -> str:
    """Every scored run of every budget, as JSON (docs/results/ablations.json) and a markdown table.

    Rows already recorded in the JSON are kept (the runs behind them need not be on this machine); a run scored
    here replaces its recorded row."""
    rows = {(r["epochs"], r["name"]): r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
    for budget in RUNS_ROOT.glob("e*"):
        for n in VARIANTS:
            if (budget / n / "eval.json").exists():
                r = json.loads((budget / n / "eval.json").read_text())
                rows[(r["epochs"], r["name"])] = r
    order = {n: i for i, n in enumerate(VARIANTS)}
    found = sorted(rows.values(), key=lambda r: (r["epochs"], order.get(r["name"], len(order))))
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")
    bases = {r["epochs"]: r for r in found if r["name"] == "base"}
    lines = [
        "| epochs | variant | what changes | PublicTest acc. | Δ vs base (points) | macro-F1 | ECE |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in found:
        base = bases.get(r["epochs"])
        delta = "" if base is None or r is base else f"{100 * (r['public_accuracy'] - base['public_accuracy']):+.2f}"
        lines.append(
            f"| {r['epochs']} | `{r['name']}` | {r['change']} | {r['public_accuracy']:.4f} | {delta} | "
            f"{r['public_macro_f1']:.4f} | {r['public_ece']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants, run in this order")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--data", default=None, help="dataset root (default: EMOLENS_DATA or ../shared/datasets)")
    ap.add_argument("--table", action="store_true", help="only collect the scored runs and print the table")
    args = ap.parse_args()
    global RUNS
    RUNS = RUNS_ROOT / f"e{args.epochs}"
    if not args.table:
        for name in args.only.split(","):
            if name not in VARIANTS:
                ap.error(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
            train(name, args.epochs, args.data)
            (RUNS / name / "eval.json").write_text(json.dumps(score(name, args.data), indent=2) + "\n")
    print(table())


if __name__ == "__main__":
    main()
