"""The service: real models behind FastAPI's test client; bad input gets a 4xx JSON line, never a 5xx."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from emolens.cli.main import app as cli
from emolens.serve.app import ServeConfig, create_app
from emolens.serve.keys import KeyStore


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    d = tmp_path_factory.mktemp("serve")
    cfg = ServeConfig(gallery=d / "g.db", keys=d / "keys.db", require_keys=False, rate_per_minute=10_000)
    return TestClient(create_app(cfg))


def jpeg(path) -> bytes:
    return path.read_bytes() if str(path).endswith(".jpg") else cv2.imencode(".jpg", cv2.imread(str(path)))[1].tobytes()


def test_analyze_matches_the_library(client, data_dir):
    from emolens import Analyzer

    photo = data_dir / "photos" / "couple.jpg"
    r = client.post("/v1/analyze", files={"image": ("couple.jpg", photo.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 2
    lib = Analyzer().analyze(photo).to_dict()
    assert [f["label"] for f in body["faces"]] == [f["label"] for f in lib["faces"]]
    assert set(body["faces"][0]) >= {"box", "landmarks", "emotions", "label", "score"}


def test_fast_detector_option(client, data_dir):
    cap = cv2.VideoCapture(str(data_dir / "videos" / "single_face.mp4"))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    frame = cv2.imencode(".jpg", bgr)[1].tobytes()
    r = client.post("/v1/analyze", params={"detector": "blazeface"}, files={"image": ("f.jpg", frame, "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["faces"]) == 1
    r = client.post("/v1/analyze", params={"detector": "haar"}, files={"image": ("f.jpg", frame, "image/jpeg")})
    assert r.status_code == 400 and "unknown detector" in r.json()["error"]


@pytest.mark.parametrize(
    ("payload", "ctype", "status"),
    [
        (b"not an image at all", "image/jpeg", 400),
        (b"", "image/jpeg", 400),
        (b"GIF89a", "text/plain", 415),
    ],
)
def test_bad_uploads_get_one_line_json_errors(client, payload, ctype, status):
    r = client.post("/v1/analyze", files={"image": ("x.jpg", payload, ctype)})
    assert r.status_code == status and set(r.json()) == {"error"} and "\n" not in r.json()["error"]


def test_truncated_and_huge_images_are_refused(client, data_dir):
    data = (data_dir / "photos" / "couple.jpg").read_bytes()
    r = client.post("/v1/analyze", files={"image": ("t.jpg", data[: len(data) // 3], "image/jpeg")})
    assert r.status_code in (200, 400)  # a decodable top part is analysed, garbage is refused
    buf = io.BytesIO()
    Image.new("L", (30_000, 30_000)).save(buf, "PNG")
    r = client.post("/v1/analyze", files={"image": ("big.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and "error" in r.json()
    small = TestClient(create_app(ServeConfig(require_keys=False, max_upload_bytes=1000)))
    r = small.post("/v1/analyze", files={"image": ("c.jpg", data, "image/jpeg")})
    assert r.status_code == 413


def test_people_identify_verify_events(client, data_dir):
    orl = data_dir / "orl"
    files = [("images", (f"{i}.jpg", jpeg(orl / "s3" / f"{i}.pgm"), "image/jpeg")) for i in (1, 2, 3)]
    r = client.post("/v1/people", data={"name": "s3"}, files=files)
    assert r.status_code == 200 and r.json()["added"] == 3
    assert [p["name"] for p in client.get("/v1/people").json()] == ["s3"]
    r = client.post("/v1/identify", files={"image": ("q.jpg", jpeg(orl / "s3" / "8.pgm"), "image/jpeg")})
    assert r.json()["faces"][0]["identity"] == "s3"
    r = client.post("/v1/identify", files={"image": ("q.jpg", jpeg(orl / "s9" / "8.pgm"), "image/jpeg")})
    assert r.json()["faces"][0]["identity"] == "unknown"
    r = client.post(
        "/v1/verify",
        files={
            "a": ("a.jpg", jpeg(orl / "s5" / "1.pgm"), "image/jpeg"),
            "b": ("b.jpg", jpeg(orl / "s5" / "9.pgm"), "image/jpeg"),
        },
    )
    assert r.status_code == 200 and r.json()["same"] is True
    bad = [("images", ("x.jpg", np.zeros(100, np.uint8).tobytes(), "image/jpeg"))]
    assert client.post("/v1/people", data={"name": "ghost"}, files=bad).status_code in (400, 422)
    assert client.get("/v1/events", params={"identity": "s3"}).status_code == 200
    assert client.delete("/v1/people/s3").status_code == 200
    assert client.delete("/v1/people/s3").status_code == 404


def test_health_metrics_and_openapi(client, data_dir):
    client.post(
        "/v1/analyze", files={"image": ("c.jpg", (data_dir / "photos" / "couple.jpg").read_bytes(), "image/jpeg")}
    )
    assert client.get("/healthz").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert 'emolens_requests_total{route="/v1/analyze",status="200"}' in text
    assert "emolens_request_seconds_bucket" in text and "emolens_model_load_seconds" in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/analyze", "/v1/verify", "/v1/identify", "/v1/people", "/v1/events"} <= set(paths)


def test_api_keys_and_rate_limits(tmp_path, data_dir):
    store = KeyStore(tmp_path / "keys.db")
    key, token = store.create("desk", rate_per_minute=2)
    raw = store._db.execute("SELECT hash FROM keys").fetchone()[0]
    assert token not in raw and len(raw) == 64  # only the hash is stored
    c = TestClient(create_app(ServeConfig(keys=tmp_path / "keys.db")))
    assert c.get("/v1/people").status_code == 401
    assert c.get("/v1/people", headers={"X-API-Key": "elk_wrong"}).status_code == 401
    ok = {"X-API-Key": token}
    assert [c.get("/v1/people", headers=ok).status_code for _ in range(3)] == [200, 200, 429]
    assert store.revoke(key.id) and c.get("/v1/people", headers=ok).status_code == 401
    assert c.get("/healthz").status_code == 200  # health needs no key
    r = CliRunner().invoke(cli, ["keys", "create", "cam", "--keys", str(tmp_path / "k2.db")])
    assert r.exit_code == 0 and r.stdout.strip().startswith("elk_")
    r = CliRunner().invoke(cli, ["keys", "revoke", "7", "--keys", str(tmp_path / "k2.db")])
    assert r.exit_code == 1


def test_stream_returns_tracked_results(client, data_dir):
    cap = cv2.VideoCapture(str(data_dir / "videos" / "single_face.mp4"))
    frames = []
    for _ in range(12):
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.imencode(".jpg", bgr)[1].tobytes())
    cap.release()
    got = []
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text("hello")
        assert "error" in ws.receive_json()
        ws.send_bytes(b"garbage")
        assert "error" in ws.receive_json()
        for f in frames:
            ws.send_bytes(f)
        ws.send_text("end")
        while True:
            try:
                msg = ws.receive_json()
            except Exception:
                break
            got.append(msg)
    results = [m for m in got if "faces" in m]
    assert results, got
    tracks = {f["track_id"] for m in results for f in m["faces"]}
    assert len(tracks) == 1 and all("smoothed" in f for m in results for f in m["faces"])
    assert json.dumps(results[0])


def test_stream_with_identities_and_events(tmp_path, data_dir):
    """?identify=true names an enrolled person in the stream; ?events=true writes the log that /v1/events reads."""
    cfg = ServeConfig(gallery=tmp_path / "g.db", require_keys=False, rate_per_minute=10_000)
    c = TestClient(create_app(cfg))
    cap = cv2.VideoCapture(str(data_dir / "videos" / "single_face.mp4"))
    frames = []
    while len(frames) < 60:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", bgr)[1].tobytes())
    cap.release()
    r = c.post("/v1/people", data={"name": "presenter"}, files=[("images", ("a.jpg", frames[0], "image/jpeg"))])
    assert r.status_code == 200, r.text
    got = []
    with c.websocket_connect("/v1/stream?identify=true&events=true") as ws:
        for f in frames[1:]:
            ws.send_bytes(f)
            got.append(ws.receive_json())  # one frame in flight, as the dashboard sends them
        ws.send_text("end")
    names = {f.get("identity") for m in got if "faces" in m for f in m["faces"]}
    assert "presenter" in names, names
    events = c.get("/v1/events", params={"order": "newest", "limit": 5}).json()
    assert events and events[0]["source"].startswith("stream:") and events[0]["identity"] == "presenter"
    assert events[0]["time"] >= events[-1]["time"]
