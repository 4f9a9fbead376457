"""Score a shipped emotion model and its INT8 copy on FER2013 PublicTest and PrivateTest, write the reports to
docs/results/ and the test figures into the two manifests.

    python scripts/score_shipped.py emotion-fer2013
    python scripts/score_shipped.py emotion-ferplus

A 7-class model is scored against the FER2013 labels (PrivateTest also counted out of its original 3,589 rows),
an 8-class one under the FER+ majority protocol, and also on every row with an emotion vote (`--labels
ferplus-all`), where its calibration is judged. Each split is scored with and without 10-view TTA, and the
INT8 copy without. PrivateTest is for the figures of what ships: run this once per shipped model, after choosing
it on PublicTest (`emolens evaluate -m A -m B` on public_test.npz).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from emolens.datasets import data_root

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "emolens" / "models"
RESULTS = ROOT / "docs" / "results"
PRIVATE_ROWS = 3589  # FER2013 PrivateTest as released; the copy here lacks a few


def evaluate(model: str, npz: Path, out: Path, *options: str) -> dict:
    emolens = Path(sys.executable).with_name("emolens")
    cmd = [str(emolens), "evaluate", "--npz", str(npz), "-m", model, "--output", str(out), "-q", *options]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=("emotion-fer2013", "emotion-ferplus"))
    args = ap.parse_args()
    name, int8 = args.model, f"{args.model}-int8"
    ferplus = name == "emotion-ferplus"
    d = data_root() / "fer2013"
    public, private = d / "public_test.npz", d / "private_test.npz"
    tag = "_ferplus" if ferplus else ""
    total = [] if ferplus else ["--total", str(PRIVATE_ROWS)]

    def res(split: str, variant: str = "") -> Path:
        return RESULTS / f"{split}{tag}{variant}.json"

    pub = evaluate(name, public, res("public_test"))
    pub_tta = evaluate(name, public, res("public_test", "_tta"), "--tta")
    pub_q = evaluate(int8, public, res("public_test", "_int8"))
    plots = ["--plot", str(RESULTS / f"private_test{tag}_confusion.png")]
    plots += ["--reliability", str(RESULTS / f"private_test{tag}_reliability.png")]
    priv = evaluate(name, private, res("private_test"), *total, *plots)
    priv_tta = evaluate(name, private, res("private_test", "_tta"), *total, "--tta")
    priv_q = evaluate(int8, private, res("private_test", "_int8"), *total)
    if not ferplus:
        evaluate(name, d / "sample_700_private.npz", RESULTS / "sample_700.json")
    else:  # every row with an emotion vote, against its plurality: the population the temperature is fitted on
        every = ["--labels", "ferplus-all"]
        all_rows = {
            model: (
                evaluate(model, public, res("public_test", f"_all{variant}"), *every),
                evaluate(model, private, res("private_test", f"_all{variant}"), *every),
            )
            for model, variant in ((name, ""), (int8, "_int8"))
        }

    command = " ".join(["emolens evaluate --npz ../shared/datasets/fer2013/private_test.npz", *total])
    figures = {}
    for model, p, q, tta in ((name, pub, priv, (pub_tta, priv_tta)), (int8, pub_q, priv_q, None)):
        if ferplus:
            m = {
                "public_test_majority_accuracy": p["accuracy"],
                "public_test_majority_rows": p["n"],
                "private_test_majority_accuracy": q["accuracy"],
                "private_test_majority_macro_f1": q["macro_f1"],
                "private_test_majority_ece": q["ece"],
                "private_test_majority_rows": q["n"],
                "test_protocol": "FER+ majority (votes of 1 dropped; a strict majority of the rest, "
                "unknown and not-a-face counted)",
            }
            if tta:
                m["public_test_majority_accuracy_tta"] = tta[0]["accuracy"]
                m["private_test_majority_accuracy_tta"] = tta[1]["accuracy"]
            every_pub, every_priv = all_rows[model]
            m.update(
                {
                    "public_test_all_rows_ece": every_pub["ece"],
                    "private_test_all_rows_accuracy": every_priv["accuracy"],
                    "private_test_all_rows_ece": every_priv["ece"],
                    "private_test_all_rows": every_priv["n"],
                    "all_rows_protocol": "every row with an emotion vote, against its most-voted emotion "
                    "(--labels ferplus-all)",
                }
            )
        else:
            m = {
                "public_test_accuracy": p["accuracy"],
                "private_test_accuracy": q["accuracy"],
                "private_test_macro_f1": q["macro_f1"],
                "private_test_ece": q["ece"],
                f"private_test_accuracy_of_{PRIVATE_ROWS}": q["accuracy_of_total"],
            }
            if tta:
                m["public_test_accuracy_tta"] = tta[0]["accuracy"]
                m["private_test_accuracy_tta"] = tta[1]["accuracy"]
                m["private_test_macro_f1_tta"] = tta[1]["macro_f1"]
                m[f"private_test_accuracy_of_{PRIVATE_ROWS}_tta"] = tta[1]["accuracy_of_total"]
        m["test_command"] = f"{command} -m {model}"
        path = MODELS / f"{model}.json"
        manifest = json.loads(path.read_text())
        manifest["metrics"].update({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()})
        path.write_text(json.dumps(manifest, indent=2) + "\n")
        figures[model] = m
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
