"""Benchmark ``emolens batch``: throughput of one process and of 2 workers (local processes, Ray actors).

The same inputs for every configuration: the 15 distinct shared photos (``photos/voc_boxes/*.jpg``,
``couple.jpg``, ``landscape.jpg``, ``expression_grid.jpg``; 0 to 54 faces, 1024 px wide) cycled to ``--items``
(80) files under distinct names in a temporary folder (each is read once into the page cache first). Each
configuration writes a fresh output folder with :func:`emolens.batch.run_batch`:

``1 process, 1 thread``   ``engine="local", workers=1, threads=1`` (the baseline)
``1 process, 2 threads``  ``engine="local", workers=1, threads=2``
``local, 2 workers``      ``engine="local", workers=2`` (2 processes, 1 thread each)
``ray, 2 workers``        ``engine="ray", workers=2`` (a private local Ray instance, 2 actors of 1 CPU)

Throughput is inputs (and faces) per second of ``run_seconds``: from the workers having loaded their models to
the last commit (Parquet parts and resume records written). Start-up (``ray.init``, spawning workers, loading
models) is reported on its own, and the end-to-end rate with it. Configurations run interleaved
(ABCD ABCD ...) ``--repeats`` times; the table gives the median, the JSON every run.

Overheads for the scaling projection (docs/batch.md): the driver's time in commits (Parquet + records), the
Arrow bytes of face rows per input, the mean input size, the round trip of an empty Ray actor call, the CPU
time per input of the local configurations (this process and its worker processes), the driver's CPU per input
with Ray (480 photos, BlazeFace), commits of synthetic results of 10 to 5,000 inputs (fixed and per-input cost,
Parquet bytes), and planning (``plan_inputs``) per file over the shared LFW images.

Contention: before and after, two busy-loop processes measure how many cores a 2-process job gets at that
moment (2.0 on an idle 2-core machine); other jobs on the machine lower it, whatever their ``nice`` value when
the kernel groups processes by session (``/proc/sys/kernel/sched_autogroup_enabled``).

Usage::

    python scripts/bench_batch.py [--data DIR] [--items 80] [--repeats 3] [--detector retinaface]
        [--chunk-size 8] [--only 1,2,3,4] [--json docs/results/bench_batch.json] [--quick]

``--quick`` runs 12 items once with BlazeFace, to check that the script works. Timings depend on the machine
and on what else runs on it (the JSON records the load average before and after).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

CONFIGS: dict[str, dict[str, Any]] = {
    "1 process, 1 thread": {"engine": "local", "workers": 1, "threads": 1},
    "1 process, 2 threads": {"engine": "local", "workers": 1, "threads": 2},
    "local, 2 workers": {"engine": "local", "workers": 2},
    "ray, 2 workers": {"engine": "ray", "workers": 2},
}
BASELINE = "1 process, 1 thread"


def data_dir(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
    if not (path / "photos" / "couple.jpg").is_file():
        sys.exit(f"shared photos not found under {path} (use --data or EMOLENS_DATA)")
    return path


def build_inputs(data: Path, folder: Path, items: int) -> list[Path]:
    photos = data / "photos"
    extra = [photos / name for name in ("couple.jpg", "landscape.jpg", "expression_grid.jpg")]
    unique = [*sorted((photos / "voc_boxes").glob("*.jpg")), *extra]
    paths = []
    for k in range(items):
        src = unique[k % len(unique)]
        dst = folder / f"{k:04d}_{src.name}"
        shutil.copyfile(src, dst)
        dst.read_bytes()  # into the page cache, as for every configuration after the first
        paths.append(dst)
    return paths


class CommitTimer:
    """Wraps ``BatchStore.commit`` to add up the driver's time writing Parquet parts and records."""

    def __init__(self) -> None:
        from emolens.batch.store import BatchStore

        self.seconds = 0.0
        self.commits = 0
        original = BatchStore.commit

        def timed(store: Any, results: list[Any]) -> Any:
            t = time.perf_counter()
            try:
                return original(store, results)
            finally:
                self.seconds += time.perf_counter() - t
                self.commits += 1

        BatchStore.commit = timed  # type: ignore[method-assign]

    def take(self) -> tuple[float, int]:
        out = (self.seconds, self.commits)
        self.seconds, self.commits = 0.0, 0
        return out


def one_run(name: str, inputs: list[Path], work: Path, args: argparse.Namespace, timer: CommitTimer) -> dict[str, Any]:
    from emolens.batch import run_batch

    out = work / f"out-{name.replace(' ', '').replace(',', '_')}-{time.monotonic_ns()}"
    config = CONFIGS[name]
    cpu0 = _cpu_seconds()
    summary = run_batch(
        inputs, out, detector=args.detector, chunk_size=args.chunk_size, commit_interval=args.commit_interval, **config
    )
    cpu = _cpu_seconds() - cpu0  # this process and its reaped children: not Ray's workers
    commit_s, commits = timer.take()
    arrow_bytes = _arrow_bytes(out)
    shutil.rmtree(out)
    if summary.failed or summary.done != len(inputs):
        sys.exit(f"{name}: {summary.failed} input(s) failed: {summary.failures[:3]}")
    return {
        "config": name,
        **config,
        "threads_per_worker": summary.threads,
        "items": summary.done,
        "faces": summary.faces,
        "run_s": round(summary.run_seconds, 3),
        "startup_s": round(summary.startup_seconds, 3),
        "total_s": round(summary.seconds, 3),
        "ray_init_s": None if summary.ray_init_seconds is None else round(summary.ray_init_seconds, 3),
        "items_per_s": round(summary.done / summary.run_seconds, 3),
        "faces_per_s": round(summary.faces / summary.run_seconds, 2),
        "items_per_s_end_to_end": round(summary.done / summary.seconds, 3),
        "cpu_s": None if config["engine"] == "ray" else round(cpu, 2),
        "commit_s": round(commit_s, 4),
        "commits": commits,
        "arrow_bytes": arrow_bytes,
    }


def _cpu_seconds() -> float:
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def effective_cores(n: int = 2, loops: int = 15_000_000) -> float:
    """Cores that ``n`` busy processes get now: ``n x`` (time of one alone) / (time of each of ``n`` together)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(n) as pool:
        pool.map(_spin, [loops // 10] * n)  # start-up out of the way
        alone = pool.apply(_spin, (loops,))
        together = statistics.mean(pool.map(_spin, [loops] * n))
    return round(n * alone / together, 2)


def _spin(loops: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(loops):
        x += i
    return time.perf_counter() - t


def _arrow_bytes(out: Path) -> int:
    import pyarrow.dataset as ds

    return int(ds.dataset(out / "faces", format="parquet", partitioning="hive").to_table().nbytes)


def ray_call_overhead(calls: int = 300) -> dict[str, float]:
    """Round trip of an empty actor method on a fresh local Ray instance (2 CPUs), sequential and pipelined."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:

        @ray.remote(num_cpus=1)
        class Echo:
            def echo(self, x: Any) -> Any:
                return x

        actor = Echo.remote()
        ray.get(actor.echo.remote(0))
        t = time.perf_counter()
        for k in range(calls):
            ray.get(actor.echo.remote(k))
        sequential = (time.perf_counter() - t) / calls
        t = time.perf_counter()
        ray.get([actor.echo.remote(k) for k in range(calls)])
        pipelined = (time.perf_counter() - t) / calls
    finally:
        ray.shutdown()
    return {"sequential_ms": round(sequential * 1e3, 3), "pipelined_ms": round(pipelined * 1e3, 3)}


def driver_cpu(inputs: list[Path], work: Path, copies: int = 480) -> dict[str, float]:
    """Driver CPU per input with Ray: ``copies`` photos with BlazeFace (fast, so the driver's share shows) on an
    already started local Ray (2 CPUs), after one warm-up run; planning, scheduling, receiving, commits included."""
    import ray

    from emolens.batch import run_batch

    folder = work / "driver"
    folder.mkdir()
    paths = []
    for k in range(copies):
        dst = folder / f"{k:04d}_{inputs[k % len(inputs)].name}"
        os.link(inputs[k % len(inputs)], dst)
        paths.append(dst)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        run_batch(paths[:40], work / "driver-warm", engine="ray", workers=2, detector="blazeface")
        t = time.process_time()
        summary = run_batch(paths, work / "driver-out", engine="ray", workers=2, detector="blazeface")
        cpu = time.process_time() - t
    finally:
        ray.shutdown()
    return {"inputs": copies, "driver_cpu_ms_per_input": round(1e3 * cpu / copies, 3), "run_s": summary.run_seconds}


def commit_cost(work: Path, faces: int = 16) -> list[dict[str, float]]:
    """``BatchStore.commit`` of synthetic results (``faces`` rows per input, random values) of 10 to 5,000 inputs."""
    import numpy as np
    import pyarrow as pa

    from emolens.batch.plan import WorkItem
    from emolens.batch.store import BatchStore
    from emolens.batch.tables import face_schema
    from emolens.batch.work import ChunkResult, ItemOutcome
    from emolens.labels import FER2013

    schema = face_schema(FER2013)
    rng = np.random.default_rng(0)
    out = []
    for n in (10, 100, 1000, 5000):
        rows = n * faces
        items = [
            WorkItem(f"{i:016x}", f"/data/{i:08d}.jpg", f"/data/{i:08d}.jpg", "photo", 114_000, 1) for i in range(n)
        ]
        columns: dict[str, Any] = {c: rng.random(rows).round(4) for c in schema.names}
        columns.update({c: [None] * rows for c in ("frame", "timestamp", "track_id", "smoothed_label")})
        columns.update({f"s_{lab}": [None] * rows for lab in FER2013})
        columns["input_id"] = [it.id for it in items for _ in range(faces)]
        columns["source"] = [it.source for it in items for _ in range(faces)]
        columns["face"] = [f for _ in items for f in range(faces)]
        columns["width"], columns["height"], columns["label"] = [1024] * rows, [683] * rows, ["happy"] * rows
        result = ChunkResult(
            tuple(ItemOutcome(it, faces=faces, width=1024, height=683) for it in items),
            {"photo": pa.Table.from_pydict(columns, schema=schema)},
            "w",
            0.0,
        )
        store = BatchStore(work / f"commit-{n}")
        store.open({"bench": True})
        times = []
        for _ in range(3):
            t = time.perf_counter()
            store.commit([result])
            times.append(time.perf_counter() - t)
        store.close()
        size = sum(p.stat().st_size for p in (work / f"commit-{n}" / "faces").rglob("*.parquet")) / 3
        out.append({"inputs": n, "ms": round(1e3 * min(times), 2), "parquet_bytes_per_input": round(size / n)})
    return out


def plan_cost(data: Path) -> dict[str, float] | None:
    """``plan_inputs`` over the 9,056 LFW images of the shared data (walk, stat, ids), per file."""
    from emolens.batch import plan_inputs

    folder = data / "lfw" / "images"
    if not folder.is_dir():
        return None
    t = time.perf_counter()
    plan = plan_inputs([folder])
    return {"files": len(plan.items), "ms_per_file": round(1e3 * (time.perf_counter() - t) / len(plan.items), 4)}


def machine() -> dict[str, Any]:
    import onnxruntime as ort
    import pyarrow as pa

    try:
        import ray

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "pyarrow": pa.__version__,
        "ray": ray_version,
        "platform": platform.platform(),
    }


def load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="shared datasets folder (default: $EMOLENS_DATA or ../shared/datasets)")
    ap.add_argument("--items", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--detector", default="retinaface")
    ap.add_argument("--chunk-size", type=int, default=8)
    ap.add_argument("--commit-interval", type=float, default=10.0)
    ap.add_argument("--only", help="configurations by number, comma-separated: 1,3 (default: all four)")
    ap.add_argument("--json", type=Path, help="write every run and the medians here")
    ap.add_argument("--quick", action="store_true", help="12 items, once, BlazeFace: check that the script works")
    args = ap.parse_args()
    if args.quick:
        args.items, args.repeats, args.detector = 12, 1, "blazeface"
    names = [list(CONFIGS)[int(k) - 1] for k in args.only.split(",")] if args.only else list(CONFIGS)
    data = data_dir(args.data)
    timer = CommitTimer()
    runs: list[dict[str, Any]] = []
    load_before = load()
    cores_before = effective_cores()
    print(f"cores available to 2 busy processes: {cores_before}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        inputs = build_inputs(data, work / "in", args.items)
        input_bytes = sum(p.stat().st_size for p in inputs)
        for r in range(args.repeats):
            for name in names:
                result = one_run(name, inputs, work, args, timer)
                result["repeat"] = r
                runs.append(result)
                print(
                    f"  {name:22s} run {r + 1}: {result['items_per_s']:.2f} inputs/s, {result['faces_per_s']:.1f} "
                    f"faces/s, start-up {result['startup_s']:.1f} s",
                    flush=True,
                )
        extra: dict[str, Any] = {"commit": commit_cost(work), "planning": plan_cost(data)}
        if "ray, 2 workers" in names:
            extra["ray_actor_call"] = ray_call_overhead()
            extra["driver_with_ray"] = driver_cpu(inputs, work, 40 if args.quick else 480)
    overhead = extra.get("ray_actor_call")
    load_after = load()
    cores_after = effective_cores()

    medians = {}
    for name in names:
        mine = [r for r in runs if r["config"] == name]
        medians[name] = {
            k: round(statistics.median(r[k] for r in mine), 3)
            for k in ("items_per_s", "faces_per_s", "run_s", "startup_s", "total_s", "items_per_s_end_to_end")
        }
        ray_init = [r["ray_init_s"] for r in mine if r["ray_init_s"] is not None]
        medians[name]["ray_init_s"] = round(statistics.median(ray_init), 3) if ray_init else None
        cpu = [r["cpu_s"] / r["items"] for r in mine if r["cpu_s"] is not None]
        medians[name]["cpu_ms_per_input"] = round(1e3 * statistics.median(cpu), 1) if cpu else None
        medians[name]["commit_ms_per_input"] = round(
            1e3 * statistics.median(r["commit_s"] / r["items"] for r in mine), 3
        )
    base = medians.get(BASELINE, {}).get("items_per_s")
    two_threads = medians.get("1 process, 2 threads", {}).get("items_per_s")
    for m in medians.values():
        m["speedup_vs_1_thread"] = round(m["items_per_s"] / base, 3) if base else None
        m["speedup_vs_2_threads"] = round(m["items_per_s"] / two_threads, 3) if two_threads else None

    faces = runs[0]["faces"]
    report = {
        "date": dt.date.today().isoformat(),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cores_available_to_2_processes": {"before": cores_before, "after": cores_after},
        "inputs": {
            "items": args.items,
            "distinct_photos": 15,
            "faces_per_pass": faces,
            "input_mb": round(input_bytes / 1e6, 2),
            "mean_input_kb": round(input_bytes / args.items / 1e3, 1),
            "detector": args.detector,
            "chunk_size": args.chunk_size,
        },
        "medians": medians,
        "overheads": {"arrow_bytes_per_input": round(runs[0]["arrow_bytes"] / args.items), **extra},
        "runs": runs,
    }
    print()
    print(f"{args.items} photos ({faces} faces), detector {args.detector}, median of {args.repeats} run(s)")
    print(f"{'configuration':24s} {'inputs/s':>9s} {'faces/s':>8s} {'vs 1 thr':>9s} {'vs 2 thr':>9s} "
          f"{'start-up s':>11s} {'end-to-end/s':>13s}")  # fmt: skip
    for name, m in medians.items():
        print(
            f"{name:24s} {m['items_per_s']:9.2f} {m['faces_per_s']:8.1f} {m['speedup_vs_1_thread'] or 0:8.2f}x "
            f"{m['speedup_vs_2_threads'] or 0:8.2f}x {m['startup_s']:11.1f} {m['items_per_s_end_to_end']:13.2f}"
        )
    if overhead:
        print(
            f"Ray empty actor call: {overhead['sequential_ms']} ms sequential, {overhead['pipelined_ms']} ms pipelined"
        )
    if "driver_with_ray" in extra:
        print(f"driver CPU per input with Ray: {extra['driver_with_ray']['driver_cpu_ms_per_input']} ms")
    for c in extra["commit"]:
        print(f"commit of {c['inputs']} inputs: {c['ms']} ms, {c['parquet_bytes_per_input']} Parquet bytes per input")
    if extra["planning"]:
        print(f"planning: {extra['planning']['ms_per_file']} ms per file")
    for name, m in medians.items():
        if m["cpu_ms_per_input"] is not None:
            print(f"CPU time per input, {name}: {m['cpu_ms_per_input']} ms")
    print(f"load average before {load_before}, after {load_after}")
    print(f"cores available to 2 busy processes: before {cores_before}, after {cores_after}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"→ {args.json}")


if __name__ == "__main__":
    main()
