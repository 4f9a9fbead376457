"""Face detectors on real photos (shared datasets), plus their helpers, option checks and model-file checks."""

from __future__ import annotations

import json
import math
import shutil

import cv2
import numpy as np
import pytest

from emolens.align import landmark_correspondences
from emolens.detect import Detector
from emolens.detect.blazeface import BlazeFaceDetector
from emolens.detect.common import iou_matrix, nms, weighted_nms
from emolens.detect.evaluation import match, read_voc
from emolens.detect.retinaface import RetinaFaceDetector
from emolens.errors import ConfigError, ImageError, ModelError
from emolens.registry import build_detector, detector_names, get_model, models_dir
from emolens.types import Box, Landmarks, PartialLandmarks

# README of photos/: the two couple.jpg faces as (x, y, w, h).
COUPLE_BOXES = np.array([[188, 124, 188 + 266, 124 + 370], [412, 138, 412 + 270, 138 + 364]], float)


def load(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def photos(data_dir):
    return data_dir / "photos"


@pytest.fixture(scope="module")
def retina():
    return build_detector("retinaface", threads=2)


@pytest.fixture(scope="module")
def blaze():
    return build_detector("blazeface", threads=2)


# --- registry ---------------------------------------------------------------------------------


def test_both_backends_are_registered_and_follow_the_protocol(retina, blaze):
    assert {"retinaface", "blazeface"} <= set(detector_names())
    assert isinstance(retina, RetinaFaceDetector) and retina.name == "retinaface"
    assert isinstance(blaze, BlazeFaceDetector) and blaze.name == "blazeface"
    assert isinstance(retina, Detector) and isinstance(blaze, Detector)


def test_unknown_backend_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown detector"):
        build_detector("no-such-detector")
    with pytest.raises(ConfigError, match="score_threshold"):
        build_detector("retinaface", score_threshold=1.5)
    with pytest.raises(ConfigError, match="max_size"):
        build_detector("retinaface", max_size=16)
    with pytest.raises(ConfigError, match="min_face"):
        build_detector("blazeface", min_face=-1)
    with pytest.raises(ConfigError, match="no_such_option"):
        build_detector("retinaface", no_such_option=1)
    with pytest.raises(ConfigError, match="max_size"):  # BlazeFace letterboxes every image into 256x256
        build_detector("blazeface", max_size=640)


# --- the default detector on hand-labelled photos ------------------------------------------------


def test_default_detector_recall_and_precision_on_voc_boxes(photos):
    det = build_detector("retinaface", threads=2)  # the defaults, as the library uses them
    found_big = n_big = found_all = n_all = tp = fp = 0
    for xml in sorted((photos / "voc_boxes").glob("*.xml")):
        truth = read_voc(xml)
        image = load(xml.parent / truth.image)
        dets = det.detect(image)
        scores = [d.score for d in dets]
        assert scores == sorted(scores, reverse=True)
        for d in dets:
            assert 0 <= d.box.x1 < d.box.x2 <= truth.width and 0 <= d.box.y1 < d.box.y2 <= truth.height
            assert d.score >= 0.5 and len(d.landmarks.points) == 5
        found, is_tp = match(dets, truth.boxes, 0.5)
        big = truth.sizes >= 20
        found_big += int(found[big].sum())
        n_big += int(big.sum())
        found_all += int(found.sum())
        n_all += len(found)
        tp += int(is_tp.sum())
        fp += int((~is_tp).sum())
    assert (n_all, n_big) == (212, 166)
    # Measured: 164/166, 208/212, precision 0.972 (docs/benchmarks.md). Floors leave a little room.
    assert found_big / n_big >= 0.95, (found_big, n_big)
    assert found_all / n_all >= 0.93, (found_all, n_all)
    assert tp / (tp + fp) >= 0.93, (tp, fp)


def test_landscape_has_no_face(photos, retina, blaze):
    image = load(photos / "landscape.jpg")
    assert retina.detect(image) == []
    assert blaze.detect(image) == []


@pytest.mark.parametrize("backend", ["retinaface", "blazeface"])
def test_couple_has_two_faces_in_the_right_places(photos, backend, retina, blaze):
    det = retina if backend == "retinaface" else blaze
    dets = det.detect(load(photos / "couple.jpg"))
    assert len(dets) == 2
    boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets])
    ious = iou_matrix(COUPLE_BOXES, boxes)
    assert ious.max(axis=1).min() >= 0.5, ious
    for d in dets:
        pts = d.landmarks.as_array()
        left_eye, right_eye, nose = pts[0], pts[1], pts[2]
        assert left_eye[0] < right_eye[0]  # "left" as seen in the image
        assert max(left_eye[1], right_eye[1]) < nose[1] + 5
        assert d.box.x1 < nose[0] < d.box.x2 and d.box.y1 < nose[1] < d.box.y2


def test_retinaface_landmarks_have_mouth_corners(photos, retina):
    for d in retina.detect(load(photos / "couple.jpg")):
        pts = d.landmarks.as_array()
        assert np.isfinite(pts).all()
        assert pts[3, 0] < pts[4, 0]  # mouth corners left to right
        assert min(pts[3, 1], pts[4, 1]) > pts[2, 1] - 5  # below the nose (the heads tilt a little)


def test_blazeface_landmarks_do_not_invent_mouth_corners(photos, blaze):
    for d in blaze.detect(load(photos / "couple.jpg")):
        lm = d.landmarks
        assert isinstance(lm, PartialLandmarks)
        assert lm.measured == (True, True, True, False, False)
        assert lm.to_list()[3:] == [[None, None], [None, None]]
        assert json.dumps(lm.to_list())  # valid JSON (no NaN)
        mx, my = lm.mouth_center
        assert my > lm.points[2][1] - 5 and d.box.x1 < mx < d.box.x2
        assert set(lm.available()) == {"left_eye", "right_eye", "nose", "mouth_center"}


def test_expression_grid_has_one_face_per_cell(photos, retina):
    meta = json.loads((photos / "expression_grid.json").read_text())
    dets = retina.detect(load(photos / "expression_grid.jpg"))
    assert len(dets) == 25
    cell = meta["cell_size"]
    cells = {(int((d.box.y1 + d.box.y2) / 2 // cell), int((d.box.x1 + d.box.x2) / 2 // cell)) for d in dets}
    assert cells == {(r, c) for r in range(5) for c in range(5)}


def test_min_face_and_score_threshold_filter(photos):
    image = load(photos / "group_marchingband.jpg")  # 54 faces, all 12-22 px
    assert len(build_detector("retinaface", threads=2).detect(image)) >= 45
    assert build_detector("retinaface", threads=2, min_face=40).detect(image) == []
    strict = build_detector("retinaface", threads=2, score_threshold=0.99).detect(image)
    assert all(d.score >= 0.99 for d in strict) and len(strict) < 45


def test_max_size_maps_boxes_back_to_the_original_pixels(photos):
    image = load(photos / "couple.jpg")  # 1024 x 685
    small = build_detector("retinaface", threads=2, max_size=512).detect(image)
    assert len(small) >= 2
    boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in small[:2]])
    assert iou_matrix(COUPLE_BOXES, boxes).max(axis=1).min() >= 0.5


# --- odd inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["retinaface", "blazeface"])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_blank_image_has_no_face(backend, value, retina, blaze):
    det = retina if backend == "retinaface" else blaze
    assert det.detect(np.full((480, 640, 3), value, np.uint8)) == []


@pytest.mark.parametrize("backend", ["retinaface", "blazeface"])
@pytest.mark.parametrize("shape", [(10, 10, 3), (1, 1, 3), (3, 2000, 3)])
def test_tiny_and_thin_images_do_not_crash(backend, shape, retina, blaze):
    det = retina if backend == "retinaface" else blaze
    rng = np.random.default_rng(0)
    out = det.detect(rng.integers(0, 256, shape, dtype=np.uint8))
    assert isinstance(out, list)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
        [[0, 0, 0]],
    ],
)
def test_wrong_image_arrays_are_image_errors(image, retina):
    with pytest.raises(ImageError):
        retina.detect(image)


# --- model files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["retinaface", "blazeface"])
def test_shipped_models_verify_and_carry_licences(name):
    info = get_model(name)
    assert info.task == "detect"
    lic = models_dir() / info.manifest.licence_file
    assert lic.is_file() and "licen" in lic.read_text().lower()
    assert info.path.stat().st_size < 8_000_000


def test_sha256_mismatch_is_a_model_error(tmp_path):
    src = models_dir()
    shutil.copy(src / "blazeface.json", tmp_path / "blazeface.json")
    data = bytearray((src / "blazeface.onnx").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "blazeface.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        build_detector("blazeface", model=str(tmp_path / "blazeface.json"))
    # The untouched copy loads, so it is the hash that failed above.
    shutil.copy(src / "blazeface.onnx", tmp_path / "good.onnx")
    manifest = json.loads((src / "blazeface.json").read_text())
    manifest["file"] = "good.onnx"
    (tmp_path / "good.json").write_text(json.dumps(manifest))
    assert build_detector("blazeface", model=str(tmp_path / "good.json")).detect(np.zeros((64, 64, 3), np.uint8)) == []


# --- helpers ---------------------------------------------------------------------------------------


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4).tolist() == []


def test_weighted_nms_blends_a_cluster_by_score():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.75, 0.25, 0.6])
    points = np.array([[[0, 0]], [[4, 0]], [[55, 55]]], float)
    b, s, p = weighted_nms(boxes, scores, points, 0.3)
    assert np.allclose(b[0], [0.5, 0, 10.5, 10]) and np.allclose(p[0], [[1, 0]])
    assert s.tolist() == [0.75, 0.6] and np.allclose(b[1], boxes[2])


def test_landmark_correspondences_use_the_mouth_centre_for_partial_landmarks():
    template = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)
    full = Landmarks(tuple(map(tuple, template + 5)))
    src, dst = landmark_correspondences(full, template)
    assert src.shape == dst.shape == (5, 2) and np.allclose(src - dst, 5)
    nan = (math.nan, math.nan)
    part = PartialLandmarks(((31, 41), (71, 41), (51, 61), nan, nan), mouth_center=(51, 81))
    src, dst = landmark_correspondences(part, template)
    assert src.shape == (4, 2) and np.allclose(dst[-1], [50, 80]) and np.allclose(src - dst, 1)


def test_match_is_greedy_by_score():
    from emolens.types import Detection

    truth = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], float)
    dets = [Detection(Box(0, 0, 10, 10), 0.6), Detection(Box(1, 0, 11, 10), 0.9), Detection(Box(50, 50, 60, 60), 0.8)]
    found, tp = match(dets, truth)
    assert found.tolist() == [True, False]
    assert tp.tolist() == [False, True, False]  # the 0.9 box takes the face; the 0.6 duplicate is a false positive
