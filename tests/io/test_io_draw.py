"""emolens.draw: annotated images (boxes, landmarks, tags, blur) and save_image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from emolens.draw import EMOTION_COLORS, annotate, pixelate, save_image
from emolens.errors import ConfigError, ImageError
from emolens.io import load_image
from emolens.types import Face


def near(pixels: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    """Mask of pixels within ``tol`` of ``color`` on every channel."""
    return (np.abs(pixels.astype(int) - np.array(color)) <= tol).all(axis=-1)


def line_width(out: np.ndarray, row: int, x_from: int, x_to: int, color: tuple[int, int, int]) -> int:
    return int(near(out[row, x_from:x_to], color).sum())


def test_boxes_in_emotion_colours_and_input_untouched(face_factory: Callable[..., Face]) -> None:
    img = np.zeros((1000, 1000, 3), np.uint8)
    happy = face_factory(0, (100, 300, 400, 700), "happy")
    sad = face_factory(1, (600, 300, 900, 700), "sad")
    out = annotate(img, [happy, sad])
    assert out.shape == img.shape and out.dtype == np.uint8 and out is not img
    assert img.max() == 0  # the input is not drawn on
    # The left edge of each box, half-way down, is in its emotion's colour.
    assert near(out[500, 98:103], EMOTION_COLORS["happy"]).any()
    assert near(out[500, 598:603], EMOTION_COLORS["sad"]).any()
    assert not near(out[500, 598:603], EMOTION_COLORS["happy"]).any()
    # Inside the box, away from landmarks, nothing is drawn.
    assert out[500, 150:250].max() == 0


def test_landmarks_are_drawn(face_factory: Callable[..., Face]) -> None:
    img = np.zeros((600, 600, 3), np.uint8)
    face = face_factory(0, (100, 100, 500, 500), "neutral")
    out = annotate(img, [face])
    assert face.landmarks is not None
    for x, y in face.landmarks.points:
        assert out[round(y), round(x)].max() > 150  # a filled dot on each of the five points
    without = annotate(img, [face_factory(0, (100, 100, 500, 500), "neutral", landmarks=False)])
    x, y = face.landmarks.points[2]
    assert without[round(y), round(x)].max() == 0


@pytest.mark.parametrize(("label", "ink"), [("happy", (0, 0, 0)), ("sad", (255, 255, 255))])
def test_tag_has_a_background_and_readable_text(
    face_factory: Callable[..., Face], label: str, ink: tuple[int, int, int]
) -> None:
    img = np.full((800, 800, 3), 128, np.uint8)
    out = annotate(img, [face_factory(0, (300, 300, 500, 500), label, 0.87)])
    background = near(out[:299], EMOTION_COLORS[label], tol=10)  # above the box's top edge
    rows, cols = np.nonzero(background)
    assert background.sum() > 1000
    assert rows.max() < 300 and cols.min() >= 300  # just above the box, starting at its left edge
    tag = out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert near(tag, ink, tol=60).sum() > 50  # the text, in the ink that reads on that colour
    assert (out[: rows.min()] == 128).all()  # nothing above the tag


def test_tag_moves_inside_the_image_when_the_box_touches_the_top(face_factory: Callable[..., Face]) -> None:
    img = np.zeros((500, 500, 3), np.uint8)
    out = annotate(img, [face_factory(0, (-20, -10, 200, 150), "sad")])  # partly outside, too
    assert near(out[152:200, 0:200], EMOTION_COLORS["sad"], tol=10).sum() > 300  # the tag, below the box


def test_sizes_scale_with_the_image(face_factory: Callable[..., Face]) -> None:
    widths = []
    for side in (400, 4000):
        img = np.zeros((side, side, 3), np.uint8)
        face = face_factory(0, (side * 0.25, side * 0.3, side * 0.6, side * 0.8), "sad", landmarks=False)
        out = annotate(img, [face])
        widths.append(line_width(out, int(side * 0.55), 0, side // 2, EMOTION_COLORS["sad"]))
    assert widths[0] >= 1
    assert widths[1] >= 4 * widths[0]


def test_blur_replaces_face_pixels(photos_dir: Path, face_factory: Callable[..., Face]) -> None:
    rgb = load_image(photos_dir / "couple.jpg").rgb
    face = face_factory(0, (200, 150, 500, 500), "happy", landmarks=False)
    plain = annotate(rgb, [face])
    blurred = annotate(rgb, [face], blur=lambda r: pixelate(r, blocks=6))
    inner = (slice(200, 450), slice(250, 450))
    assert np.array_equal(plain[inner], rgb[inner])
    assert len(np.unique(blurred[inner].reshape(-1, 3), axis=0)) <= 6 * 6
    assert len(np.unique(rgb[inner].reshape(-1, 3), axis=0)) > 1000
    np.testing.assert_array_equal(blurred[600:, :], plain[600:, :])  # outside the face: as before
    with pytest.raises(ConfigError, match="blur returned shape"):
        annotate(rgb, [face], blur=lambda r: r[:10])


def test_identity_in_tag(face_factory: Callable[..., Face]) -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    plain = annotate(img, [face_factory(0, (100, 200, 300, 380), "fear")])
    named = annotate(img, [face_factory(0, (100, 200, 300, 380), "fear", identity="Zoë Saldaña")])
    colour = EMOTION_COLORS["fear"]
    assert near(named[150:200], colour, tol=10).sum() > near(plain[150:200], colour, tol=10).sum()  # wider tag


def test_bad_input(face_factory: Callable[..., Face]) -> None:
    for bad in (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ConfigError, match=r"RGB uint8"):
            annotate(bad, [face_factory()])
    assert annotate(np.zeros((5, 5, 3), np.uint8), []).max() == 0


def test_real_photo_annotate_and_save(photos_dir: Path, tmp_path: Path, face_factory: Callable[..., Face]) -> None:
    rgb = load_image(photos_dir / "couple.jpg").rgb
    faces = [face_factory(0, (250, 120, 480, 420), "happy"), face_factory(1, (520, 100, 760, 430), "surprise")]
    out = annotate(rgb, faces)
    assert (out != rgb).any(axis=-1).sum() > 2000
    png = tmp_path / "a.png"
    save_image(out, png)
    np.testing.assert_array_equal(load_image(png).rgb, out)  # lossless, and RGB order kept
    jpg = tmp_path / "a.JPG"
    save_image(out, jpg, quality=90)
    back = load_image(jpg).rgb.astype(int)
    assert np.abs(back - out).mean() < 4.0
    assert np.abs(back - out[:, :, ::-1]).mean() > 10.0  # not saved with swapped channels


def test_save_image_errors(tmp_path: Path) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ImageError) as e:
        save_image(img, tmp_path / "a.gif")
    assert e.value.message == "cannot save as '.gif'; use .jpg, .jpeg or .png"
    assert e.value.source == str(tmp_path / "a.gif")
    assert not (tmp_path / "a.gif").exists()
    with pytest.raises(ImageError, match="without extension"):
        save_image(img, tmp_path / "noext")
    with pytest.raises(ImageError, match="cannot write file"):
        save_image(img, tmp_path / "missing" / "a.png")
    with pytest.raises(ConfigError):
        save_image(np.zeros((8, 8), np.uint8), tmp_path / "a.png")


def test_pixelate_keeps_shape() -> None:
    rng = np.random.default_rng(1)
    for shape in ((1, 1, 3), (7, 3, 3), (50, 40, 3)):
        region = rng.integers(0, 256, shape, dtype=np.uint8)
        out = pixelate(region)
        assert out.shape == region.shape and out.dtype == np.uint8
