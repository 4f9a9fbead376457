"""The dashboard's files and ``WS /v1/source``, through FastAPI's test client (the browser test is separate)."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from emolens.cli.main import app as cli
from emolens.errors import ConfigError
from emolens.serve.app import ServeConfig, create_app
from emolens.serve.config import SourceAttention
from emolens.serve.keys import KeyStore
from emolens.serve.routes.dashboard import NO_SOURCE, NO_SOURCE_CODE
from emolens.serve.source import RealTimeSource, open_server_source

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("app.js", "common.js", "draw.js", "gallery.js")
ASSETS = {
    "/dashboard": "text/html",
    **{f"/dashboard/{name}": "text/javascript" for name in SCRIPTS},
    "/dashboard/style.css": "text/css",
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> TestClient:
    d = tmp_path_factory.mktemp("dash")
    return TestClient(create_app(ServeConfig(gallery=d / "g.db", keys=d / "k.db", require_keys=False)))


def test_assets_are_served_with_their_types_and_a_strict_policy(plain):
    r = plain.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/dashboard"
    for path, ctype in ASSETS.items():
        r = plain.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(ctype), (path, r.headers["content-type"])
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    r = plain.get("/dashboard/../app.py")
    assert r.status_code == 404
    r = plain.get("/dashboard/keys.py")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    assert "/dashboard" not in plain.get("/openapi.json").json()["paths"]


def test_assets_load_nothing_from_other_hosts(plain):
    html = plain.get("/dashboard").text
    scripts = {name: plain.get(f"/dashboard/{name}").text for name in SCRIPTS}
    css = plain.get("/dashboard/style.css").text
    for name, text in (("index.html", html), *scripts.items(), ("style.css", css)):
        assert not re.findall(r"https?://|wss?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name  # no CDN, no fonts
        assert "@import" not in text and "url(" not in text.replace("URL.createObjectURL(", ""), name
    for name, js in scripts.items():
        assert not re.search(r"\beval\s*\(|new\s+Function\s*\(|setTimeout\(\s*[\"'`]", js), name  # no string code
        for module in re.findall(r'from\s+"([^"]+)"', js):  # the modules import each other, from here only
            assert module.startswith("./") and module[2:] in SCRIPTS, (name, module)
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags and all('src="/dashboard/' in t for t in tags)  # no inline script
    assert all(body.strip() == "" for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S))
    assert not re.search(r"\son[a-z]+\s*=", html) and " style=" not in html  # no inline handlers or styles
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        if asset != "data:,":  # the empty favicon: no request at all
            assert asset.startswith("/dashboard/") and plain.get(asset).status_code == 200


def test_assets_ship_with_a_non_editable_install():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "static/*" in data["emolens.serve"]
    static = REPO / "src" / "emolens" / "serve" / "static"
    assert {p.name for p in static.iterdir()} >= {"index.html", "style.css", *SCRIPTS}


def test_source_route_without_a_source_says_so(plain):
    with plain.websocket_connect("/v1/source") as ws:
        assert ws.receive_json() == {"error": NO_SOURCE}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == NO_SOURCE_CODE and closed.value.reason == NO_SOURCE


def test_source_route_sends_results_and_frames_from_the_operators_clip(tmp_path, data_dir):
    clip = data_dir / "videos" / "stage_three.mp4"  # 3 s at 29.97 frames/s: 90 frames, then it loops
    cfg = ServeConfig(gallery=tmp_path / "g.db", keys=tmp_path / "k.db", require_keys=False, source=str(clip))
    client = TestClient(create_app(cfg))
    got = []
    t0 = time.perf_counter()
    with client.websocket_connect("/v1/source") as ws:
        while len(got) < 20 or got[-1][0]["frame"] < 150:  # a loaded machine drops frames: wait for 20 sent
            msg = ws.receive_json()
            assert "error" not in msg, msg
            jpeg = ws.receive_bytes()
            got.append((msg, jpeg))
        ws.send_text("end")
    wall = time.perf_counter() - t0
    msg, jpeg = got[-1]
    assert msg["source"] == str(clip) and msg["timestamp"] > 3.0  # past the clip's end: it looped
    assert wall > 2.5  # played in real time (3.3 s of video), not decoded as fast as possible
    frames = [m["frame"] for m, _ in got]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (msg["height"], msg["width"], 3) == (480, 640, 3)
    faces = [f for m, _ in got[10:] for f in m["faces"]]
    assert faces and all({"track_id", "smoothed", "smoothed_label", "identity", "box"} <= set(f) for f in faces)
    assert len({f["track_id"] for f in faces}) >= 3  # the three people
    # The clip looped at frame 90: its people get the first pass's ids again instead of new, ever higher ones.
    first = {f["track_id"] for m, _ in got if m["frame"] < 90 for f in m["faces"]}
    second = {f["track_id"] for m, _ in got if m["frame"] >= 90 for f in m["faces"]}
    # (Before, the second pass gave them 4, 5, 6.) A slow viewer skips frames, so the first pass may show fewer ids.
    assert second and max(second) <= max(*first, 3), (sorted(first), sorted(second))
    # Every face the source showed is counted in /metrics (it was 0 for the server source).
    shown = sum(len(m["faces"]) for m, _ in got)
    faces_total = float(re.search(r"^emolens_faces_total (\S+)$", client.get("/metrics").text, re.M).group(1))
    assert faces_total >= shown > 0
    # Its events go to the server's gallery, which the dashboard's feed polls.
    for _ in range(50):
        events = client.get("/v1/events", params={"limit": 5}).json()
        if events:
            break
        time.sleep(0.1)
    assert events and events[0]["source"] == str(clip) and events[0]["identity"] == "unknown"


def test_source_route_needs_a_key_when_keys_are_on(tmp_path, data_dir):
    KeyStore(tmp_path / "k.db").create("desk")
    cfg = ServeConfig(keys=tmp_path / "k.db", source=str(data_dir / "videos" / "stage_three.mp4"))
    with pytest.raises(WebSocketDisconnect) as refused:
        with TestClient(create_app(cfg)).websocket_connect("/v1/source") as ws:
            ws.receive_json()
    assert refused.value.code == 1008 and "API key" in refused.value.reason


def test_server_source_kinds(data_dir):
    src = open_server_source(str(data_dir / "videos" / "stage_three.mp4"))
    assert isinstance(src, RealTimeSource) and src.live and src.fps == pytest.approx(29.97, abs=0.01)
    src.close()


def test_serve_refuses_a_bad_source_before_it_starts(tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    args = ["serve", "--no-keys", "--keys", str(tmp_path / "k.db")]
    r = CliRunner().invoke(cli, [*args, "--source", str(tmp_path / "missing.mp4")])
    assert r.exit_code != 0 and "missing.mp4" in r.output and "file not found" in r.output
    r = CliRunner().invoke(cli, [*args, "--source", str(tmp_path), "--alert", "bored:3"])
    assert r.exit_code != 0 and "unknown emotion" in r.output


def test_serve_checks_the_sources_attention_settings_before_it_starts(tmp_path, monkeypatch, data_dir):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    args = ["serve", "--no-keys", "--keys", str(tmp_path / "k.db")]
    clip = str(data_dir / "videos" / "stage_three.mp4")
    r = CliRunner().invoke(cli, [*args, "--source", clip, "--alert", "drowsy:2"])
    assert r.exit_code != 0 and "--alert drowsy needs --attention" in r.output
    r = CliRunner().invoke(cli, [*args, "--attention"])
    assert r.exit_code != 0 and "--attention applies to --source" in r.output
    r = CliRunner().invoke(cli, [*args, "--source", clip, "--attention", "--target", "left"])
    assert r.exit_code != 0 and "--target 'left'" in r.output
    r = CliRunner().invoke(cli, [*args, "--alert", "angry:3"])
    assert r.exit_code != 0 and "--alert applies to --source" in r.output
    r = CliRunner().invoke(cli, [*args, "--source", clip, "--cone", "40"])
    assert r.exit_code != 0 and "--cone and --target apply with --attention" in r.output
    with pytest.raises(ConfigError, match="cone"):
        SourceAttention(cone=0.0)  # the library's own check, for a ServeConfig made without the CLI


def test_serve_passes_the_attention_settings_to_the_app(tmp_path, monkeypatch, data_dir):
    import uvicorn

    got = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: got.setdefault("app", app))
    clip = str(data_dir / "videos" / "stage_three.mp4")
    args = ["serve", "--no-keys", "--keys", str(tmp_path / "k.db"), "--source", clip, "--attention"]
    r = CliRunner().invoke(cli, [*args, "--cone", "30", "--target", "10,-5", "--alert", "drowsy:2:any:0.2"])
    assert r.exit_code == 0, r.output
    cfg = got["app"].state.serve.cfg
    assert cfg.source_attention == SourceAttention(30.0, "10,-5") and cfg.source_alerts == ["drowsy:2:any:0.2"]


def test_source_with_attention_sends_head_pose_eyes_and_attention_rules(tmp_path, data_dir):
    """`emolens serve --source CLIP --attention --alert distracted:0.5`: every face the viewers get carries its head
    pose, eyes and attention state, and the dashboard is told what the attention rule means."""
    clip = data_dir / "videos" / "stage_three.mp4"
    cfg = ServeConfig(
        gallery=tmp_path / "g.db",
        keys=tmp_path / "k.db",
        require_keys=False,
        source=str(clip),
        source_alerts=["distracted:0.5", "happy:2"],
        source_attention=SourceAttention(25.0, "camera"),
    )
    got = []
    with TestClient(create_app(cfg)).websocket_connect("/v1/source") as ws:
        while len(got) < 12:
            msg = ws.receive_json()
            assert "error" not in msg, msg
            ws.receive_bytes()
            got.append(msg)
        ws.send_text("end")
    rules = {r["kind"]: r for r in got[-1]["alert_rules"]}
    assert rules["distracted"]["seconds"] == 0.5 and rules["distracted"]["emotions"] == []
    assert rules["emotion"]["emotions"] == ["happy"]
    faces = [f for m in got[4:] for f in m["faces"]]
    assert faces and all(f["attention"] is not None and f["pose"] is not None for f in faces)
    assert all(isinstance(f["attention"]["attending"], bool) for f in faces)
    assert all(-90 <= f["pose"]["yaw"] <= 90 for f in faces)
