"""Every kind of awkward input through the whole pipeline: a correct result or one clear error, never a crash."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import emolens
from emolens.errors import ImageError


@pytest.fixture(scope="module")
def analyzer():
    return emolens.Analyzer()


@pytest.fixture(scope="module")
def couple(data_dir):
    return Image.open(data_dir / "photos" / "couple.jpg").convert("RGB")


def _huge_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("mode", ["RGBA", "L", "CMYK", "I;16"])
def test_other_pixel_modes_still_find_both_faces(analyzer, couple, tmp_path, mode):
    if mode == "I;16":
        grey = np.asarray(couple.convert("L"), dtype=np.uint16) * 257
        img, ext = Image.fromarray(grey), "png"
    else:
        img, ext = couple.convert(mode), ("jpg" if mode == "CMYK" else "png")
    path = tmp_path / f"couple.{ext}"
    img.save(path)
    assert len(analyzer.analyze(str(path))) == 2


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.jpg", b"", "empty"),
        ("text.jpg", b"this is not an image\n" * 10, "not"),
        ("huge.png", _huge_png(30_000, 30_000), "pixels"),
    ],
)
def test_bad_files_give_one_clear_error(analyzer, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError) as e:
        analyzer.analyze(str(path))
    text = str(e.value)
    assert name in text and message in text.lower() and "\n" not in text


def test_truncated_jpeg_is_an_error_not_half_a_picture(analyzer, data_dir, tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes((data_dir / "photos" / "couple.jpg").read_bytes()[:30_000])
    with pytest.raises(ImageError, match=r"cut\.jpg"):
        analyzer.analyze(str(path))


def test_many_faces_in_a_group_photo(analyzer, data_dir):
    # group_family_church.jpg has 23 annotated faces (25-48 px).
    n = len(analyzer.analyze(str(data_dir / "photos" / "group_family_church.jpg")))
    assert 21 <= n <= 25


def test_tiny_and_blank_images(analyzer):
    assert len(analyzer.analyze(np.zeros((1, 1, 3), np.uint8), color_order="rgb")) == 0
    assert len(analyzer.analyze(np.full((480, 640), 128, np.uint8))) == 0
