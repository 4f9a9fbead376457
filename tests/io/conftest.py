"""Fixtures for the io and draw tests: real photos, and a factory of result objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from emolens.labels import FER2013
from emolens.types import Box, EmotionScores, Face, ImageResult, Landmarks


@pytest.fixture(scope="session")
def photos_dir(data_dir: Path) -> Path:
    path = data_dir / "photos"
    if not (path / "couple.jpg").is_file():
        pytest.fail(f"real photos not found in {path}", pytrace=False)
    return path


def make_face(
    index: int = 0,
    box: tuple[float, float, float, float] = (10.0, 20.0, 110.0, 140.0),
    label: str = "happy",
    confidence: float = 0.87,
    labels: tuple[str, ...] = FER2013,
    landmarks: bool = True,
    identity: str | None = None,
) -> Face:
    """A face whose top label is ``label`` with probability ``confidence``; the rest is spread evenly."""
    rest = (1.0 - confidence) / (len(labels) - 1)
    probs = tuple(confidence if lab == label else rest for lab in labels)
    x1, y1, x2, y2 = box
    lms = None
    if landmarks:
        w, h = x2 - x1, y2 - y1
        rel = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))
        lms = Landmarks(points=tuple((x1 + a * w, y1 + b * h) for a, b in rel))
    return Face(
        index=index,
        box=Box(x1, y1, x2, y2),
        score=0.9876543,
        landmarks=lms,
        emotions=EmotionScores(labels=labels, probs=probs),
        identity=identity,
        identity_score=None if identity is None else 0.7123456,
    )


@pytest.fixture()
def face_factory() -> Callable[..., Face]:
    return make_face


@pytest.fixture()
def sample_results() -> list[ImageResult]:
    """Three images: two faces, no face, and a failed file."""
    return [
        ImageResult(
            source="photos/couple.jpg",
            width=1024,
            height=685,
            faces=(
                make_face(0, (100.04, 50.06, 300.0, 330.0), "happy", 0.91234),
                make_face(1, (500.0, 60.0, 690.5, 320.25), "sad", 0.6, landmarks=False, identity="Zoë"),
            ),
        ),
        ImageResult(source="photos/landscape.jpg", width=640, height=427),
        ImageResult(source="photos/broken.jpg", width=0, height=0, error="image data is truncated"),
    ]
