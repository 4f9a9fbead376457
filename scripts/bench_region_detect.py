"""What searching only around the tracked faces changes in a video run, clip by clip, against the whole frame.

For each clip of ``videos/`` the run with ``full_detect_every=N`` (default 5) is compared with the same run that
searches the whole frame in every frame (``full_detect_every=1``): wall time of both (in turn, median of
``--runs``), frames searched whole, tracks, faces, and for the faces found by both (matched by box overlap) the
share whose raw label is the same and the mean box IoU. As a yardstick for the label agreement, the same frames
moved by 2 pixels (a slight camera shake) are searched whole and classified: a model's labels change that much
from alignment alone.

    python scripts/bench_region_detect.py --json docs/results/region_detect.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from emolens import Analyzer
from emolens.datasets import data_root
from emolens.video.sources import open_source

CLIPS = ("single_face", "face_then_noface", "noface_then_face", "stage_three", "hikers_crowd")


def _run(analyzer: Analyzer, clip: Path, every: int) -> tuple[float, list[dict], object]:
    t0 = time.perf_counter()
    with analyzer.analyze_video(clip, full_detect_every=every) as run:
        frames = [{f.track_id: (f.label, f.box) for f in fr} for fr in run]
        stats = run.stats
    return time.perf_counter() - t0, frames, stats


def _agreement(base: list[dict], other: list[dict]) -> tuple[int, float, float]:
    same, ious = [], []
    for b, o in zip(base, other, strict=True):
        for label, box in b.values():
            best = max(o.values(), key=lambda v: v[1].iou(box), default=None)
            if best is not None and best[1].iou(box) > 0.3:
                same.append(best[0] == label)
                ious.append(best[1].iou(box))
    return len(same), float(np.mean(same)) if same else float("nan"), float(np.mean(ious)) if ious else float("nan")


def _shift_agreement(analyzer: Analyzer, clip: Path, px: int = 2) -> float:
    """Raw-label agreement between each frame and the same frame moved by ``px`` pixels, both searched whole."""
    stages, same = analyzer.stages, []
    src = open_source(clip)
    try:
        for i, fr in enumerate(src):
            if i % 2:
                continue
            rgb = fr.rgb
            moved = np.ascontiguousarray(np.pad(rgb, ((px, 0), (px, 0), (0, 0)), mode="edge")[:-px, :-px])
            found, found_moved = stages.detect(rgb), stages.detect(moved)
            if not found or not found_moved:
                continue
            labels = [int(np.argmax(p)) for p in stages.classify([stages.prepare(rgb, found)])[0]]
            for k, d in enumerate(found):
                e = max(found_moved, key=lambda x: x.box.iou(d.box))
                if e.box.iou(d.box) > 0.3:
                    p = stages.classify([stages.prepare(moved, [e])])[0][0]
                    same.append(int(np.argmax(p)) == labels[k])
    finally:
        src.close()
    return float(np.mean(same))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=5, help="full_detect_every of the compared run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    videos = data_root() / "videos"
    analyzer = Analyzer(threads=args.threads)
    rows = []
    for name in CLIPS:
        clip = videos / f"{name}.mp4"
        times: dict[int, list[float]] = {1: [], args.every: []}
        results = {}
        for _ in range(args.runs):
            for every in (1, args.every):
                t, frames, stats = _run(analyzer, clip, every)
                times[every].append(t)
                results[every] = (frames, stats)
        (whole, ws), (regions, rs) = results[1], results[args.every]
        matched, agree, iou = _agreement(whole, regions)
        row = {
            "clip": name,
            "frames": len(whole),
            "wall_s_whole": round(statistics.median(times[1]), 2),
            "wall_s_regions": round(statistics.median(times[args.every]), 2),
            "speedup": round(statistics.median(times[1]) / statistics.median(times[args.every]), 2),
            "frames_searched_whole": rs.frames_searched_whole,
            "tracks": [ws.tracks, rs.tracks],
            "faces": [sum(map(len, whole)), sum(map(len, regions))],
            "matched_faces": matched,
            "raw_label_agreement": round(agree, 3),
            "box_iou": round(iou, 3),
            "raw_label_agreement_2px_shift": round(_shift_agreement(analyzer, clip), 3),
        }
        rows.append(row)
        print(json.dumps(row))
    out = {
        "command": f"python scripts/bench_region_detect.py --every {args.every} --runs {args.runs}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "clips": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
