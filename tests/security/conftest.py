"""A real ``emolens serve`` process on loopback for each test module, its log kept and checked for tracebacks.

Each :class:`Server` runs ``emolens serve ...`` on a free port with the arguments a test gives
and sends its standard error to a file. When the server stops, that log must hold no traceback (``Traceback``,
``Exception in ASGI application``): a test that leaves one fails in its teardown.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("websockets")
import httpx

#: The real command line, as the ``emolens`` entry point runs it.
EMOLENS = [sys.executable, "-c", "from emolens.cli.main import main; main()"]
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Exception in ASGI application", "Exception in callback")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI and capture its output."""
    return subprocess.run([*EMOLENS, *args], capture_output=True, text=True, timeout=timeout, **kw)


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces made single spaces (Rich wraps long lines at 80 columns)."""
    return " ".join(text.split())


class Server:
    """One ``emolens serve`` process: ``url``, ``port``, ``pid``, ``log()``."""

    def __init__(self, args: list[str], log_path: Path, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*EMOLENS, "serve", "--host", host, "--port", str(self.port), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"emolens serve exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"emolens serve did not start: {self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_peak_kb(self) -> int:
        """The process's peak resident memory (``VmHWM``), in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()
        return self.log()


def assert_no_traceback(log: str, name: str) -> None:
    found = [m for m in TRACEBACK_MARKERS if m in log]
    assert not found, f"the server log of {name} holds a traceback ({found}):\n{log[-4000:]}"


@pytest.fixture(scope="module")
def start_server(tmp_path_factory) -> Iterator:
    """``start_server(*args)``: a running server; all of the module's servers are stopped and their logs checked."""
    servers: list[tuple[Server, str]] = []
    folder = tmp_path_factory.mktemp("serve-logs")

    def start(*args: str, name: str = "server", host: str = "127.0.0.1") -> Server:
        s = Server(list(args), folder / f"{name}-{len(servers)}.log", host=host)
        servers.append((s, name))
        return s

    yield start
    for s, name in servers:
        assert_no_traceback(s.stop(), name)


@pytest.fixture(scope="session")
def clip(data_dir) -> Path:
    return data_dir / "videos" / "single_face.mp4"


@pytest.fixture(scope="session")
def face_jpeg(data_dir) -> bytes:
    """A 640x480-ish frame with one face, as JPEG."""
    import cv2

    cap = cv2.VideoCapture(str(data_dir / "videos" / "single_face.mp4"))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return cv2.imencode(".jpg", bgr)[1].tobytes()
