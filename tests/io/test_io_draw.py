"""emolens.draw: annotated images (boxes, landmarks, tags, blur) and save_image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from emolens.draw import EMOTION_COLORS, annotate, draw_faces, pixelate, save_image
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


# ------------------------------------------------------------------------------------------- crowded photos


@pytest.fixture(scope="module")
def crowds(data_dir: Path) -> dict[str, tuple[np.ndarray, tuple[Face, ...]]]:
    """The two crowded group photos with the faces the default detector finds (54 and 39 people)."""
    from emolens import Analyzer

    analyzer = Analyzer("retinaface", threads=1)
    out = {}
    for name in ("group_marchingband", "group_tvshow"):
        rgb = load_image(data_dir / "photos" / f"{name}.jpg").rgb
        out[name] = (rgb, analyzer.analyze(rgb, color_order="rgb").faces)
    return out


def assert_tags_apart_and_drawn(ann, faces: Sequence[Face]) -> None:
    """No two tag rectangles (nor the legend) share a pixel, and each rectangle holds its face's tag colour."""
    rects = [*ann.labels, *([ann.legend] if ann.legend else [])]
    for k, (ax1, ay1, ax2, ay2) in enumerate(rects):
        assert 0 <= ax1 < ax2 <= ann.image.shape[1] and 0 <= ay1 < ay2 <= ann.image.shape[0]
        for bx1, by1, bx2, by2 in rects[k + 1 :]:
            assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1, f"{rects[k]} overlaps {(bx1, by1, bx2, by2)}"
    for (x1, y1, x2, y2), i in zip(ann.labels, ann.labelled, strict=True):
        tag = ann.image[y1:y2, x1:x2]
        assert near(tag, EMOTION_COLORS[faces[i].label], tol=8).mean() > 0.5  # mostly the tag's background


def test_crowd_of_small_faces_gets_boxes_and_a_legend(crowds) -> None:
    rgb, faces = crowds["group_marchingband"]
    assert len(faces) >= 50
    ann = draw_faces(rgb, faces)
    assert ann.labels == ()  # every face is smaller than a tag: box and colour only
    assert ann.legend is not None
    x1, y1, x2, y2 = ann.legend
    covered = [f for f in faces if f.box.x2 > x1 and f.box.x1 < x2 and f.box.y2 > y1 and f.box.y1 < y2]
    assert covered == []  # the legend sits where there are no faces
    for f in faces:  # each box is drawn in its emotion's colour
        bx1, by1, by2 = (round(v) for v in (f.box.x1, f.box.y1, f.box.y2))
        edge = ann.image[by1 : by2 + 1, bx1 : bx1 + 2]
        assert near(edge, EMOTION_COLORS[f.label], tol=60).any()
    # landmarks are never drawn on small faces
    assert np.array_equal(ann.image, draw_faces(rgb, faces, landmarks=False).image)


def test_crowd_labels_never_overlap(crowds) -> None:
    rgb, faces = crowds["group_tvshow"]
    assert len(faces) >= 35
    ann = draw_faces(rgb, faces)
    assert_tags_apart_and_drawn(ann, faces)
    tag_h = 25  # the automatic tag height on a 1024 x 576 photo, within a pixel or two
    big = [i for i, f in enumerate(faces) if f.box.size >= 1.5 * tag_h]
    assert len(big) >= 15 and set(big) <= set(ann.labelled)  # every clearly visible face is named
    assert ann.legend is not None  # the small crowd faces at the back are counted in the legend


@pytest.mark.parametrize("name", ["group_marchingband", "group_tvshow"])
def test_forced_small_labels_on_every_face_never_overlap(crowds, name: str) -> None:
    rgb, faces = crowds[name]
    ann = draw_faces(rgb, faces, small_face=0, label_size=9, landmarks=False)
    assert_tags_apart_and_drawn(ann, faces)
    assert len(ann.labels) == len(faces)  # small text leaves room for every face, even 54 of them
    big = draw_faces(rgb, faces, small_face=0, label_size=30)
    assert_tags_apart_and_drawn(big, faces)
    assert len(big.labels) < len(faces)  # too large to fit them all: the rest are dropped, not stacked
    tag_heights = {y2 - y1 for _, y1, _, y2 in ann.labels}
    assert max(tag_heights) < min(y2 - y1 for _, y1, _, y2 in big.labels)


def test_no_landmarks_option(face_factory: Callable[..., Face]) -> None:
    img = np.zeros((600, 600, 3), np.uint8)
    face = face_factory(0, (100, 100, 500, 500), "neutral")
    out = annotate(img, [face], landmarks=False)
    assert face.landmarks is not None
    for x, y in face.landmarks.points:
        assert out[round(y), round(x)].max() == 0
    with pytest.raises(ConfigError, match="label_size"):
        annotate(img, [face], label_size=-3)


def test_cli_annotate_options(data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emolens.cli.main import app

    photo = data_dir / "photos" / "group_tvshow.jpg"
    outs = {}
    for key, extra in {"default": [], "plain": ["--no-landmarks", "--label-size", "10"]}.items():
        r = CliRunner().invoke(app, ["analyze", str(photo), "-o", str(tmp_path / f"{key}.jsonl"), "--annotate",
                                     str(tmp_path / key), "-q", *extra])  # fmt: skip
        assert r.exit_code == 0, r.output
        outs[key] = load_image(tmp_path / key / "group_tvshow.jpg").rgb
    landmark_green = near(outs["default"], (0, 255, 0), tol=50).sum()
    assert landmark_green > 100 and near(outs["plain"], (0, 255, 0), tol=50).sum() < landmark_green / 5
