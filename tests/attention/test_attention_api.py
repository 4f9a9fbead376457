"""The attention fields through the Python API (photos), ``emolens analyze --attention`` and the service's stream."""

from __future__ import annotations

import json

import cv2
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli.main import app
from emolens.types import AttentionState, EyeState, Face, HeadPose, MouthState


def test_analyzer_with_attention_sets_the_fields(data_dir):
    photo = data_dir / "attention/head_pose/images/image00013.jpg"  # frontal (yaw 0.7, pitch -1.5), looks at us
    plain = emolens.Analyzer("retinaface", threads=2).analyze(photo)
    assert all(f.pose is None and f.attention is None for f in plain)
    (face,) = [f for f in emolens.Analyzer("retinaface", threads=2, attention=True).analyze(photo)][:1]
    assert isinstance(face.pose, HeadPose) and abs(face.pose.yaw) < 10 and abs(face.pose.pitch) < 15
    assert isinstance(face.eyes, EyeState) and not face.eyes.closed
    assert isinstance(face.mouth, MouthState) and not face.mouth.yawn
    assert isinstance(face.attention, AttentionState) and face.attention.attending
    d = face.to_dict()
    assert set(d) >= {"pose", "eyes", "mouth", "attention"} and json.dumps(d)
    assert "pose" not in plain[0].to_dict()


def test_analyze_cli_attention_json(data_dir, tmp_path):
    out = tmp_path / "faces.jsonl"
    photo = data_dir / "attention/head_pose/images/image00004.jpg"  # turned 68 deg
    r = CliRunner().invoke(app, ["analyze", str(photo), "--attention", "-o", str(out), "-q", "--threads", "2"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]  # one record per face
    face = max(recs, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
    assert face["pose"]["yaw"] > 40 and face["attention"]["attending"] is False


def test_analyze_cli_attention_in_flat_tables_and_the_terminal_table(data_dir, tmp_path):
    """`-f csv` and `-f parquet` get the photo attention columns (nothing that needs time: no blinks or PERCLOS), and
    the terminal table says where each head points and whether it attends."""
    import csv

    from emolens.types.records import PHOTO_ATTENTION_COLUMNS

    photo = data_dir / "attention/head_pose/images/image00004.jpg"  # turned 68 deg
    args = ["analyze", str(photo), "--attention", "-q", "--threads", "2", "--detector", "retinaface"]
    r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "faces.csv")])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "faces.csv").open()))
    assert list(rows[0])[-len(PHOTO_ATTENTION_COLUMNS) - 1 : -1] == list(PHOTO_ATTENTION_COLUMNS)
    assert "perclos" not in rows[0] and "blink" not in rows[0]
    face = max(rows, key=lambda f: (float(f["x2"]) - float(f["x1"])) * (float(f["y2"]) - float(f["y1"])))
    assert float(face["yaw"]) > 40 and face["attending"] == "False" and float(face["off_target"]) > 40
    pq = pytest.importorskip("pyarrow.parquet")
    r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "faces.parquet")])
    assert r.exit_code == 0, r.output
    table = pq.read_table(tmp_path / "faces.parquet")
    assert str(table.schema.field("attending").type) == "bool" and str(table.schema.field("yaw").type) == "double"
    r = CliRunner().invoke(app, [*args, "-f", "table"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "attention" in r.output and "away" in r.output and "yaw +" in r.output
    plain_args = ["analyze", str(photo), "-q", "--detector", "retinaface", "-o", str(tmp_path / "p.csv")]
    plain = CliRunner().invoke(app, plain_args)
    assert plain.exit_code == 0, plain.output
    assert "yaw" not in (tmp_path / "p.csv").read_text().splitlines()[0]  # without --attention: as before
    # a photo has no video to calibrate on; a target direction is read
    r = CliRunner().invoke(app, [*args, "--target", "calibrate:3"])
    assert r.exit_code != 0 and "--target calibrate needs a video" in r.output
    r = CliRunner().invoke(app, ["analyze", str(photo), "--target", "10,0"])
    assert r.exit_code != 0 and "--cone and --target apply with --attention" in r.output
    r = CliRunner().invoke(app, [*args, "--target", "68,0", "-o", str(tmp_path / "t.csv")])  # looking where it turned
    face = max(csv.DictReader((tmp_path / "t.csv").open()), key=lambda f: float(f["x2"]) - float(f["x1"]))
    assert r.exit_code == 0 and face["attending"] == "True" and float(face["off_target"]) < 25


def test_attention_columns_of_photos_without_a_face_or_that_failed():
    from emolens.types import ImageResult
    from emolens.types.records import PHOTO_ATTENTION_COLUMNS, records

    for result in (ImageResult("none.jpg", 640, 480, ()), ImageResult("bad.jpg", 0, 0, (), error="unreadable")):
        (row,) = records(result, ("happy", "sad"), attention=True)
        assert all(row[c] is None for c in PHOTO_ATTENTION_COLUMNS) and list(row)[-1] == "error"


def test_face_defaults_are_unchanged():
    from emolens.types import Box, EmotionScores

    f = Face(0, Box(0, 0, 1, 1), 1.0, None, EmotionScores(("a", "b"), (0.5, 0.5)))
    assert (f.pose, f.eyes, f.mouth, f.attention) == (None, None, None, None)


def test_stream_with_attention(tmp_path, data_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from emolens.serve.app import ServeConfig, create_app

    cfg = ServeConfig(gallery=tmp_path / "g.db", keys=tmp_path / "k.db", require_keys=False, rate_per_minute=10_000)
    client = TestClient(create_app(cfg))
    cap = cv2.VideoCapture(str(data_dir / "videos" / "single_face.mp4"))
    frames = [cv2.imencode(".jpg", cap.read()[1])[1].tobytes() for _ in range(8)]
    cap.release()
    got = []
    with client.websocket_connect("/v1/stream?attention=true") as ws:
        for f in frames:
            ws.send_bytes(f)
        ws.send_text("end")
        while True:
            try:
                got.append(ws.receive_json())
            except Exception:
                break
    faces = [f for m in got if "faces" in m for f in m["faces"]]
    assert faces and all({"pose", "eyes", "attention"} <= set(f) for f in faces)


def test_video_cli_option_errors(data_dir, tmp_path):
    clip = str(data_dir / "videos/stage_three.mp4")
    r = CliRunner().invoke(app, ["video", clip, "--output", str(tmp_path / "a"), "--alert", "drowsy", "-q"])
    assert r.exit_code == 2 and "needs --attention" in r.output
    r = CliRunner().invoke(app, ["video", clip, "--output", str(tmp_path / "b"), "--attention", "--target", "up", "-q"])
    assert r.exit_code == 2 and "--target" in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "nothing-here")])
    assert r.exit_code != 0 and "frames.csv" in r.output
