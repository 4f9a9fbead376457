"""Fixtures shared by the service's tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@contextlib.contextmanager
def _serve_in_thread(config: Any) -> Iterator[str]:
    """``create_app(config)`` served by uvicorn on a free loopback port in a thread; yields its base URL and
    stops the server on leaving."""
    import uvicorn

    from emolens.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def serve_in_thread() -> Callable[[Any], contextlib.AbstractContextManager[str]]:
    """A real server in this process for tests that drive it over HTTP (a browser): ``with serve_in_thread(cfg) as
    url: ...``."""
    return _serve_in_thread
