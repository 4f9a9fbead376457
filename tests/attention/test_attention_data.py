"""Head pose, eye state, yawns and alert rules on the real photos of ``attention/`` (floors under the measured
figures of docs/benchmarks.md; each can fail)."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from emolens import Analyzer
from emolens.attention import AttentionAnalyzer
from emolens.events import AlertEngine, AlertRule, AttentionRule, parse_rule
from emolens.io.images import load_image
from emolens.landmarks import FaceMesh
from emolens.types import Box, Detection, EmotionScores, Face


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("retinaface", threads=2)


@pytest.fixture(scope="module")
def att() -> AttentionAnalyzer:
    return AttentionAnalyzer(threads=2)


def largest(analyzer: Analyzer, rgb: np.ndarray) -> Detection:
    dets = analyzer.detect(rgb)
    assert dets, "no face found"
    return max(dets, key=lambda d: d.box.area)


def test_mesh_points_lie_on_the_face_and_batches_agree(analyzer, data_dir):
    rgb = load_image(data_dir / "attention/head_pose/images/image00013.jpg").rgb
    det = largest(analyzer, rgb)
    fm = FaceMesh(threads=2)
    (m,) = fm.predict(rgb, [det])
    assert m.points.shape == (468, 3) and m.score > 0.9
    b = det.box
    inside = (m.points[:, 0] > b.x1 - 0.2 * b.width) & (m.points[:, 0] < b.x2 + 0.2 * b.width)
    inside &= (m.points[:, 1] > b.y1 - 0.3 * b.height) & (m.points[:, 1] < b.y2 + 0.2 * b.height)
    assert inside.mean() > 0.98
    # the irises sit between their eye corners
    for eye, (a, c) in enumerate(((33, 133), (362, 263))):
        x = m.iris[eye][0, 0]
        assert min(m.points[a, 0], m.points[c, 0]) < x < max(m.points[a, 0], m.points[c, 0])
    # two faces in one call give the same points as one at a time
    other = load_image(data_dir / "attention/head_pose/images/image00021.jpg").rgb
    both = np.concatenate([rgb, other], axis=1)
    d2 = dataclasses.replace(largest(analyzer, other))
    shift = rgb.shape[1]
    d2 = Detection(Box(d2.box.x1 + shift, d2.box.y1, d2.box.x2 + shift, d2.box.y2), d2.score, None)
    m_both = fm.predict(both, [det, d2])  # two faces: the two halves run at once, each on its own thread
    assert np.abs(m_both[0].points - m.points).max() < 0.5
    assert np.abs(m_both[0].iris - m.iris).max() < 0.5
    (m2,) = fm.predict(both, [d2])
    assert np.abs(m_both[1].points - m2.points).max() < 0.5 and np.abs(m_both[1].iris - m2.iris).max() < 0.5


def test_two_threads_give_the_points_of_one(analyzer, data_dir):
    """Several faces split over two threads (an odd count, some with a crop from a previous frame, some without
    irises) give exactly what one thread gives, in the same order."""
    grid = load_image(data_dir / "photos/expression_grid.jpg").rgb
    faces = analyzer.detect(grid)[:5]
    one, two = FaceMesh(threads=1), FaceMesh(threads=2)
    rois = [None, one.roi(one.predict(grid, faces[1:2])[0]), None, None, one.roi(one.predict(grid, faces[4:5])[0])]
    iris = [True, False, True, False, True]
    a, b = one.predict(grid, faces, rois, iris), two.predict(grid, faces, rois, iris)
    assert len(a) == len(b) == 5
    for m1, m2, wanted in zip(a, b, iris, strict=True):
        assert np.array_equal(m1.points, m2.points) and m1.score == m2.score
        assert (m2.iris is not None) == wanted and (m1.iris is None or np.array_equal(m1.iris, m2.iris))
    with pytest.raises(ValueError, match="5 faces need as many"):
        two.predict(grid, faces, iris=iris[:3])


def test_head_pose_floor_on_aflw2000(analyzer, att, data_dir):
    """Measured 3.58 / 4.71 / 2.84 deg (mean 3.71); the issue's target is a mean of 6."""
    rows = [r for r in csv.DictReader(open(data_dir / "attention/head_pose/poses.csv")) if r["valid"] == "1"]
    assert len(rows) == 61
    errs = []
    for r in rows:
        rgb = load_image(data_dir / "attention/head_pose/images" / r["file"]).rgb
        dets = analyzer.detect(rgb)
        box = Box(*(float(r[k]) for k in ("x1", "y1", "x2", "y2")))
        det = max(dets, key=lambda d: d.box.iou(box))
        m = att.measures(rgb, [det])[0]
        truth = np.array([float(r["yaw"]), float(r["pitch"]), float(r["roll"])])
        errs.append(np.abs(np.array([m.pose.yaw, m.pose.pitch, m.pose.roll]) - truth))
    mae = np.mean(errs, axis=0)
    assert mae.mean() <= 6.0, mae
    assert (mae <= 7.0).all(), mae


def eye_state(analyzer, att, data_dir: Path, split: str) -> list[tuple[bool, bool]]:
    from emolens.attention.geometry import EYE_POINTS

    by_file: dict[str, list[dict]] = {}
    for r in csv.DictReader(open(data_dir / "attention/eyes/labels.csv")):
        if r["split"] == split:
            by_file.setdefault(r["file"], []).append(r)
    out = []
    for file, boxes in sorted(by_file.items()):
        rgb = load_image(data_dir / "attention/eyes/images" / file).rgb
        dets = analyzer.detect(rgb)
        if not dets:
            out.append((boxes[0]["label"] == "closed", False))
            continue
        m = att.measures(rgb, [max(dets, key=lambda d: d.box.area)])[0]
        ears, label = [], None
        for b in boxes:
            x1, y1, x2, y2 = (float(b[k]) for k in ("x1", "y1", "x2", "y2"))
            for eye, ear in enumerate((m.ear_left, m.ear_right)):
                c = m.mesh.points[list(EYE_POINTS[eye]), :2].mean(0)
                if x1 <= c[0] <= x2 and y1 <= c[1] <= y2:
                    ears.append(ear)
                    label = b["label"]
        label = label or boxes[0]["label"]
        mean = float(np.mean(ears)) if ears else (m.ear_left + m.ear_right) / 2
        out.append((label == "closed", mean < att.config.eye_closed))
    return out


def test_eye_state_floor_on_test_split(analyzer, att, data_dir):
    """The threshold was chosen on ``valid`` only; the issue's target on the 50 test images is 90 %."""
    res = eye_state(analyzer, att, data_dir, "test")
    assert len(res) == 50
    acc = np.mean([truth == got for truth, got in res])
    assert acc >= 0.9, acc


def test_yawns_floor(analyzer, att, data_dir):
    """Recall on the 31 test yawns and false yawns on the expression grid (open-mouthed surprise included; never
    fitted on). Measured: 29/31 and 2/25 (docs/benchmarks.md#attention)."""
    rows = [r for r in csv.DictReader(open(data_dir / "attention/yawn/labels.csv")) if r["split"] == "test"]
    hits = 0
    for r in rows:
        rgb = load_image(data_dir / "attention/yawn/images" / r["file"]).rgb
        cx, cy = (float(r["x1"]) + float(r["x2"])) / 2, (float(r["y1"]) + float(r["y2"])) / 2
        dets = [d for d in analyzer.detect(rgb) if d.box.x1 <= cx <= d.box.x2 and d.box.y1 <= cy <= d.box.y2]
        if dets:
            hits += att.measures(rgb, [max(dets, key=lambda d: d.box.area)])[0].yawning(att.config)
    assert len(rows) == 31 and hits >= 28, hits
    grid = load_image(data_dir / "photos/expression_grid.jpg").rgb
    faces = analyzer.detect(grid)
    assert len(faces) >= 20
    false = sum(m.yawning(att.config) for m in att.measures(grid, faces))
    assert false <= 3, false


def test_false_yawns_floor_on_none_photos(analyzer, att, data_dir):
    """False yawns among the faces found in the 120 ``none`` photos (talking, eating). Measured: 4/119 with the
    shipped classifier (fitted on them) and 5-6/119 out of fold (``research/fit_yawn.py``)."""
    rows = [r for r in csv.DictReader(open(data_dir / "attention/yawn/labels.csv")) if r["label"] == "none"]
    faces = false = 0
    for r in rows:
        rgb = load_image(data_dir / "attention/yawn/images" / r["file"]).rgb
        dets = analyzer.detect(rgb)
        measures = att.measures(rgb, dets) if dets else []
        faces += len(measures)
        false += sum(m.yawning(att.config) for m in measures)
    assert len(rows) == 120 and faces >= 110, faces
    assert false <= 5, false


def test_yawn_features_do_not_change_when_the_head_turns(analyzer, att, data_dir):
    """The yawn features of a real yawning mesh turned by 25° of yaw and 15° of pitch stay within 3 %, where the
    image's own mouth aspect ratio (gap over width) changes by more than that; the same mesh with a face score
    under 0.5 (the mesh sees no face) gets no yawn decision, and one without irises the same."""
    from emolens.attention import measure
    from emolens.attention.estimate import YAWN_MODEL
    from emolens.attention.geometry import INNER_CORNERS, INNER_LIPS, yawn_features

    r = next(r for r in csv.DictReader(open(data_dir / "attention/yawn/labels.csv")) if r["split"] == "test")
    rgb = load_image(data_dir / "attention/yawn/images" / r["file"]).rgb
    m = att.measures(rgb, [largest(analyzer, rgb)])[0]
    assert m.yawning(att.config)
    assert not measure(dataclasses.replace(m.mesh, score=0.2)).yawning(att.config)
    # the lips alone decide: the same mesh without the iris model's eye contours still yawns, as much
    no_iris = measure(dataclasses.replace(m.mesh, eye_contours=None, iris=None))
    assert no_iris.yawning(att.config) and no_iris.yawn_p == pytest.approx(m.yawn_p)
    pts = m.mesh.points.astype(np.float64)
    a, b = np.radians(25.0), np.radians(15.0)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    centre = pts.mean(0)
    turned = (pts - centre) @ (rx @ ry).T + centre

    def image_ratio(p: np.ndarray) -> float:
        gap = np.linalg.norm(p[INNER_LIPS[0], :2] - p[INNER_LIPS[1], :2])
        return float(gap / np.linalg.norm(p[INNER_CORNERS[0], :2] - p[INNER_CORNERS[1], :2]))

    before, after = yawn_features(pts), yawn_features(turned)
    spread = np.asarray(YAWN_MODEL["scale"])  # each feature's spread over the fitting faces
    assert np.all(np.abs(after - before) / spread < 0.03), (before, after)
    assert abs(image_ratio(turned) / image_ratio(pts) - 1) > 0.05


def photo_face(analyzer, att, path: Path):
    rgb = load_image(path).rgb
    det = largest(analyzer, rgb)
    labels = ("neutral", "happy")
    face = Face(0, det.box, det.score, det.landmarks, EmotionScores(labels, (0.9, 0.1)), track_id=1)
    return face, att.measures(rgb, [det])[0]


def run_frames(att, engine, frames: list[tuple[float, Face, object]]) -> list:
    alerts = []
    for t, face, m in frames:
        alerts += engine.update("assembled", t, att.track_face(face, m, t))
    return alerts


def test_distracted_fires_after_turning_away(analyzer, data_dir):
    """A frontal face for 2 s, then a face turned 68 deg for 2 s: ``distracted`` with a 1 s rule, once."""
    att = AttentionAnalyzer(threads=2)
    front = photo_face(analyzer, att, data_dir / "attention/head_pose/images/image00021.jpg")
    turned = photo_face(analyzer, att, data_dir / "attention/head_pose/images/image00004.jpg")
    assert att.faces(load_image(data_dir / "attention/head_pose/images/image00021.jpg").rgb, [front[0]])[
        0
    ].attention.attending
    engine = AlertEngine([parse_rule("distracted:1")])
    fps = 10
    seq = [(k / fps, *front) for k in range(2 * fps)] + [(2 + k / fps, *turned) for k in range(2 * fps)]
    alerts = run_frames(att, engine, seq)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.emotion == "distracted" and a.rule == "distracted>1s:any"
    assert 2.0 <= a.started <= 2.3 and a.duration_s >= 1.0 and a.peak_score > 40
    # no alert while the face looks at the camera
    engine2 = AlertEngine([AttentionRule("distracted", 1.0)])
    assert run_frames(AttentionAnalyzer(threads=2), engine2, [(k / fps, *front) for k in range(4 * fps)]) == []


def test_drowsy_fires_on_closed_eyes(analyzer, data_dir):
    """Closed-eye frames for 3 s after open ones: ``drowsy`` (eyes closed 2 s) fires once; a yawn rule does not."""
    att = AttentionAnalyzer(threads=2)
    labels = list(csv.DictReader(open(data_dir / "attention/eyes/labels.csv")))
    closed_file = next(r["file"] for r in labels if r["split"] == "valid" and r["label"] == "closed")
    open_file = next(r["file"] for r in labels if r["split"] == "valid" and r["label"] == "open")
    closed = photo_face(analyzer, att, data_dir / "attention/eyes/images" / closed_file)
    opened = photo_face(analyzer, att, data_dir / "attention/eyes/images" / open_file)
    assert closed[1].closed(att.config) and not opened[1].closed(att.config)
    engine = AlertEngine([parse_rule("drowsy"), parse_rule("yawn"), AlertRule(("angry",), 1.0)])
    fps = 10
    seq = [(k / fps, *opened) for k in range(fps)] + [(1 + k / fps, *closed) for k in range(3 * fps)]
    alerts = run_frames(att, engine, seq)
    assert [a.emotion for a in alerts] == ["drowsy"]
    assert alerts[0].started == pytest.approx(1.0) and alerts[0].duration_s == pytest.approx(2.0, abs=0.11)


def test_rule_parsing():
    r = parse_rule("drowsy:3:known:0.2")
    assert isinstance(r, AttentionRule) and r.min_seconds == 3.0 and r.who == "known" and r.perclos == 0.2
    assert parse_rule("distracted").min_seconds == 3.0 and parse_rule("yawn").min_seconds == 0.0
    assert isinstance(parse_rule("angry,fear:3"), AlertRule)
    from emolens.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_rule("sleepy:2")
    with pytest.raises(ConfigError):
        AttentionRule("drowsy", -1.0)
