"""The stage bundle on real photos: the one place a Face is assembled, for photos, given detections and video."""

from __future__ import annotations

import numpy as np
import pytest

from emolens import Analyzer
from emolens.identity import Gallery
from emolens.io.images import load_image
from emolens.stages import Stages
from emolens.video.pipeline import VideoRun


@pytest.fixture(scope="module")
def stages() -> Stages:
    return Stages(threads=1)


@pytest.fixture(scope="module")
def grid(data_dir) -> np.ndarray:
    return load_image(str(data_dir / "photos" / "expression_grid.jpg")).rgb


def _same(a, b) -> None:
    assert [f.box for f in a] == [f.box for f in b] and len(a) > 1
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_allclose(fa.emotions.probs, fb.emotions.probs, atol=1e-6)


def test_stages_give_the_faces_of_the_analyzer(stages, grid) -> None:
    faces = stages.analyse(grid)
    _same(faces, Analyzer(threads=1).analyze(grid, color_order="rgb").faces)
    assert [f.index for f in faces] == list(range(len(faces)))
    assert all(f.track_id is None and f.identity is None and f.pose is None for f in faces)


def test_given_detections_are_used_as_they_are(stages, grid) -> None:
    dets = stages.detect(grid)
    _same(stages.analyse(grid, detections=dets), stages.analyse(grid))
    two = stages.analyse(grid, detections=dets[:2])
    assert [f.box for f in two] == [d.box for d in dets[:2]]
    assert stages.analyse(grid, detections=[]) == []


def test_one_model_call_classifies_several_images_as_one_by_one(stages, grid) -> None:
    half = np.ascontiguousarray(grid[:, : grid.shape[1] // 2])
    prepared = [stages.prepare(grid), stages.prepare(None), stages.prepare(half)]
    probs = stages.classify(prepared)
    assert [len(p) for p in probs] == [len(prepared[0].detections), 0, len(prepared[2].detections)]
    _same(stages.finish(prepared)[2], stages.analyse(half))


def test_max_faces_keeps_the_largest(grid) -> None:
    every = Stages(threads=1).detect(grid)
    two = Stages(threads=1, max_faces=2).detect(grid)
    areas = sorted((d.box.area for d in every), reverse=True)
    assert [d.box.area for d in two] == areas[:2]


def test_video_runs_on_stages_alone(data_dir, stages) -> None:
    with VideoRun(stages, str(data_dir / "videos" / "single_face.mp4"), max_frames=6) as run:
        frames = list(run)
    assert len(frames) == 6 and frames[0].faces
    assert all(f.track_id is not None and f.smoothed is not None for fr in frames for f in fr.faces)


def test_gallery_finds_faces_with_stages(data_dir, stages, grid) -> None:
    g = Gallery(":memory:", stages=stages)
    assert g.stages is stages and g.analyzer is stages
    assert [d for d, _ in g.identify(grid)] == stages.detect(grid)
