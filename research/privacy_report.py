"""The accuracy-ε table and plot, and the federated-against-centralised figures, from the runs of
research/privacy_runs.sh: the last epoch's (or round's) FER2013 PrivateTest accuracy of each arm.

    python research/privacy_report.py [--runs runs/privacy] [--json docs/results/privacy.json] \
        [--plot docs/privacy-dp.png]
    python research/privacy_report.py --series full    # docs/results/privacy_full.json, docs/privacy-dp-full.png

``--series small`` (the default): the arms on the first 10,000 Training rows for 3 epochs; ``full``: the `full-`
arms on all 28,558 Training faces for 15 epochs, whose DP arms are compared with ``full-central-b512`` (the same
expected batch of 512) and whose federated arms with ``full-central-b64`` (the same batch of 64).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _last(run: Path) -> dict | None:
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return rows[-1] if rows else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, default=Path("runs/privacy"))
    ap.add_argument("--json", type=Path, help="default: docs/results/privacy.json, privacy_full.json for full")
    ap.add_argument("--plot", type=Path, help="default: docs/privacy-dp.png, privacy-dp-full.png for full")
    ap.add_argument("--series", choices=("small", "full"), default="small")
    args = ap.parse_args()
    tail = "_full" if args.series == "full" else ""
    args.json = args.json or Path(f"docs/results/privacy{tail}.json")
    args.plot = args.plot or Path(f"docs/privacy-dp{tail.replace('_', '-')}.png")
    R = args.runs  # noqa: N806
    full = args.series == "full"
    pre = "full-" if full else ""
    # the arm each plotted line stands for: the DP reference, and the runs shown beside it
    central = "full-central-b512" if full else "central"
    names = [central, *(f"{pre}{n}" for n in ("dp-eps8", "dp-eps2", "dp-eps0.5", "public-pretrain"))]
    names += [f"{pre}pretrained-dp-eps0.5", *(["full-central-b64"] if full else [])]
    names += [f"{pre}federated-fedavg", f"{pre}federated-fedmedian"]
    arms = []
    for name in names:
        last = _last(R / name)
        if last is None:
            continue
        dp = json.loads((R / name / "dp.json").read_text()) if (R / name / "dp.json").exists() else {}
        cfg = json.loads((R / name / "config.json").read_text())
        arms.append(
            {
                "arm": name,
                "private_test_accuracy": round(last["val_accuracy"], 4),
                "epochs_or_rounds": last.get("epoch", last.get("round", 0) - 1) + 1,
                "train": cfg["train"],
                "train_rows": cfg["limit_train"] or "all",
                "batch_size": cfg["batch_size"],
                **(
                    {k: dp[k] for k in ("epsilon_spent", "delta", "noise_multiplier", "sample_rate", "steps")}
                    if dp
                    else {}
                ),
            }
        )
    out = {"runs": str(R), "arms": arms}
    text = json.dumps(out, indent=2)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(text + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    by = {a["arm"]: a for a in arms}
    eps = [e for e in (0.5, 2, 8) if f"{pre}dp-eps{e}" in by]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    if eps:
        acc = [100 * by[f"{pre}dp-eps{e}"]["private_test_accuracy"] for e in eps]
        ax.plot(eps, acc, "o-", label="DP-SGD from scratch")
    if f"{pre}pretrained-dp-eps0.5" in by:
        ax.plot(
            [0.5],
            [100 * by[f"{pre}pretrained-dp-eps0.5"]["private_test_accuracy"]],
            "s",
            color="C2",
            label="public pre-training + DP-SGD",
        )
    if f"{pre}public-pretrain" in by:
        ax.axhline(
            100 * by[f"{pre}public-pretrain"]["private_test_accuracy"],
            color="C2",
            ls=":",
            lw=1,
            label="public pre-training alone",
        )
    if central in by:
        ax.axhline(100 * by[central]["private_test_accuracy"], color="C1", ls="--", label="no DP (same network)")
    ax.axhline(24.5, color="grey", ls=":", label="majority class (happy)")
    ax.set_xscale("log")
    ax.set_xticks([0.5, 2, 8], ["0.5", "2", "8"])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("ε (δ = 1e-5)")
    ax.set_ylabel("FER2013 PrivateTest accuracy (%)")
    what = "15 epochs of 28,558 faces, expected batch 512" if full else "3 epochs of 10,000 faces"
    ax.set_title(f"DP-SGD, 92k-parameter cnn, {what}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot)


if __name__ == "__main__":
    main()
