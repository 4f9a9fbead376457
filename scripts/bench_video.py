"""Benchmark video analysis end to end: throughput, live latency, label flicker and memory over a long input.

Four measurements (each can be chosen with ``--only``):

``throughput``
    Frames per second of ``Analyzer.analyze_video`` on 640x480 MP4 files with 1 and with 5 faces, decoding,
    detection, tracking, alignment, classification and smoothing included (models loaded and warmed up first).
    The inputs are built from ``single_face.mp4``: the 1-face file is the clip padded to 640x480; the 5-face file
    tiles five crops of the face (at different moments of the clip) on a 640x480 canvas. The table gives the
    faces actually found per frame next to the rate.
``latency``
    A simulated live camera: ``single_face.mp4`` padded to 640x480 and replayed at ``--live-fps`` (30) in real
    time as a live source (ring buffer, drops oldest). Latency is the time from a frame's capture to its result
    leaving the iterator: median, 95th percentile, maximum, and the frames dropped to keep up.
``flicker``
    Label changes per minute of track time, raw labels versus ``ema`` and ``hysteresis`` smoothing, on every
    shared clip (``../shared/datasets/videos``).
``memory``
    Peak resident memory while analysing ``single_face.mp4`` looped to ``--loop-minutes`` (10) minutes of video,
    writing the CSV and Parquet tables and the track summary as ``emolens video`` does. RSS is sampled every
    100 frames; the table gives RSS after the first tenth, the peak, the end, and the growth per minute of video
    over the last 80% (flat memory: close to 0).

Usage::

    python scripts/bench_video.py [--data DIR] [--detector blazeface] [--threads 1] [--cores 2]
        [--only throughput,latency,flicker,memory] [--frames 600] [--live-seconds 20] [--loop-minutes 10]
        [--json out.json] [--quick]

``--cores N`` pins the process to N CPU cores (Linux), for the "2 cores" targets of the project's issue 4.
``--quick`` runs each measurement on a few seconds of video, to check the script works. Timings depend on the
machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from emolens import Analyzer
from emolens.video import Frame, VideoSource, count_label_changes
from emolens.video.writers import VideoOutputWriter

REPO = Path(__file__).resolve().parents[1]
W, H = 640, 480
CLIPS = ("single_face", "face_then_noface", "noface_then_face", "stage_three", "hikers_crowd")


# ------------------------------------------------------------------------------------------------------ inputs


def read_frames(path: Path) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr
    finally:
        cap.release()


def pad_640x480(bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = min(W / w, H / h)
    small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.zeros((H, W, 3), np.uint8)
    y, x = (H - small.shape[0]) // 2, (W - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def mosaic_5(frames: list[np.ndarray]) -> np.ndarray:
    """Five face crops (x 280-600 of the 640x360 clip, around the face) on a 640x480 canvas: 3 above, 2 below."""
    out = np.zeros((H, W, 3), np.uint8)
    tw, th = 213, 240
    spots = [(0, 0), (213, 0), (426, 0), (106, 240), (320, 240)]
    for bgr, (x, y) in zip(frames, spots, strict=True):
        crop = bgr[:, 280:600]
        out[y : y + th, x : x + tw] = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
    return out


def build_inputs(clip: Path, folder: Path, n_frames: int) -> dict[str, Path]:
    """Write the 640x480 1-face and 5-face MP4 inputs (``n_frames`` each, the clip looped as needed)."""
    fps = 25.0
    paths = {}
    for faces in (1, 5):
        path = folder / f"bench_{faces}face.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
        streams = [_loop(clip) for _ in range(faces)]
        for k, stream in enumerate(streams):  # each tile shows another moment of the clip
            for _ in range(97 * k):
                next(stream)
        for _ in range(n_frames):
            tiles = [next(stream) for stream in streams]
            writer.write(pad_640x480(tiles[0]) if faces == 1 else mosaic_5(tiles))
        writer.release()
        paths[f"{faces} face" + ("s" if faces > 1 else "")] = path
    return paths


def _loop(clip: Path) -> Iterator[np.ndarray]:
    while True:
        yield from read_frames(clip)


class PacedLiveSource(VideoSource):
    """Replays a file in real time at ``fps`` as a live source (like a camera); stops after ``seconds``."""

    live = True

    def __init__(self, path: Path, fps: float, seconds: float) -> None:
        self.path, self.fps, self.seconds = path, fps, seconds
        self.name = f"paced {path.name} @ {fps:g} fps"
        self.width, self.height = W, H

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.perf_counter()
        n = int(self.seconds * self.fps)
        for i, bgr in zip(range(n), _loop(self.path), strict=False):
            due = t0 + i / self.fps
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            at = time.perf_counter()  # "captured" now
            yield Frame(i, at - t0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), at)


class LoopedSource(VideoSource):
    """A clip played again and again (re-opened each time) for ``minutes`` of video time, as one long file."""

    def __init__(self, path: Path, minutes: float) -> None:
        cap = cv2.VideoCapture(str(path))
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        cap.release()
        self.path = path
        self.frame_count = int(minutes * 60 * self.fps)
        self.name = f"{path.name} looped to {minutes:g} min"

    def __iter__(self) -> Iterator[Frame]:
        for i, bgr in zip(range(self.frame_count), _loop(self.path), strict=False):
            yield Frame(i, i / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter())


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; else the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -------------------------------------------------------------------------------------------------- measures


def throughput(analyzer: Analyzer, inputs: dict[str, Path]) -> list[dict]:
    rows = []
    for name, path in inputs.items():
        list(analyzer.analyze_video(path, max_frames=10))  # warm-up: models loaded, sessions initialised
        t0 = time.perf_counter()
        run = analyzer.analyze_video(path)
        n = faces = 0
        for r in run:
            n += 1
            faces += len(r)
        sec = time.perf_counter() - t0
        rows.append(
            {
                "input": f"640x480, {name}",
                "frames": n,
                "seconds": round(sec, 2),
                "frames_per_s": round(n / sec, 1),
                "faces_per_frame": round(faces / max(n, 1), 2),
                "model_calls": run.stats.model_calls,
            }
        )
        print(f"  throughput {rows[-1]}", flush=True)
    return rows


def latency(analyzer: Analyzer, clip_1face: Path, fps: float, seconds: float) -> dict:
    list(analyzer.analyze_video(clip_1face, max_frames=10))
    run = analyzer.analyze_video(PacedLiveSource(clip_1face, fps, seconds), with_frames=True)
    lat = []
    for _result, frame in run:
        lat.append((time.perf_counter() - frame.captured_at) * 1000)
    lat.sort()
    row = {
        "source": f"live, 640x480, 1 face, {fps:g} fps for {seconds:g} s",
        "frames_captured": run.stats.frames_read,
        "frames_analysed": len(lat),
        "frames_dropped": run.stats.frames_dropped,
        "latency_ms_median": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        "latency_ms_max": round(lat[-1], 1) if lat else None,
    }
    print(f"  latency {row}", flush=True)
    return row


def flicker(analyzer: Analyzer, videos: Path, max_frames: int | None) -> list[dict]:
    rows = []
    for clip in CLIPS:
        path = videos / f"{clip}.mp4"
        row: dict = {"clip": clip}
        for method in ("ema", "hysteresis"):
            seq: dict[int, list[tuple[float, str, str]]] = {}
            for r in analyzer.analyze_video(path, smoothing=method, max_frames=max_frames):
                for f in r:
                    seq.setdefault(f.track_id, []).append((r.timestamp, f.label, f.smoothed_label))
            minutes = sum((s[-1][0] - s[0][0]) / 60 for s in seq.values())
            raw = sum(count_label_changes([x[1] for x in s]) for s in seq.values())
            smooth = sum(count_label_changes([x[2] for x in s]) for s in seq.values())
            row["track_minutes"] = round(minutes, 3)
            row["tracks"] = len(seq)
            row["raw_changes_per_min"] = round(raw / minutes, 1) if minutes else None
            row[f"{method}_changes_per_min"] = round(smooth / minutes, 1) if minutes else None
        rows.append(row)
        print(f"  flicker {row}", flush=True)
    return rows


def memory(analyzer: Analyzer, clip: Path, minutes: float, out_dir: Path) -> dict:
    source = LoopedSource(clip, minutes)
    run = analyzer.analyze_video(source)
    samples: list[tuple[float, float]] = []  # (video minutes, RSS MiB)
    start = rss_mb()
    t0 = time.perf_counter()
    outputs = VideoOutputWriter(out_dir, run.labels, source=source.name, plots=False)
    try:
        for r in run:
            outputs.write(r)
            if r.index % 100 == 0:
                samples.append((r.timestamp / 60, rss_mb()))
    finally:
        outputs.close()
    samples.append((minutes, rss_mb()))
    sec = time.perf_counter() - t0
    tenth = next((m for t, m in samples if t >= minutes / 10), samples[0][1])
    tail = [(t, m) for t, m in samples if t >= minutes / 5]
    slope = float(np.polyfit([t for t, _ in tail], [m for _, m in tail], 1)[0]) if len(tail) >= 3 else None
    row = {
        "input": source.name,
        "frames": run.stats.frames_analysed,
        "seconds": round(sec, 1),
        "rss_mb_before": round(start, 1),
        "rss_mb_after_first_tenth": round(tenth, 1),
        "rss_mb_peak": round(max(m for _, m in samples), 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "rss_mb_per_video_minute_last_80pct": None if slope is None else round(slope, 2),
    }
    print(f"  memory {row}", flush=True)
    return row


# ------------------------------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="datasets folder (default $EMOLENS_DATA or ../shared)")
    ap.add_argument("--detector", default="blazeface")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    ap.add_argument("--cores", type=int, default=None, help="pin the process to this many CPU cores (Linux)")
    ap.add_argument("--only", default="throughput,latency,flicker,memory")
    ap.add_argument("--frames", type=int, default=600, help="frames of each throughput input")
    ap.add_argument("--live-fps", type=float, default=30.0)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--loop-minutes", type=float, default=10.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="a few seconds of video per measurement (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.live_seconds, args.loop_minutes = 50, 3.0, 0.1
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    data = args.data or Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    videos = data / "videos"
    if not (videos / "single_face.mp4").is_file():
        print(f"clips not found in {videos}", file=sys.stderr)
        return 2
    only = set(args.only.split(","))
    options = {"max_size": 640} if args.detector == "retinaface" else {}
    analyzer = Analyzer(args.detector, threads=args.threads, detector_options=options)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {cores} cores available",
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "detector": args.detector,
        "threads_per_model": args.threads,
        "quick": args.quick,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    print(f"{report['machine']}; detector {args.detector}, {args.threads} thread(s) per model", flush=True)
    with tempfile.TemporaryDirectory(prefix="emolens-bench-") as tmp:
        tmp_path = Path(tmp)
        inputs = build_inputs(videos / "single_face.mp4", tmp_path, args.frames)
        if "throughput" in only:
            report["throughput"] = throughput(analyzer, inputs)
        if "latency" in only:
            report["latency"] = latency(analyzer, inputs["1 face"], args.live_fps, args.live_seconds)
        if "flicker" in only:
            report["flicker"] = flicker(analyzer, videos, 100 if args.quick else None)
        if "memory" in only:
            report["memory"] = memory(analyzer, videos / "single_face.mp4", args.loop_minutes, tmp_path / "out")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
