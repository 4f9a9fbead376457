"""Accuracy, size and speed of the shipped `emotion-fer2013` against its pruned copies, timed side by side.

Every model is an ONNX Runtime session on 2 threads; the timed calls interleave the models round by round (A, B,
C, A, B, C, ...), so a burst of load from other jobs on a shared machine falls on all of them alike, and each
model's figure is the median of its rounds. Accuracy is top-1 on FER2013 PrivateTest (3,589 faces).

    python scripts/bench_pruned.py runs/privacy/pruned/emotion-fer2013-pruned-30.onnx \\
        runs/privacy/pruned/emotion-fer2013-pruned-50.onnx --json docs/results/pruning.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emolens.datasets import data_root
from emolens.registry import get_model
from emolens.train.prune import private_test_accuracy


def _session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pruned", nargs="+", type=Path, help="Pruned ONNX models (each beside its manifest).")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    shipped = Path(get_model("emotion-fer2013", task="emotion").path)
    models = [shipped, *args.pruned]
    root = data_root()
    rows = []
    for path in models:
        manifest = json.loads(path.with_suffix(".json").read_text())
        rec = manifest.get("pruning", {})
        rows.append(
            {
                "model": path.stem,
                "ratio": rec.get("ratio", 0.0),
                "parameters": rec.get("parameters_after", manifest.get("parameters")),
                "macs": rec.get("macs_after", rec.get("macs_before")),
                "size_mb": round(path.stat().st_size / 1e6, 3),
                "private_test_accuracy": round(private_test_accuracy(path, root), 4),
            }
        )
    first = json.loads(models[1].with_suffix(".json").read_text()).get("pruning", {})
    rows[0]["macs"] = first.get("macs_before")
    sessions = [_session(p, args.threads) for p in models]
    rng = np.random.default_rng(0)
    for b in args.batch:
        x = rng.standard_normal((b, 1, 40, 40)).astype(np.float32)
        for s in sessions:
            for _ in range(5):
                s.run(None, {"input": x})
        times: list[list[float]] = [[] for _ in sessions]
        for _ in range(args.rounds):
            for i, s in enumerate(sessions):
                reps = max(1, 64 // b)
                t0 = time.perf_counter()
                for _ in range(reps):
                    s.run(None, {"input": x})
                times[i].append((time.perf_counter() - t0) / reps)
        for row, t in zip(rows, times, strict=True):
            row[f"faces_per_s_batch{b}"] = round(b / float(np.median(t)), 1)
    for row in rows:
        for b in args.batch:
            row[f"speedup_batch{b}"] = round(row[f"faces_per_s_batch{b}"] / rows[0][f"faces_per_s_batch{b}"], 2)
        row["accuracy_drop_points"] = round(100 * (rows[0]["private_test_accuracy"] - row["private_test_accuracy"]), 2)
    out = {
        "threads": args.threads,
        "rounds": args.rounds,
        "date": time.strftime("%Y-%m-%d"),
        "onnxruntime": ort.__version__,
        "models": rows,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
