"""Where the time of the landmark models goes: ONNX Runtime's own per-node profile of ``facemesh`` and ``iris``.

For each model (the shipped file, or ``--model PATH`` files of the same input size to compare) it prints the CPU
time per call on ``--threads`` threads (process time, so a busy machine's waiting is not counted, median of
``--calls`` calls on real face crops) and the share of each operator type in ONNX Runtime's profile of the
optimised graph, where the NCHWc layout's ``ReorderInput``/``ReorderOutput`` nodes show up.

Usage::

    python scripts/profile_landmarks.py [--threads 1] [--calls 50] [--model facemesh=OLD.onnx ...]
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZES = {"facemesh": 192, "iris": 64}


def crops(size: int, n: int = 8) -> np.ndarray:
    files = sorted(glob.glob(str(REPO.parent / "shared/datasets/attention/head_pose/images/*.jpg")))[:n]
    out = []
    for f in files:
        bgr = cv2.imread(f)
        h, w = bgr.shape[:2]
        s = min(h, w)
        sq = bgr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out.append(cv2.cvtColor(cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def profile(path: Path, size: int, threads: int, calls: int, batch: int) -> dict:
    import onnxruntime as ort

    x = crops(size)
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        plain = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        cpu = []
        for k in range(calls + 5):
            xb = x[np.arange(k, k + batch) % len(x)]
            t0 = time.process_time()
            plain.run(None, {"image": xb})
            if k >= 5:
                cpu.append((time.process_time() - t0) * 1000)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        prof = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        for k in range(calls):
            prof.run(None, {"image": x[np.arange(k, k + batch) % len(x)]})
        events = json.loads(Path(prof.end_profiling()).read_text())
    by_op: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values()) or 1.0
    return {
        "cpu_ms_per_call": round(statistics.median(cpu), 3),
        "batch": batch,
        "threads": threads,
        "share": {k: round(v / total, 3) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--model", action="append", default=[], help="NAME=PATH: profile this file as NAME too")
    args = ap.parse_args()
    models = [(name, REPO / "src/emolens/models" / f"{name}.onnx") for name in SIZES]
    models += [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.model]
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, path in models:
        # the iris model runs on both eyes of a face in one call
        res = profile(path, SIZES[name], args.threads, args.calls, batch=2 if name == "iris" else 1)
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in res["share"].items() if v >= 0.01)
        print(f"{name} ({path.name}): {res['cpu_ms_per_call']} ms CPU a call (batch {res['batch']}); {shares}")


if __name__ == "__main__":
    main()
