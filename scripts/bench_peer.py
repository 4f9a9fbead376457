"""emolens against the peer package ``fer``, side by side in one run: warm time per photo and faces found.

The peer is never imported here: it lives in its own virtual environment (``fer`` needs TensorFlow, and its MTCNN
mode facenet-pytorch), whose interpreter is given with ``--peer-python``. That interpreter runs a small server
(the code in ``PEER_SERVER`` below) that loads ``fer.FER`` once per mode and, each time it is asked, runs one
pass over the photos and answers with the per-photo times. This process does the same with an
``emolens.Analyzer``; the two alternate pass by pass (A B A B ...), so both see the same machine, and the ratio
is taken pass by pass (the median of the per-pass ratios is the figure to quote).

Set-ups compared (all warm: one untimed pass first; time per photo = ``detect_emotions`` / ``Analyzer.analyze``
on a decoded BGR / RGB array, JPEG decoding not included):

* ``voc``: the 12 ``photos/voc_boxes`` photos, emolens's default profile against fer's default mode (Haar
  cascade + TFLite emotion model);
* ``couple``: ``photos/couple.jpg``, emolens's default profile against fer's MTCNN mode (``FER(mtcnn=True)``).

Usage::

    python -m venv /work/peer-venv && /work/peer-venv/bin/pip install fer
    python scripts/bench_peer.py --peer-python /work/peer-venv/bin/python [--passes 7] [--threads 2] [--json out.json]
        [--config default --config "yunet max_size=1024 resize=area threads=1" ...] [--only voc|couple]
    python scripts/bench_peer.py --alone --config ... (the emolens set-ups only, taking turns)

Faces found are also printed (voc_boxes: detections matching a hand-drawn box at IoU >= 0.5, by the same greedy
matching as ``scripts/bench_detectors.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

PEER_SERVER = r"""
import json, sys, time, os
import cv2, numpy as np
try:
    from fer import FER
except ImportError:  # fer 25.x no longer re-exports it
    from fer.fer import FER
import fer as fer_pkg
paths = json.loads(sys.argv[1])
images = [cv2.imread(p, cv2.IMREAD_COLOR) for p in paths]
detectors = {}
def detector(mode):
    if mode not in detectors:
        detectors[mode] = FER(mtcnn=(mode == "mtcnn"))
    return detectors[mode]
print(json.dumps({"ready": True, "version": getattr(fer_pkg, "__version__", "?")}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    det = detector(cmd["mode"])
    sel = [images[i] for i in cmd["images"]]
    times, cpu, boxes = [], [], []
    for img in sel:
        c0, t0 = time.process_time(), time.perf_counter()
        out = det.detect_emotions(img)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        boxes.append([[float(v) for v in o["box"]] for o in out])
    print(json.dumps({"ms": times, "cpu_ms": cpu, "boxes": boxes}), flush=True)
"""


class Peer:
    """The ``fer`` server in the peer interpreter, one JSON line per pass."""

    def __init__(self, python: str, paths: list[Path]) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(
            [python, "-c", PEER_SERVER, json.dumps([str(p) for p in paths])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.version = self._read()["version"]

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise SystemExit("the peer interpreter exited (is fer installed there?)")
            if line.startswith("{"):
                return json.loads(line)

    def run(self, mode: str, images: list[int]) -> dict:
        self.proc.stdin.write(json.dumps({"mode": mode, "images": images}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)


def emolens_pass(analyzer, images: list[np.ndarray]) -> tuple[list[float], list[float], list[list[list[float]]]]:
    """Wall and CPU (all threads of this process) milliseconds per photo, and the boxes found."""
    times, cpu, boxes = [], [], []
    for img in images:
        c0, t0 = time.process_time(), time.perf_counter()
        r = analyzer.analyze(img, color_order="rgb")
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        boxes.append([[f.box.x1, f.box.y1, f.box.x2 - f.box.x1, f.box.y2 - f.box.y1] for f in r.faces])
    return times, cpu, boxes


def found(boxes_xywh: list[list[list[float]]], truths) -> int:
    from emolens.detect.evaluation import match
    from emolens.types import Box, Detection

    n = 0
    for boxes, truth in zip(boxes_xywh, truths, strict=True):
        dets = [Detection(Box(x, y, x + w, y + h), 1.0 - 1e-6 * i, None) for i, (x, y, w, h) in enumerate(boxes)]
        n += int(match(dets, truth.boxes, 0.5)[0].sum())
    return n


def parse_config(text: str, default_detector: str, threads: int) -> tuple[str, dict[str, Any]]:
    """``"yunet max_size=896 model=emotion-fer2013-int8 threads=1"`` -> (label, Analyzer keyword arguments).

    The first word is the detector (``default``: the library's); ``model`` and ``threads`` go to the
    ``Analyzer``, every other ``key=value`` to the detector (``detector_options``).
    """
    words = shlex.split(text)
    detector = default_detector if not words or words[0] == "default" else words[0]
    kwargs: dict[str, Any] = {"detector": detector, "threads": threads, "detector_options": {}}
    for word in words[1:]:
        key, _, value = word.partition("=")
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        if key in ("model", "threads"):
            kwargs[key] = parsed
        else:
            kwargs["detector_options"][key] = parsed
    return text or "default", kwargs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=None, help="the interpreter of a virtual environment with fer")
    ap.add_argument(
        "--alone", action="store_true", help="time the emolens set-ups only, taking turns (no fer, no ratios)"
    )
    ap.add_argument("--data", type=Path, default=None, help="shared datasets folder (holds photos/)")
    ap.add_argument("--passes", type=int, default=7, help="timed passes of each side (default 7)")
    ap.add_argument("--threads", type=int, default=0, help="emolens threads per model (0: ONNX Runtime's choice)")
    ap.add_argument("--detector", default=None, help="emolens detector (default: the library's default)")
    ap.add_argument(
        "--config",
        action="append",
        default=None,
        help='an emolens set-up to time against fer, e.g. "default" or "yunet max_size=896 threads=1" (repeat to '
        "compare several in the same run; each pass runs fer, then every set-up, in an order that rotates)",
    )
    ap.add_argument("--only", choices=("voc", "couple"), default=None, help="run one of the two set-ups")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    if not a.alone and not a.peer_python:
        ap.error("--peer-python is required (or --alone)")

    from emolens import Analyzer
    from emolens.analyzer import DEFAULT_DETECTOR
    from emolens.detect.evaluation import read_voc

    data = a.data or Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    xmls = sorted((data / "photos" / "voc_boxes").glob("*.xml"))
    truths = [read_voc(x) for x in xmls]
    paths = [x.parent / t.image for x, t in zip(xmls, truths, strict=True)] + [data / "photos" / "couple.jpg"]
    rgb = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in paths]
    voc_idx, couple_idx = list(range(len(xmls))), [len(xmls)]

    load_start = os.getloadavg()
    detector = a.detector or DEFAULT_DETECTOR
    configs = [parse_config(c, detector, a.threads) for c in (a.config or ["default"])]
    analyzers = {label: Analyzer(**kwargs) for label, kwargs in configs}
    peer = None if a.alone else Peer(a.peer_python, paths)
    setups = {"voc": ("default", voc_idx), "couple": ("mtcnn", couple_idx)}
    if a.only:
        setups = {a.only: setups[a.only]}
    results: dict[str, dict] = {}
    try:
        for name, (mode, idx) in setups.items():
            images = [rgb[i] for i in idx]
            for analyzer in analyzers.values():
                emolens_pass(analyzer, images)  # warm-up (and model loading)
            if peer is not None:
                peer.run(mode, idx)
            ours: dict[str, list[dict]] = {k: [] for k in analyzers}
            ratios: dict[str, list[float]] = {k: [] for k in analyzers}
            cpu_ratios: dict[str, list[float]] = {k: [] for k in analyzers}
            e_boxes: dict[str, list] = {}
            theirs, p_boxes = [], None
            labels = list(analyzers)
            for n in range(a.passes):
                p_mean = p_cpu = math.nan
                if peer is not None:
                    p = peer.run(mode, idx)
                    p_boxes = p["boxes"]
                    p_mean, p_cpu = statistics.fmean(p["ms"]), statistics.fmean(p["cpu_ms"])
                    theirs.append({"median": statistics.median(p["ms"]), "mean": p_mean, "cpu_mean": p_cpu})
                for label in labels[n % len(labels) :] + labels[: n % len(labels)]:
                    e_ms, e_cpu, e_boxes[label] = emolens_pass(analyzers[label], images)
                    e_mean, e_cpu_mean = statistics.fmean(e_ms), statistics.fmean(e_cpu)
                    ours[label].append({"median": statistics.median(e_ms), "mean": e_mean, "cpu_mean": e_cpu_mean})
                    ratios[label].append(p_mean / e_mean)
                    cpu_ratios[label].append(p_cpu / e_cpu_mean)
            for label in labels:
                r = {
                    "emolens_config": label,
                    "peer_mode": "Haar cascade + TFLite (fer's default)" if mode == "default" else "MTCNN (mtcnn=True)",
                    "photos": len(idx),
                    "emolens_ms_per_photo": statistics.median(x["mean"] for x in ours[label]),
                    "emolens_cpu_ms_per_photo": statistics.median(x["cpu_mean"] for x in ours[label]),
                    "emolens_ms_range": [min(x["mean"] for x in ours[label]), max(x["mean"] for x in ours[label])],
                    "emolens_cpu_ms_range": [
                        min(x["cpu_mean"] for x in ours[label]),
                        max(x["cpu_mean"] for x in ours[label]),
                    ],
                    "emolens_faces": sum(len(b) for b in e_boxes[label]),
                    "peer_faces": sum(len(b) for b in p_boxes or []),
                }
                if peer is not None:
                    r |= {
                        "peer_ms_per_photo": statistics.median(x["mean"] for x in theirs),
                        "speedup_median": statistics.median(ratios[label]),
                        "speedup_range": [min(ratios[label]), max(ratios[label])],
                        "peer_cpu_ms_per_photo": statistics.median(x["cpu_mean"] for x in theirs),
                        "cpu_ratio_median": statistics.median(cpu_ratios[label]),
                        "cpu_ratio_range": [min(cpu_ratios[label]), max(cpu_ratios[label])],
                    }
                if name == "voc":
                    r["emolens_found"] = found(e_boxes[label], truths)
                    r["peer_found"] = found(p_boxes, truths) if p_boxes is not None else None
                    r["true_faces"] = sum(len(t.boxes) for t in truths)
                results[f"{name} [{label}]" if len(labels) > 1 else name] = r
    finally:
        if peer is not None:
            peer.close()

    import onnxruntime as ort

    env = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "fer": peer.version if peer is not None else None,
        "emolens_configs": [label for label, _ in configs],
        "threads": a.threads,
        "passes": a.passes,
        "loadavg_at_start": load_start,
        "loadavg_at_end": os.getloadavg(),
    }
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    for name, r in results.items():
        if peer is None:
            print(
                f"{name}: emolens {r['emolens_ms_per_photo']:.1f} ms/photo (passes {r['emolens_ms_range'][0]:.1f}-"
                f"{r['emolens_ms_range'][1]:.1f}); CPU time {r['emolens_cpu_ms_per_photo']:.1f} ms/photo (passes "
                f"{r['emolens_cpu_ms_range'][0]:.1f}-{r['emolens_cpu_ms_range'][1]:.1f}); faces {r['emolens_faces']}"
            )
            continue
        line = (
            f"{name}: emolens {r['emolens_ms_per_photo']:.1f} ms/photo, fer {r['peer_mode']} "
            f"{r['peer_ms_per_photo']:.1f} ms/photo: {r['speedup_median']:.2f}x "
            f"(per pass {r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f}); "
            f"CPU time {r['emolens_cpu_ms_per_photo']:.1f} vs {r['peer_cpu_ms_per_photo']:.1f} ms/photo: "
            f"{r['cpu_ratio_median']:.2f}x (per pass {r['cpu_ratio_range'][0]:.2f}-{r['cpu_ratio_range'][1]:.2f}); "
            f"faces {r['emolens_faces']} vs {r['peer_faces']}"
        )
        if "true_faces" in r:
            line += f", matching a true box {r['emolens_found']} vs {r['peer_found']} of {r['true_faces']}"
        print(line)
    if a.json:
        a.json.write_text(json.dumps({"environment": env, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
