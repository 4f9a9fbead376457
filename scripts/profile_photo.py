"""Where the time of one photo goes: CPU time per ``voc_boxes`` photo of each stage of ``Analyzer.analyze``.

Each pass times, photo by photo and one after another: the whole ``analyze`` call, YuNet's parts (shrinking and
padding, the BGR planar input, the ONNX Runtime call) at each ``--max-size``, the aligned crops, and the emotion
model (the default fp32 model and its INT8 copy) on the photo's faces in one batch. Times are CPU time of this
process (``time.process_time``), so that a busy machine inflates them less than wall time; with ``--threads 1`` they
are what a quiet machine's wall time would be. The figure per stage is the mean over the photos, and its median
over the passes.

Usage::

    python scripts/profile_photo.py [--threads 1] [--passes 5] [--max-size 1024 --max-size 864]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="shared datasets folder (holds photos/)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model (default 1)")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--max-size", type=int, action="append", default=None, help="YuNet input sizes (default 1024, 864)")
    a = ap.parse_args()

    from emolens import Analyzer, registry
    from emolens.detect import yunet
    from emolens.emotion.classifier import EmotionModel

    data = a.data or Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    paths = sorted((data / "photos" / "voc_boxes").glob("*.jpg"))
    images = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in paths]
    analyzer = Analyzer(threads=a.threads)
    stages = analyzer.stages
    int8 = EmotionModel("emotion-fer2013-int8", threads=a.threads)
    sizes = a.max_size or [1024, 864]
    detectors = {s: registry.build_detector("yunet", threads=a.threads, max_size=s) for s in sizes}
    detections = [stages.detect(img) for img in images]
    crops = [stages.emotion.crops(img, d) for img, d in zip(images, detections, strict=True)]
    for img in images:
        analyzer.analyze(img, color_order="rgb")

    analyze_rgb = functools.partial(analyzer.analyze, color_order="rgb")
    times: dict[str, list[float]] = {}

    def timed(key: str, f: Callable[..., Any], *args: Any) -> Any:
        c0 = time.process_time()
        out = f(*args)
        times.setdefault(key, []).append((time.process_time() - c0) * 1000)
        return out

    for _ in range(a.passes):
        for img, d, c in zip(images, detections, crops, strict=True):
            timed("analyze (default)", analyze_rgb, img)
            for s, det in detectors.items():
                timed(f"yunet {s}: detect", det.detect, img)
                x = timed(f"yunet {s}: shrink, pad, BGR planes", yunet.prepare, img, s)[0]
                timed(f"yunet {s}: ONNX Runtime", det._session.run, list(yunet.OUTPUTS), {"input": x})
            timed("aligned crops", stages.emotion.crops, img, d)
            timed(f"emotion {stages.model_name} (fp32)", stages.emotion.predict, c)
            timed("emotion emotion-fer2013-int8", int8.predict, c)
    n = len(images)
    faces = sum(len(d) for d in detections)
    print(f"{n} photos, {faces} faces ({faces / n:.1f} a photo); threads {a.threads}; load {os.getloadavg()}")
    for key, values in times.items():
        per_pass = [statistics.fmean(values[i * n : (i + 1) * n]) for i in range(a.passes)]
        print(f"{key:44s} {statistics.median(per_pass):7.2f} ms/photo (passes {min(per_pass):.2f}-{max(per_pass):.2f})")


if __name__ == "__main__":
    main()
