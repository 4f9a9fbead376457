"""``emolens analyze`` over a folder of photos: photos/s of this checkout against another emolens, run A B A B.

The folder holds ``--photos`` (200) copies of the 12 ``photos/voc_boxes`` photos, cycled, in a temporary
directory. Each run is the whole command ``emolens analyze DIR -q -o OUT.jsonl`` (start-up and model loading
included, as a user sees it); the runs of the two commands alternate so that both see the same machine, and the
ratio is taken pair by pair. The CPU time of each run (user + system, from the operating system's accounting of
the finished child) over its wall time says how many cores it kept busy.

Usage::

    python scripts/bench_folder.py --baseline /path/to/other/checkout/.venv/bin/emolens [--pairs 5] [--json out.json]
    python scripts/bench_folder.py --baseline ... --extra-b "--workers 1"   # this checkout without the pipeline

Both outputs are compared at the end: the same number of records and faces is expected when both use the same
detector (``--extra-a``/``--extra-b`` pass options to one side).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def records(path: Path) -> tuple[int, int]:
    """(records, faces) of a JSON-lines output."""
    faces = 0
    sources = set()
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        sources.add(rec.get("file"))
        faces += rec.get("face") is not None
    return len(sources), faces


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="the other emolens executable (A)")
    ap.add_argument("--candidate", default=str(Path(sys.executable).with_name("emolens")), help="B (this one)")
    ap.add_argument("--extra-a", default="", help="options added to A's command")
    ap.add_argument("--extra-b", default="", help="options added to B's command")
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=5, help="timed A/B pairs after one untimed pair")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    data = a.data or Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    sources = sorted((data / "photos" / "voc_boxes").glob("*.jpg"))
    tmp = Path(tempfile.mkdtemp(prefix="emolens-folder-"))
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for i in range(a.photos):
            shutil.copy(sources[i % len(sources)], folder / f"{i:04d}_{sources[i % len(sources)].name}")
        cmds = {
            "A": [a.baseline, "analyze", str(folder), "-q", "-o", str(tmp / "a.jsonl"), *shlex.split(a.extra_a)],
            "B": [a.candidate, "analyze", str(folder), "-q", "-o", str(tmp / "b.jsonl"), *shlex.split(a.extra_b)],
        }
        for c in cmds.values():  # untimed: file caches, first imports
            timed(c)
        runs: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        for _ in range(a.pairs):
            for k in ("A", "B"):
                runs[k].append(timed(cmds[k]))
        ratios = [wa / wb for (wa, _), (wb, _) in zip(runs["A"], runs["B"], strict=True)]
        out = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(),
            "photos": a.photos,
            "commands": {k: " ".join(shlex.quote(x) for x in v) for k, v in cmds.items()},
            "loadavg_at_end": os.getloadavg(),
            "ratio_B_over_A_photos_per_s": {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            },
        }
        for k in ("A", "B"):
            walls = [w for w, _ in runs[k]]
            cores = [c / w for w, c in runs[k]]
            out[k] = {
                "wall_s_median": statistics.median(walls),
                "photos_per_s_median": a.photos / statistics.median(walls),
                "cores_busy_median": statistics.median(cores),
                "records_faces": records(tmp / f"{k.lower()}.jsonl"),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k in ("A", "B"):
        r = out[k]
        print(
            f"{k}: {r['photos_per_s_median']:.2f} photos/s (median wall {r['wall_s_median']:.1f} s), "
            f"{r['cores_busy_median']:.2f} cores busy, {r['records_faces'][0]} photos / {r['records_faces'][1]} faces"
        )
    rr = out["ratio_B_over_A_photos_per_s"]
    print(f"B/A photos/s: {rr['median']:.2f}x (pairs {rr['min']:.2f}-{rr['max']:.2f}); load {out['loadavg_at_end']}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
