"""Run the attacks of the security review against live `emolens serve` processes on loopback and print the table.

    python scripts/attack_table.py [--json out.json]

Each attack starts from a fresh temporary folder (key database, gallery) and a server on a free port, run as the
``emolens`` command line runs it; the outcome column is what was observed, measured, not assumed. Run it with
``PYTHONPATH=<another checkout>/src`` to try an older version the same way. Needs the ``serve`` extra and the shared
data sets (``$EMOLENS_DATA`` or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EMOLENS_DATA") or REPO.parent / "shared" / "datasets")
EMOLENS = [sys.executable, "-c", "from emolens.cli.main import main; main()"]
MB = 1024 * 1024


def short(text: str, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*EMOLENS, *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    running: ClassVar[list[Server]] = []  # stopped by main() at the end

    def __init__(self, folder: Path, *args: str, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.url, self.ws = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        self.log_path = folder / f"serve-{self.port}.log"
        self._log = open(self.log_path, "w")
        cmd = [*EMOLENS, "serve", "--host", host, "--port", str(self.port), *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        Server.running.append(self)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()[-500:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def frame_jpeg() -> bytes:
    import cv2

    cap = cv2.VideoCapture(str(DATA / "videos" / "single_face.mp4"))
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read {DATA / 'videos' / 'single_face.mp4'} (set EMOLENS_DATA)")
    return cv2.imencode(".jpg", bgr)[1].tobytes()


def png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def ws_try(url: str, origin: str | None = None, send: list[bytes | str] | None = None, n: int = 1) -> str:
    """Open a WebSocket; 'refused (HTTP n)' or what came back."""
    try:
        with connect(url, origin=origin, open_timeout=10) as ws:
            for m in send or []:
                ws.send(m)
            got = []
            for _ in range(n):
                msg = ws.recv(timeout=90)
                got.append("a JPEG frame" if isinstance(msg, bytes) else short(msg, 100))
            return "accepted; got " + " / ".join(got)
    except InvalidStatus as e:
        return f"refused (HTTP {e.response.status_code})"
    except (ConnectionClosed, TimeoutError, OSError) as e:
        return f"closed ({type(e).__name__})"


def raw_status(port: int, length: int, key: str | None) -> str:
    head = f"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
    head += f"Content-Length: {length}\r\n" + (f"X-API-Key: {key}\r\n" if key else "") + "\r\n"
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode())
        try:
            line = s.recv(200).decode("latin-1").split("\r\n")[0]
        except TimeoutError:
            return "no answer within 5 s: the server waits to read the 200 MB body first"
    return f"{line.removeprefix('HTTP/1.1 ')} after {time.perf_counter() - t:.2f} s, body never sent"


def last_leaf(path: Path, table: str) -> tuple[int, int, int]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = path.read_bytes()
    while True:
        at = (page - 1) * size + (100 if page == 1 else 0)
        if data[at] == 0x0D:
            return page, size, struct.unpack(">H", data[at + 3 : at + 5])[0]
        page = struct.unpack(">I", data[at + 8 : at + 12])[0]


def damaged_gallery(path: Path) -> int:
    """30 people, 119 embeddings, then the embeddings table's last leaf page overwritten; rows lost with it."""
    from emolens.identity.store import EmbeddingRecord, SQLiteStore

    store = SQLiteStore(path)
    rng = np.random.default_rng(0)
    for k in range(30):
        n = min(4, 119 - 4 * k)
        store.add(f"person {k:02d}", "sface", [EmbeddingRecord(v) for v in rng.standard_normal((n, 128), np.float32)])
    store.close()
    page, size, on_page = last_leaf(path, "embeddings")
    data = bytearray(path.read_bytes())
    data[(page - 1) * size : page * size] = bytes(range(256)) * (size // 256)
    path.write_bytes(bytes(data))
    return on_page


def attacks(tmp: Path) -> list[tuple[str, str, Callable[[], str]]]:
    face = frame_jpeg()
    rows: list[tuple[str, str, Callable[[], str]]] = []
    state: dict = {}

    def keyed() -> tuple[Server, str]:
        if "keyed" not in state:
            keys = tmp / "keys.db"
            tokens = [cli("keys", "create", f"k{i}", "--keys", str(keys)).stdout.strip() for i in range(3)]
            cli("keys", "revoke", "2", "--keys", str(keys))
            state["keyed"] = (Server(tmp, "--keys", str(keys), "--gallery", str(tmp / "g1.db")), tokens[0])
        return state["keyed"]

    def open_() -> Server:
        if "open" not in state:
            state["open"] = Server(
                tmp, "--no-keys", "--keys", str(tmp / "k2.db"), "--gallery", str(tmp / "g2.db"),
                "--cors-origin", "http://good.test", "--source", str(DATA / "videos" / "single_face.mp4"),
            )  # fmt: skip
        return state["open"]

    def limited() -> Server:
        if "limited" not in state:
            state["limited"] = Server(tmp, "--no-keys", "--rate", "3", "--keys", str(tmp / "k3.db"))
        return state["limited"]

    def a_huge_body(with_key: bool) -> str:
        srv, token = keyed()
        return raw_status(srv.port, 200 * MB, token if with_key else None)

    rows.append(("3", "200 MB `POST /v1/analyze` announced, no key", lambda: a_huge_body(False)))
    rows.append(("3", "200 MB `POST /v1/analyze` announced, with a key", lambda: a_huge_body(True)))

    def revoke_all() -> str:
        srv, _ = keyed()
        keys = tmp / "keys.db"
        for k in ("1", "3"):
            cli("keys", "revoke", k, "--keys", str(keys))
        codes = [
            httpx.get(srv.url + "/v1/people").status_code,
            httpx.post(srv.url + "/v1/people", data={"name": "m"}, files={"images": ("a.jpg", face)}).status_code,
            httpx.delete(srv.url + "/v1/people/m").status_code,
        ]
        return f"GET/POST/DELETE /v1/people without a key: {', '.join(map(str, codes))}"

    rows.append(("1", "revoke keys 1 and 3 (2 already revoked) while the server runs", revoke_all))
    rows.append(
        (
            "2",
            "`WS /v1/source` with `Origin: http://evil.test` (keyless, `--cors-origin http://good.test`)",
            lambda: ws_try(open_().ws + "/v1/source", "http://evil.test", n=2),
        )
    )
    rows.append(
        (
            "2",
            "`WS /v1/stream` with `Origin: http://evil.test`",
            lambda: ws_try(open_().ws + "/v1/stream", "http://evil.test", [face], n=1),
        )
    )

    def evil_form() -> str:
        r = httpx.post(
            open_().url + "/v1/people",
            data={"name": "eve"},
            files={"images": ("a.jpg", face, "image/jpeg")},
            headers={"Origin": "http://evil.test"},
            timeout=120,
        )
        return f"{r.status_code} {short(r.text, 90)}"

    rows.append(("2", "form post enrolling `eve` with `Origin: http://evil.test`", evil_form))

    def keyless_network() -> str:
        port = free_port()
        p = subprocess.Popen(
            [*EMOLENS, "serve", "--host", "0.0.0.0", "--port", str(port), "--no-keys", "--keys", str(tmp / "k4.db")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            out, _ = p.communicate(timeout=20)
            return f"refused at start (exit {p.returncode}): {short(out, 75)}"
        except subprocess.TimeoutExpired:
            up = httpx.get(f"http://127.0.0.1:{port}/v1/people").status_code
            p.terminate()
            p.wait(10)
            return f"serving on 0.0.0.0 without keys (`GET /v1/people`: {up})"

    rows.append(("2", "`emolens serve --host 0.0.0.0 --no-keys`", keyless_network))

    def bomb(side: int) -> str:
        srv = open_()
        data = png(side, side)
        ws_try(srv.ws + "/v1/stream", None, [face], n=1)  # the stream's models load before memory is measured
        before = srv.peak_mb()
        reply = ws_try(srv.ws + "/v1/stream", None, [data], n=1)
        return f"{len(data) // 1000} kB PNG: peak memory {before:.0f} → {srv.peak_mb():.0f} MB; {reply}"

    rows.append(("4", "`WS /v1/stream` frame: 8000x8000 zero PNG", lambda: bomb(8000)))
    rows.append(("4", "`WS /v1/stream` frame: 12000x12000 zero PNG", lambda: bomb(12000)))
    rows.append(("4", "`WS /v1/stream`: an empty binary frame", lambda: ws_try(open_().ws + "/v1/stream", None, [b""])))

    def leave() -> str:
        srv = open_()
        before = srv.log().count("Traceback")
        ws_try(srv.ws + "/v1/stream", None, [face], n=1)  # results flowing, as in a browser tab, then closed
        for abrupt in (False, False, True):
            try:
                with connect(srv.ws + "/v1/stream", open_timeout=10) as ws:
                    for _ in range(5):
                        ws.send(face)
                    if abrupt:  # the connection drops without a close frame
                        ws.socket.shutdown(socket.SHUT_RDWR)
                        ws.recv(timeout=30)
            except (ConnectionClosed, OSError, TimeoutError):
                pass
        time.sleep(5)
        return f"{srv.log().count('Traceback') - before} tracebacks in the server log"

    rows.append(("5", "4 clients leave `/v1/stream` (1 after a result, 2 with frames in flight, 1 drops)", leave))

    def verify() -> str:
        buf = io.BytesIO()
        Image.new("RGB", (320, 240), (120, 130, 140)).save(buf, "JPEG")
        files = {"a": ("a.jpg", face, "image/jpeg"), "b": ("b.jpg", buf.getvalue(), "image/jpeg")}
        r = httpx.post(open_().url + "/v1/verify", files=files, timeout=120)
        return f"{r.status_code}, {len(r.text):,} characters: {short(r.text, 60)}"

    rows.append(("6", "`POST /v1/verify` with a face-less photo", verify))

    def recover() -> str:
        path = tmp / "g7.db"
        lost = damaged_gallery(path)
        r = cli("gallery", "recover", "--gallery", str(path))
        said = " ".join(r.stderr.split())
        said = said[: said.find("; the damaged file")] if "; the damaged file" in said else said
        return f"(the page held {lost} of 119) " + said.replace(str(path), "g.db")

    rows.append(("7", "`gallery recover` with the embeddings' last leaf page overwritten (30 people)", recover))

    def damaged() -> str:
        path = tmp / "g8.db"
        damaged_gallery(path)
        srv = Server(tmp, "--no-keys", "--keys", str(tmp / "k8.db"), "--gallery", str(path))
        try:
            out = []
            for route in ("/v1/people", "/v1/events"):
                r = httpx.get(srv.url + route, timeout=120)
                out.append(f"{route} {r.status_code}{' with the path' if str(tmp) in r.text else ', no path'}")
            return "; ".join(out)
        finally:
            srv.stop()

    rows.append(("8", "a damaged gallery behind `/v1/people`, `/v1/events`", damaged))

    def xff() -> str:
        srv = limited()
        codes = [httpx.get(srv.url + "/v1/events", headers={"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(5)]
        last = codes[-1]
        return (
            f"statuses {' '.join(str(c.status_code) for c in codes)}; "
            f"Retry-After: {last.headers.get('retry-after', 'absent')}"
        )

    rows.append(("9, 12", "`--rate 3`, 5 requests each with a new `X-Forwarded-For`", xff))

    def fifo() -> str:
        folder = tmp / "fifo"
        folder.mkdir()
        (folder / "a.jpg").write_bytes((DATA / "photos" / "couple.jpg").read_bytes())
        os.mkfifo(folder / "pipe.jpg")
        t = time.perf_counter()
        try:
            r = cli("analyze", str(folder), "--format", "json", timeout=60)
        except subprocess.TimeoutExpired:
            return "still waiting after 60 s (killed)"
        said = " ".join(r.stderr.split())
        msg = short(said[said.find("pipe.jpg") :], 50) if "pipe.jpg" in said else "pipe.jpg not mentioned"
        return f"exit {r.returncode} after {time.perf_counter() - t:.1f} s; {msg}"

    rows.append(("10", "`emolens analyze DIR` with a FIFO `pipe.jpg` beside a photo", fifo))

    def names() -> str:
        out = []
        for label, name in (("unknown", "unknown"), ("a/b", "a/b"), ("200,000 chars", "x" * 200_000)):
            r = httpx.post(
                open_().url + "/v1/people",
                data={"name": name},
                files={"images": ("a.jpg", face, "image/jpeg")},
                timeout=120,
            )
            out.append(f"{label}: {r.status_code}")
        return "; ".join(out)

    rows.append(("11", "enrol as `unknown`, `a/b`, a 200,000-character name (API)", names))

    def headers() -> str:
        srv = open_()
        h = httpx.get(srv.url + "/healthz").headers
        keys = tmp / "k12.db"
        cli("keys", "create", "x", "--keys", str(keys))
        return f"CSP on /healthz: {'yes' if 'content-security-policy' in h else 'no'}; keys.db mode " + oct(
            stat.S_IMODE(keys.stat().st_mode)
        )

    rows.append(("12", "headers of `/healthz`; mode of a new `keys.db`", headers))

    def bomb_warning() -> str:
        big = tmp / "big.png"
        Image.new("L", (10_000, 10_000)).save(big, optimize=True)
        r = cli("analyze", str(big))
        warned = "DecompressionBombWarning" in r.stderr
        said = " ".join(r.stderr.split())
        ours = short(said[said.find("big.png") :], 95) if "big.png" in said else ""
        return f"Pillow's warning on stderr: {'yes' if warned else 'no'}; {ours}"

    rows.append(("12", "`emolens analyze` a 100 MP PNG", bomb_warning))

    def tracebacks() -> str:
        logs = [p.read_text(errors="replace") for p in sorted(tmp.glob("serve-*.log"))]
        return f"{sum(log.count('Traceback') for log in logs)} in {len(logs)} server logs"

    rows.append(("all", "tracebacks in the logs of every server above", tracebacks))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON.")
    ap.add_argument("--only", nargs="*", help="Run only the attacks of these items (e.g. --only 4 5).")
    args = ap.parse_args()
    import emolens

    results = []
    with tempfile.TemporaryDirectory(prefix="emolens-attacks-") as d:
        tmp = Path(d)
        rows = attacks(tmp)
        try:
            for item, attack, run in rows:
                if args.only and not set(item.replace(" ", "").split(",")) & set(args.only):
                    continue
                t = time.perf_counter()
                try:
                    outcome = run()
                except Exception as e:  # an attack that breaks the harness is reported, not hidden
                    outcome = short(f"harness error: {type(e).__name__}: {e}", 150)
                outcome = outcome.replace(str(tmp), "$TMP")
                results.append({"item": item, "attack": attack, "outcome": outcome})
                print(f"[{time.perf_counter() - t:5.1f} s] {item}: {outcome}", file=sys.stderr)
        finally:
            for s in Server.running:
                s.stop()
    print(f"emolens {emolens.__version__} from {Path(emolens.__file__).parent}\n")
    print("| # | attack | outcome |\n|---|---|---|")
    order = {r["item"]: int(r["item"].split(",")[0]) if r["item"][0].isdigit() else 99 for r in results}
    for r in sorted(results, key=lambda r: order[r["item"]]):
        print(f"| {r['item']} | {r['attack']} | {r['outcome'].replace('|', '/')} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
