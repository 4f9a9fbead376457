"""The iris model on every other video frame: between its runs a track's irises and eye contours follow the eye
corners (``AttentionConfig.iris_every_s``, :func:`emolens.landmarks.follow_eyes`)."""

from __future__ import annotations

import numpy as np
import pytest

from emolens import Analyzer
from emolens.attention import AttentionAnalyzer, AttentionConfig
from emolens.errors import ConfigError
from emolens.io.images import load_image
from emolens.landmarks import Mesh, follow_eyes
from emolens.types import Box, EmotionScores, Face


def similarity(p: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = p.copy()
    out[..., 0] = scale * (c * p[..., 0] - s * p[..., 1]) + shift[0]
    out[..., 1] = scale * (s * p[..., 0] + c * p[..., 1]) + shift[1]
    out[..., 2] = scale * p[..., 2]
    return out


def test_follow_eyes_moves_irises_with_the_eye_corners():
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 300, (468, 3)).astype(np.float32)
    iris = rng.uniform(100, 300, (2, 5, 3)).astype(np.float32)
    contours = rng.uniform(100, 300, (2, 71, 3)).astype(np.float32)
    before = Mesh(points, 0.99, iris, contours)
    move = dict(angle=0.1, scale=1.2, shift=(15.0, -7.0))
    after = Mesh(similarity(points, **move), 0.98)
    got = follow_eyes(before, after)
    assert got.points is after.points and got.score == 0.98
    assert np.abs(got.iris - similarity(iris, **move)).max() < 1e-3
    assert np.abs(got.eye_contours - similarity(contours, **move)).max() < 1e-3
    # nothing to follow without irises
    assert follow_eyes(after, before) is before


def test_iris_every_s_is_checked():
    assert AttentionConfig().iris_every_s == 0.05
    for bad in (-1, float("nan"), "0.1", True):
        with pytest.raises(ConfigError):
            AttentionConfig(iris_every_s=bad)


def test_followed_eyes_match_a_fresh_iris_run_on_real_frames(data_dir):
    """Frames 40 ms apart, the face moved 12 px: the followed eyes' openness agrees with running the iris model on
    the frame, the followed gaze is the last measured one (the model's own jitter between two crops of one face is
    larger: 6 deg here), and the next frame (80 ms) runs the model again."""
    rgb = load_image(data_dir / "attention/head_pose/images/image00013.jpg").rgb
    det = max(Analyzer("retinaface", threads=2).detect(rgb), key=lambda d: d.box.area)
    labels = ("neutral", "happy")

    def face_at(dx: int) -> Face:
        b = det.box
        box = Box(b.x1 + dx, b.y1, b.x2 + dx, b.y2)
        return Face(0, box, det.score, None, EmotionScores(labels, (0.9, 0.1)), track_id=1)

    frames = [(0.0, rgb, face_at(0)), (0.04, np.roll(rgb, 12, axis=1), face_at(12)), (0.08, rgb, face_at(0))]
    every = AttentionAnalyzer({"iris_every_s": 0}, threads=2)
    half = AttentionAnalyzer(threads=2)
    calls = []
    run_iris = half.mesh._run_iris
    half.mesh._run_iris = lambda img, meshes, *rest: calls.append(len(meshes)) or run_iris(img, meshes, *rest)
    got = []
    for t, img, face in frames:
        (a,) = every.frame(img, t, [face])
        (b,) = half.frame(img, t, [face])
        assert b.eyes.left == pytest.approx(a.eyes.left, abs=0.03)
        assert b.eyes.right == pytest.approx(a.eyes.right, abs=0.03)
        assert b.eyes.closed == a.eyes.closed
        got.append((a.eyes, b.eyes))
    assert got[0][0] == got[0][1] and got[2][0].left == pytest.approx(got[2][1].left, abs=1e-6)
    assert got[1][1].gaze_yaw == pytest.approx(got[0][1].gaze_yaw, abs=1.0)
    assert got[1][1].gaze_pitch == pytest.approx(got[0][1].gaze_pitch, abs=1.0)
    assert calls == [1, 1]  # the iris model ran at 0 s and 80 ms, not at 40 ms
