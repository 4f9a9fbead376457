"""HTTP requests against a real keyed server: nothing is read before the key and the size are checked; Origin and
Host are checked; X-Forwarded-For is ignored unless a trusted proxy sent it; every response has the headers."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from .conftest import cli

MB = 1024 * 1024


@pytest.fixture(scope="module")
def keyed(start_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("keyed")
    keys = d / "keys.db"
    tokens = []
    for name, rate in (("desk", "10000"), ("slow", "3")):
        r = cli("keys", "create", name, "--rate", rate, "--keys", str(keys))
        assert r.returncode == 0, r.stderr
        tokens.append(r.stdout.strip())
    srv = start_server(
        "--keys", str(keys), "--gallery", str(d / "g.db"), "--max-upload-mb", "1", "--cors-origin", "http://good.test",
        name="keyed",
    )  # fmt: skip
    return srv, {"X-API-Key": tokens[0]}, {"X-API-Key": tokens[1]}


def raw_request(port: int, head: str, body_chunks=(), wait_s: float = 10.0) -> tuple[str, float]:
    """Send a request's head (and optional body chunks) on a raw socket; the answer (status line, headers and
    JSON body), and how long it took. The body is never sent in full unless given."""
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(head.encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:  # the server answered and closed while we were still sending: what we want
            pass
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                part = s.recv(65536)
                if not part:
                    break
                data += part
        except (TimeoutError, ConnectionResetError):
            pass
    return data.decode("latin-1"), time.perf_counter() - t


def upload_head(port: int, length: int, key: str | None = None, chunked: bool = False) -> str:
    lines = [
        "POST /v1/analyze HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: multipart/form-data; boundary=xyz",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}",
    ]
    if key:
        lines.append(f"X-API-Key: {key}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_huge_body_is_refused_before_it_is_read(keyed):
    srv, ok, _ = keyed
    status, took = raw_request(srv.port, upload_head(srv.port, 200 * MB))  # no key, and no body sent
    assert status.startswith("HTTP/1.1 401"), status
    assert took < 5
    status, took = raw_request(srv.port, upload_head(srv.port, 200 * MB, key=ok["X-API-Key"]))
    assert status.startswith("HTTP/1.1 413"), status
    assert took < 5


def test_a_chunked_body_is_cut_off_at_the_limit(keyed):
    srv, ok, _ = keyed
    part = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
    part += b"Content-Type: image/jpeg\r\n\r\n"
    chunks = [b"%x\r\n%s\r\n" % (len(part), part)] + [b"%x\r\n%s\r\n" % (MB, b"\0" * MB)] * 50
    answer, _ = raw_request(srv.port, upload_head(srv.port, 0, key=ok["X-API-Key"], chunked=True), chunks)
    assert answer.startswith("HTTP/1.1 413") and "request body larger than 1,114,112 bytes" in answer, answer
    assert srv.alive()


def test_origin_is_checked_on_every_state_changing_request(keyed, face_jpeg):
    srv, ok, _ = keyed
    files = {"images": ("a.jpg", face_jpeg, "image/jpeg")}
    evil = {**ok, "Origin": "http://evil.test"}
    r = httpx.post(srv.url + "/v1/people", data={"name": "eve"}, files=files, headers=evil)
    assert r.status_code == 403 and "origin" in r.json()["error"]
    assert httpx.delete(srv.url + "/v1/people/eve", headers=evil).status_code == 403
    assert (
        httpx.post(
            srv.url + "/v1/people", data={"name": "n"}, files=files, headers={**ok, "Origin": "null"}
        ).status_code
        == 403
    )
    for origin in ("http://good.test", srv.url):  # a --cors-origin, and the server's own
        r = httpx.get(srv.url + "/v1/people", headers={**ok, "Origin": origin})
        assert r.status_code == 200, (origin, r.text)
    assert [p["name"] for p in httpx.get(srv.url + "/v1/people", headers=ok).json()] == []


def test_a_rebound_host_name_is_refused_on_loopback(keyed):
    srv, ok, _ = keyed
    r = httpx.get(srv.url + "/v1/people", headers={**ok, "Host": f"evil.test:{srv.port}"})
    assert r.status_code == 403
    assert httpx.get(f"http://localhost:{srv.port}/v1/people", headers=ok).status_code == 200


def test_rate_limit_says_when_to_retry_and_ignores_forwarded_for(keyed):
    srv, _, slow = keyed
    codes = [httpx.get(srv.url + "/v1/people", headers=slow).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = httpx.get(srv.url + "/v1/people", headers=slow)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 61


def test_forwarded_for_is_not_trusted_from_any_client(start_server, tmp_path):
    srv = start_server("--no-keys", "--rate", "3", "--keys", str(tmp_path / "k.db"), name="xff")
    codes = [
        httpx.get(srv.url + "/v1/events", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(6)
    ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429, 429], codes


def test_every_response_has_the_security_headers(keyed):
    srv, ok, _ = keyed
    for path, headers in (
        ("/healthz", {}),
        ("/v1/people", ok),
        ("/v1/people", {}),
        ("/openapi.json", {}),
        ("/nope", {}),
    ):
        r = httpx.get(srv.url + path, headers=headers)
        assert "default-src" in r.headers.get("content-security-policy", ""), (path, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in httpx.get(srv.url + "/dashboard").headers["content-security-policy"]


def test_forwarded_for_is_read_from_a_named_proxy(start_server, tmp_path):
    srv = start_server(
        "--no-keys", "--rate", "3", "--trusted-proxy", "127.0.0.1", "--keys", str(tmp_path / "k.db"), name="proxy"
    )
    # behind the named proxy, each forwarded client has its own budget; the proxy's own address is skipped
    for i in range(4):
        r = httpx.get(srv.url + "/v1/events", headers={"X-Forwarded-For": f"10.0.0.{i}, 127.0.0.1"})
        assert r.status_code == 200, r.text
    codes = [httpx.get(srv.url + "/v1/events", headers={"X-Forwarded-For": "10.0.0.9"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
