"""Time the annotated-video writer per codec: ms per frame (drawing + encoding) and file size.

    .venv/bin/python scripts/bench_annotated_video.py [--clip ../shared/datasets/videos/single_face.mp4] [--frames 150]

Each codec runs twice, alternating; the second run of each is reported (the first warms caches).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2

from emolens.types import FrameResult
from emolens.video.writers import AnnotatedVideoWriter

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=REPO.parent / "shared" / "datasets" / "videos" / "single_face.mp4")
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    cap = cv2.VideoCapture(str(args.clip))
    frames = []
    while len(frames) < args.frames:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    h, w = frames[0].shape[:2]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ("mp4v", "h264", "mp4v", "h264"):
            path = Path(tmp) / f"{codec}.mp4"
            t = time.perf_counter()
            with AnnotatedVideoWriter(path, 29.97, codec=codec) as writer:
                for i, rgb in enumerate(frames):
                    writer.write(FrameResult(i, i / 29.97, (), w, h), rgb)
            results[codec] = ((time.perf_counter() - t) / len(frames) * 1000, os.path.getsize(path), writer.encoder)
    print(f"{len(frames)} frames of {args.clip.name}, {w}x{h}, load {os.getloadavg()[0]:.1f}")
    for codec, (ms, size, encoder) in results.items():
        print(f"{codec:5s} ({encoder}): {ms:.2f} ms/frame, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
