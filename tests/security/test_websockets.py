"""WebSockets on a real keyless loopback server: Origin is checked, frames go through the image loader, a client that
leaves leaves no traceback, and fuzzed frames get one-line errors."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


@pytest.fixture(scope="module")
def open_server(start_server, tmp_path_factory, clip):
    d = tmp_path_factory.mktemp("open")
    return start_server(
        "--no-keys", "--keys", str(d / "k.db"), "--gallery", str(d / "g.db"), "--cors-origin", "http://good.test",
        "--source", str(clip), "--rate", "100000", name="open",
    )  # fmt: skip


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def replies(ws, until_closed: bool = True, timeout: float = 60) -> list[dict]:
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = ws.recv(timeout=max(deadline - time.monotonic(), 0.1))
        except (ConnectionClosed, TimeoutError):
            break
        if isinstance(msg, str):
            got.append(json.loads(msg))
        if not until_closed:
            break
    return got


@pytest.mark.parametrize("route", ["/v1/source", "/v1/stream"])
def test_a_foreign_origin_cannot_open_a_websocket(open_server, route):
    for origin in ("http://evil.test", "null"):
        with pytest.raises(InvalidStatus) as refused:
            connect(open_server.ws + route, origin=origin, open_timeout=10)
        assert refused.value.response.status_code == 403


def test_allowed_origins_get_the_server_source(open_server):
    for origin in ("http://good.test", open_server.url):
        with connect(open_server.ws + "/v1/source", origin=origin, open_timeout=10) as ws:
            first = json.loads(ws.recv(timeout=90))
            assert "faces" in first and "error" not in first, first
            assert isinstance(ws.recv(timeout=30), bytes)  # the frame itself


def test_a_pixel_bomb_frame_is_refused_from_its_header(open_server, face_jpeg):
    bomb = png(8000, 8000)  # 64 MP of zeros in a small PNG; decoding it would take 192 MB
    assert len(bomb) < 400_000
    with connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:
        ws.send(face_jpeg)  # the stream's models are loaded before memory is measured
        assert "faces" in json.loads(ws.recv(timeout=90))
        before = open_server.rss_peak_kb()
        got = []
        for _ in range(2):
            ws.send(bomb)
            got.append(json.loads(ws.recv(timeout=30)))
        ws.send("end")
    grown_mb = (open_server.rss_peak_kb() - before) / 1024
    assert grown_mb < 100, f"the server's peak memory grew by {grown_mb:.0f} MB"
    for reply in got:
        assert "error" in reply and "8000x8000 = 64,000,000 pixels" in reply["error"], reply


def test_an_empty_frame_gets_an_error_and_the_stream_goes_on(open_server, face_jpeg):
    with connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:
        ws.send(b"")
        reply = json.loads(ws.recv(timeout=30))
        assert reply == {"error": "frame: no image data (0 bytes)"}
        ws.send(face_jpeg)
        result = json.loads(ws.recv(timeout=90))
        assert len(result["faces"]) == 1, result
        ws.send("end")


def test_a_client_that_leaves_mid_stream_leaves_no_traceback(open_server, face_jpeg):
    before = open_server.log()
    with connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:  # results flowing, as in a browser tab
        ws.send(face_jpeg)
        json.loads(ws.recv(timeout=90))
    for _ in range(3):
        with connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:
            for _ in range(5):
                ws.send(face_jpeg)
        # leaving the block closes the socket: a closed browser tab, frames still in flight
    # an abrupt end: the TCP connection drops without a close frame
    with pytest.raises((ConnectionClosed, OSError)), connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:
        ws.send(face_jpeg)
        ws.socket.shutdown(2)
        ws.recv(timeout=30)
    time.sleep(3)
    assert httpx.get(open_server.url + "/healthz").status_code == 200
    new = open_server.log()[len(before) :]
    assert "Traceback" not in new and "Exception in ASGI" not in new, new[-3000:]


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    frames=st.lists(
        st.one_of(
            st.binary(max_size=2048),
            st.tuples(
                st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
                st.none() | st.integers(0, 5000),
            ),
            st.tuples(st.integers(1, 20000), st.integers(1, 20000)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fuzzed_frames_get_one_line_answers(open_server, face_jpeg, frames):
    """Random bytes, damaged JPEGs (bytes changed, the end cut) and PNG headers of any size: every answer is a
    result or a one-line error, and the server stays up with a clean log."""
    sent = []
    for f in frames:
        if isinstance(f, bytes):
            sent.append(f)
        elif isinstance(f[0], list):
            sent.append(mutate(face_jpeg, *f))
        else:
            w, h = f
            head = png(1, 1)  # a real 1x1 PNG whose IHDR claims w x h (the CRC then fails, or the data runs out)
            sent.append(head[:16] + w.to_bytes(4, "big") + h.to_bytes(4, "big") + head[24:])
    with connect(open_server.ws + "/v1/stream", open_timeout=10) as ws:
        for f in sent:
            ws.send(f)
        ws.send("end")
        got = replies(ws)
    assert len(got) <= len(sent)
    for m in got:
        assert ("error" in m and "\n" not in m["error"] and len(m["error"]) < 300) or "faces" in m, m
    assert open_server.alive() and httpx.get(open_server.url + "/healthz").status_code == 200
    assert "Traceback" not in open_server.log()
