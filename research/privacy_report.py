"""The accuracy-ε table and plot, and the federated-against-centralised figures, from the runs of
research/privacy_runs.sh: the last epoch's (or round's) FER2013 PrivateTest accuracy of each arm.

    python research/privacy_report.py [--runs runs/privacy] [--json docs/results/privacy.json] \
        [--plot docs/privacy-dp.png]
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
    ap.add_argument("--json", type=Path, default=Path("docs/results/privacy.json"))
    ap.add_argument("--plot", type=Path, default=Path("docs/privacy-dp.png"))
    args = ap.parse_args()
    R = args.runs  # noqa: N806
    arms = []
    for name in (
        "central",
        "dp-eps8",
        "dp-eps2",
        "dp-eps0.5",
        "public-pretrain",
        "pretrained-dp-eps0.5",
        "federated-fedavg",
        "federated-fedmedian",
    ):
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
    eps = [e for e in (0.5, 2, 8) if f"dp-eps{e}" in by]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    if eps:
        ax.plot(eps, [100 * by[f"dp-eps{e}"]["private_test_accuracy"] for e in eps], "o-", label="DP-SGD from scratch")
    if "pretrained-dp-eps0.5" in by:
        ax.plot(
            [0.5],
            [100 * by["pretrained-dp-eps0.5"]["private_test_accuracy"]],
            "s",
            color="C2",
            label="public pre-training + DP-SGD",
        )
    if "public-pretrain" in by:
        ax.axhline(
            100 * by["public-pretrain"]["private_test_accuracy"],
            color="C2",
            ls=":",
            lw=1,
            label="public pre-training alone",
        )
    if "central" in by:
        ax.axhline(100 * by["central"]["private_test_accuracy"], color="C1", ls="--", label="no DP (same network)")
    ax.axhline(24.5, color="grey", ls=":", label="majority class (happy)")
    ax.set_xscale("log")
    ax.set_xticks([0.5, 2, 8], ["0.5", "2", "8"])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("ε (δ = 1e-5)")
    ax.set_ylabel("FER2013 PrivateTest accuracy (%)")
    ax.set_title("DP-SGD, 92k-parameter cnn, 3 epochs of 10,000 faces", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot)


if __name__ == "__main__":
    main()
