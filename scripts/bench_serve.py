"""Service benchmark: /v1/analyze latency, 4 concurrent clients, and WebSocket stream throughput, on loopback.

    python scripts/bench_serve.py --json docs/results/bench_serve.json

Starts `emolens serve --no-keys --threads 2` in a subprocess (so the client's work does not share its
interpreter), waits for /healthz, then:
1. latency: 200 sequential POST /v1/analyze of a 640x480 one-face JPEG (a frame of single_face.mp4, letterboxed
   to 640x480), after 10 warm-up requests: p50, p95, p99 in ms, for each server profile: the default
   (YuNet, longest side up to 1024, so a 640x480 frame runs at full size), ``--detector retinaface`` (the thorough
   profile, also at full size), RetinaFace with ``--detector-size 416`` and ``320``, and ``--detector blazeface``;
   each profile gets its own server process;
2. load: 4 concurrent clients for ``--seconds`` (60) posting the same JPEG to the ``--load-size`` profile:
   requests, errors, requests/s; with ``--locust``, the same load again from locust in headless mode
   (``scripts/locustfile.py``; needs ``pip install locust``);
3. stream: one WebSocket sends 300 JPEG frames of single_face.mp4 (640x480) as fast as results come back
   (one frame in flight at a time, the way a camera client waits) and the frames/s of answered frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from emolens.datasets import data_root


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def frames_640x480(n: int) -> list[bytes]:
    cap = cv2.VideoCapture(str(data_root() / "videos" / "single_face.mp4"))
    out = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        h, w = bgr.shape[:2]
        s = min(640 / w, 480 / h)
        small = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((480, 640, 3), np.uint8)
        y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        out.append(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    cap.release()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


PROFILES = {
    "default": [],
    "default-1-thread": ["--threads", "1"],
    "retinaface": ["--detector", "retinaface"],
    "retinaface-416": ["--detector", "retinaface", "--detector-size", "416"],
    "retinaface-320": ["--detector", "retinaface", "--detector-size", "320"],
    "blazeface": ["--detector", "blazeface"],
}


class Server:
    """``emolens serve --no-keys --threads 2`` in a subprocess, on a free loopback port."""

    def __init__(self, extra: list[str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("emolens")
        args = ["serve", "--no-keys", "--port", str(self.port), "--threads", "2", "--rate", "1000000", *extra]
        self.proc = subprocess.Popen(
            [str(exe), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "EMOLENS_GALLERY": "/tmp/emolens-bench-serve.db"},
        )
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for _ in range(300):
                try:
                    if c.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    time.sleep(0.1)
        raise RuntimeError(f"server did not start: emolens {' '.join(args)}")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def latency(base: str, jpeg: bytes, n: int = 200) -> dict:
    one = {"image": ("f.jpg", jpeg, "image/jpeg")}
    with httpx.Client(base_url=base, timeout=30) as c:
        for _ in range(10):
            r = c.post("/v1/analyze", files=one)
            assert r.status_code == 200 and len(r.json()["faces"]) == 1, r.text
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            c.post("/v1/analyze", files=one)
            lat.append(1000 * (time.perf_counter() - t))
    return {
        "n": len(lat),
        "p50": round(statistics.median(lat), 2),
        "p95": round(pct(lat, 0.95), 2),
        "p99": round(pct(lat, 0.99), 2),
    }


def load(base: str, jpeg: bytes, clients: int, seconds: float) -> dict:
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            while time.perf_counter() < stop:
                try:
                    ok = c.post("/v1/analyze", files={"image": ("f.jpg", jpeg, "image/jpeg")}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["ok" if ok else "errors"] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    return {"clients": clients, "seconds": round(dt, 1), **counts, "requests_per_s": round(counts["ok"] / dt, 1)}


def locust_load(base: str, jpeg: bytes, clients: int, seconds: float) -> dict:
    """The same load from locust (headless), for a second opinion from a standard load tool."""
    import csv
    import tempfile

    exe = Path(sys.executable).with_name("locust")
    with tempfile.TemporaryDirectory() as d:
        frame = Path(d) / "frame.jpg"
        frame.write_bytes(jpeg)
        cmd = [
            str(exe), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless", "--host", base,
            "-u", str(clients), "-r", str(clients), "-t", f"{int(seconds)}s", "--csv", f"{d}/run", "--only-summary",
        ]  # fmt: skip
        subprocess.run(cmd, check=False, env={**os.environ, "EMOLENS_LOCUST_JPEG": str(frame)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        with open(f"{d}/run_stats.csv", newline="") as f:
            rows = {r["Name"]: r for r in csv.DictReader(f)}
    agg = rows["Aggregated"]
    return {
        "tool": "locust",
        "clients": clients,
        "seconds": seconds,
        "requests": int(agg["Request Count"]),
        "errors": int(agg["Failure Count"]),
        "requests_per_s": round(float(agg["Requests/s"]), 1),
        "p50_ms": float(agg["50%"]),
        "p95_ms": float(agg["95%"]),
    }


def stream(port: int, frames: list[bytes]) -> dict:
    async def run() -> dict:
        import websockets

        got = 0
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream", max_size=None) as ws:
            t = time.perf_counter()
            for f in frames:
                await ws.send(f)
                msg = json.loads(await ws.recv())
                got += "faces" in msg
            dt = time.perf_counter() - t
            await ws.send("end")
        return {"frames_sent": len(frames), "results": got, "seconds": round(dt, 2), "frames_per_s": round(got / dt, 1)}

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--profiles", default=",".join(PROFILES), help="latency profiles to run (comma-separated)")
    ap.add_argument("--load-profile", default="default", choices=list(PROFILES))
    ap.add_argument("--locust", action="store_true", help="also run the load with locust (pip install locust)")
    a = ap.parse_args()
    res: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python " + " ".join(sys.argv),
        "analyze_latency_ms": {},
    }
    frames = frames_640x480(300)
    for name in a.profiles.split(","):
        with Server(PROFILES[name]) as srv:
            res["analyze_latency_ms"][name] = latency(srv.base, frames[0])
        log(f"{name}: {json.dumps(res['analyze_latency_ms'][name])}")
    with Server(PROFILES[a.load_profile]) as srv:
        res["load"] = {"profile": a.load_profile, **load(srv.base, frames[0], a.clients, a.seconds)}
        log(json.dumps(res["load"]))
        if a.locust:
            res["locust"] = {"profile": a.load_profile, **locust_load(srv.base, frames[0], a.clients, a.seconds)}
            log(json.dumps(res["locust"]))
        res["stream"] = stream(srv.port, frames)
        log(json.dumps(res["stream"]))
    text = json.dumps(res, indent=2)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
