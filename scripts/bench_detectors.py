"""Benchmark the face detectors on the shared real photos: accuracy on voc_boxes, face counts, speed.

For every configuration (by default each registered detector with its defaults, plus RetinaFace
at ``max_size=640``), on ``photos/voc_boxes`` (12 WIDER FACE photos, 212 hand-drawn boxes):

* recall and precision at IoU 0.5 (greedy VOC matching), overall and by face size, the size being
  ``max(w, h)`` of the true box: < 20 px, 20-32 px, > 32 px, and >= 20 px;
* false positives (detections matching no true box; the README lists a few unlabelled face-like
  things, so some are expected);
* milliseconds per photo for ``detect()`` on the decoded RGB image (pre- and post-processing
  included, decoding the JPEG not): each photo is run once to warm up, then ``--runs`` times, the
  configurations taking turns call by call so that all see the same machine; the table gives the median over
  photos of each photo's median time, the worst photo's, and the median over photos of the time relative to
  the first configuration's (the figure that holds when the machine is busy).

plus the number of faces found on ``landscape.jpg`` (0 expected), ``couple.jpg`` (2),
``expression_grid.jpg`` (25) and the ``group_*.jpg`` copies (54, 39, 23), and on the ``dev`` photos of
``faces_extra`` (one labelled face each: ExpW web crops, found when a detection overlaps the labelled box with
IoU >= 0.5; SFEW film-still crops and Taiwanese posed faces, found when anything is detected).

``yunet-opencv`` is the shipped YuNet file run by OpenCV's own ``FaceDetectorYN`` (same resizing, threshold and
NMS as the ``yunet`` backend), to choose between the two runtimes; it is timed with ``cv2.setNumThreads``.

Usage::

    python scripts/bench_detectors.py [--data DIR] [--threads 2] [--runs 5] [--json out.json]
        [--config "retinaface max_size=800 score_threshold=0.6" ...] [--no-timing] [--update-manifests]

The data folder is ``--data``, else ``$EMOLENS_DATA``, else ``<repo>/../shared/datasets``.
Timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from emolens.detect.common import to_detections
from emolens.detect.evaluation import face_found, match, read_faces_extra, read_voc
from emolens.registry import build_detector as create
from emolens.registry import detector_names, models_dir

REPO = Path(__file__).resolve().parents[1]
SIZE_BINS = ("<20", "20-32", ">32")
COUNT_PHOTOS = {
    "landscape.jpg": 0,
    "couple.jpg": 2,
    "expression_grid.jpg": 25,
    "group_marchingband.jpg": 54,
    "group_tvshow.jpg": 39,
    "group_family_church.jpg": 23,
}


FACES_EXTRA = ("expw", "sfew", "taiwanese")


class OpenCVYuNet:
    """The shipped YuNet file on OpenCV's ``FaceDetectorYN``, with the ``yunet`` backend's resizing and defaults."""

    name = "yunet-opencv"

    def __init__(self, score_threshold=0.6, nms_threshold=0.3, max_size=1024, threads=0, min_face=0.0):
        cv2.setNumThreads(threads or (os.cpu_count() or 1))
        self.path = str(models_dir() / "yunet.onnx")
        self.score_threshold, self.nms_threshold, self.max_size = score_threshold, nms_threshold, max_size
        self.min_face = min_face
        self._yn = cv2.FaceDetectorYN.create(self.path, "", (320, 320), score_threshold, nms_threshold, 5000)

    def detect(self, image: np.ndarray):
        h, w = image.shape[:2]
        scale = min(1.0, self.max_size / max(h, w))
        if scale < 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        else:
            nw, nh = w, h
        self._yn.setInputSize((nw, nh))
        _, faces = self._yn.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        sx, sy = w / nw, h / nh
        boxes = faces[:, :4].copy()
        boxes[:, 2:] += boxes[:, :2]
        boxes *= np.array([sx, sy, sx, sy], np.float32)
        points = faces[:, 4:14].reshape(-1, 5, 2) * np.array([sx, sy], np.float32)
        return to_detections(boxes, faces[:, 14], points, w, h, self.min_face)


def make_detector(name: str, options: dict[str, object]):
    return OpenCVYuNet(**options) if name == "yunet-opencv" else create(name, **options)


def faces_extra_found(detector, data: Path) -> dict:
    out = {}
    for name in FACES_EXTRA:
        crops = read_faces_extra(data / "faces_extra" / name, "dev")
        found = sum(face_found(detector.detect(load_rgb(c.path)), c) for c in crops)
        out[name] = {"found": found, "faces": len(crops)}
    return out


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def parse_config(text: str) -> tuple[str, dict[str, object]]:
    """``"retinaface max_size=640"`` -> ``("retinaface", {"max_size": 640})``."""
    name, *pairs = shlex.split(text)
    options: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def label(name: str, options: dict[str, object]) -> str:
    shown = {k: v for k, v in options.items() if k != "threads"}
    return name + ("" if not shown else " " + " ".join(f"{k}={v}" for k, v in shown.items()))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split())  # type: ignore[union-attr]
    return ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in flags) or "no AVX2"


def size_masks(sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Face-size bins by ``max(w, h)`` of the true box: < 20 px, 20-32 px (both ends in), > 32 px."""
    return {"<20": sizes < 20, "20-32": (sizes >= 20) & (sizes <= 32), ">32": sizes > 32}


def evaluate(detector, voc: list[tuple[np.ndarray, object]]) -> dict:
    n_true = tp = fp = 0
    by_bin = {b: [0, 0] for b in SIZE_BINS}
    big = [0, 0]
    per_photo = []
    for image, truth in voc:
        dets = detector.detect(image)
        found, is_tp = match(dets, truth.boxes, 0.5)
        sizes = truth.sizes
        for b, sel in size_masks(sizes).items():
            by_bin[b][0] += int(found[sel].sum())
            by_bin[b][1] += int(sel.sum())
        sel = sizes >= 20
        big[0] += int(found[sel].sum())
        big[1] += int(sel.sum())
        n_true += len(found)
        tp += int(is_tp.sum())
        fp += int((~is_tp).sum())
        per_photo.append(
            {
                "image": truth.image,
                "faces": len(found),
                "found": int(found.sum()),
                "false_positives": int((~is_tp).sum()),
            }
        )
    return {
        "faces": n_true,
        "found": int(sum(p["found"] for p in per_photo)),
        "recall": sum(p["found"] for p in per_photo) / n_true,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "false_positives": fp,
        "recall_by_size": {b: {"found": f, "faces": n, "recall": f / n if n else None} for b, (f, n) in by_bin.items()},
        "recall_ge20": {"found": big[0], "faces": big[1], "recall": big[0] / big[1]},
        "per_photo": per_photo,
    }


def timing(detectors: list, images: list[np.ndarray], runs: int) -> list[dict]:
    """Per-photo median times of every detector, interleaved: for each photo and run, each detector in turn.

    On a shared machine whose speed drifts, every detector then sees the same conditions; ``x_first`` is each
    detector's time over the first one's, photo by photo (median over the photos).
    """
    per_photo: list[list[float]] = [[] for _ in detectors]
    for image in images:
        for d in detectors:
            d.detect(image)  # warm-up
        ts: list[list[float]] = [[] for _ in detectors]
        for _ in range(runs):
            for k, d in enumerate(detectors):
                t0 = time.perf_counter()
                d.detect(image)
                ts[k].append((time.perf_counter() - t0) * 1000)
        for k in range(len(detectors)):
            per_photo[k].append(statistics.median(ts[k]))
    out = []
    for k in range(len(detectors)):
        ratio = statistics.median(a / b for a, b in zip(per_photo[k], per_photo[0], strict=True))
        out.append(
            {
                "ms_median": statistics.median(per_photo[k]),
                "ms_max": max(per_photo[k]),
                "ms_per_photo": per_photo[k],
                "x_first": ratio,
            }
        )
    return out


def fmt_recall(d: dict) -> str:
    return f"{d['recall']:.3f} ({d['found']}/{d['faces']})"


def markdown(results: list[dict], timed: bool) -> str:
    head = ["detector", "recall all", "<20 px", "20-32 px", ">32 px", ">=20 px", "precision", "FP"]
    if timed:
        head += ["ms/photo median", "ms/photo max", f"time / `{results[0]['config']}`"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        a = r["voc_boxes"]
        row = [f"`{r['config']}`", fmt_recall(a)]
        row += [fmt_recall(a["recall_by_size"][b]) for b in SIZE_BINS]
        row += [fmt_recall(a["recall_ge20"]), f"{a['precision']:.3f}", str(a["false_positives"])]
        if timed:
            row += [f"{r['timing']['ms_median']:.1f}", f"{r['timing']['ms_max']:.1f}", f"{r['timing']['x_first']:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    head = ["detector"] + [f"{Path(p).stem} ({n})" for p, n in COUNT_PHOTOS.items()]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lines.append("| " + " | ".join([f"`{r['config']}`"] + [str(r["counts"][p]) for p in COUNT_PHOTOS]) + " |")
    if any("faces_extra" in r for r in results):
        lines.append("")
        head = ["detector"] + [f"faces_extra {n} dev" for n in FACES_EXTRA]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in results:
            if "faces_extra" in r:
                cells = [fmt_recall({**v, "recall": v["found"] / v["faces"]}) for v in r["faces_extra"].values()]
                lines.append("| " + " | ".join([f"`{r['config']}`", *cells]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared datasets folder (holds photos/)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per photo after one warm-up (default 5)")
    ap.add_argument(
        "--config",
        action="append",
        default=None,
        help='a detector and options, e.g. "retinaface max_size=640"; repeatable',
    )
    ap.add_argument("--no-timing", action="store_true", help="accuracy and counts only")
    ap.add_argument("--no-faces-extra", action="store_true", help="leave out the faces_extra dev photos")
    ap.add_argument("--json", type=Path, default=None, help="also write the full results here")
    ap.add_argument(
        "--update-manifests",
        action="store_true",
        help="write the results of each detector run with its default options into its model manifest",
    )
    args = ap.parse_args()

    data = args.data or Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    photos = data / "photos"
    xmls = sorted((photos / "voc_boxes").glob("*.xml"))
    if not xmls:
        raise SystemExit(f"no VOC files in {photos / 'voc_boxes'}")
    voc = []
    for x in xmls:
        truth = read_voc(x)
        voc.append((load_rgb(x.parent / truth.image), truth))
    count_images = {p: load_rgb(photos / p) for p in COUNT_PHOTOS}

    configs = (
        [parse_config(c) for c in args.config]
        if args.config
        else (
            [(n, {}) for n in sorted(detector_names(), key=lambda n: n != "retinaface")]  # the reference first
            + [("retinaface", {"max_size": 640}), ("yunet-opencv", {})]
        )
    )
    results, detectors = [], []
    for name, options in configs:
        options = {"threads": args.threads, **options}
        det = make_detector(name, options)
        r = {
            "config": label(name, options),
            "detector": name,
            "options": options,
            "voc_boxes": evaluate(det, voc),
            "counts": {p: len(det.detect(img)) for p, img in count_images.items()},
        }
        if not args.no_faces_extra:
            r["faces_extra"] = faces_extra_found(det, data)
        results.append(r)
        detectors.append(det)
    if not args.no_timing:
        for r, t in zip(results, timing(detectors, [img for img, _ in voc], args.runs), strict=True):
            r["timing"] = t

    env = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "runs": args.runs,
    }
    print(f"voc_boxes: {len(voc)} photos, {sum(len(t.boxes) for _, t in voc)} faces; IoU 0.5")
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    print()
    print(markdown(results, not args.no_timing))
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "results": results}, indent=2) + "\n")
    if args.update_manifests:
        update_manifests(results, env)


def update_manifests(results: list[dict], env: dict) -> None:
    """Store the measured metrics of each default-option run in ``src/emolens/models/<detector>.json``."""
    command = f"python scripts/bench_detectors.py --threads {env['threads']} --runs {env['runs']} --update-manifests"
    for r in results:
        if set(r["options"]) != {"threads"} or r["detector"] not in detector_names():
            continue
        path = models_dir() / f"{r['detector']}.json"
        manifest = json.loads(path.read_text())
        a = r["voc_boxes"]
        metrics = {
            "voc_boxes": {
                "data": "photos/voc_boxes (12 WIDER FACE val photos, 212 faces), IoU 0.5",
                "recall": round(a["recall"], 4),
                "recall_ge20px": round(a["recall_ge20"]["recall"], 4),
                "recall_by_size": {b: round(v["recall"], 4) for b, v in a["recall_by_size"].items()},
                "precision": round(a["precision"], 4),
                "false_positives": a["false_positives"],
            },
            "face_counts": r["counts"],
            **({"faces_extra_dev_found": r["faces_extra"]} if "faces_extra" in r else {}),
            "command": command,
            "date": env["date"],
        }
        if "timing" in r:
            metrics["ms_per_photo_median"] = round(r["timing"]["ms_median"], 1)
            metrics["timing_environment"] = {k: env[k] for k in ("cpu", "cpu_flags", "onnxruntime", "threads")}
        manifest["metrics"] = metrics
        path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
