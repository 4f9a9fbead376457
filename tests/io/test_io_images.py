"""load_image: real photos, every accepted kind of source, and every bad input the loader must refuse."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from emolens.errors import ConfigError, ImageError
from emolens.io import LoadedImage, load_image

# ------------------------------------------------------------------------------------------------ helpers


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG file whose IHDR claims ``width`` x ``height`` (the pixel data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------- real photos


REAL_SIZES = {"couple.jpg": (1024, 685), "landscape.jpg": (640, 427)}


def test_real_photos_load_as_rgb_uint8(photos_dir: Path) -> None:
    paths = sorted(photos_dir.glob("*.jpg")) + sorted((photos_dir / "voc_boxes").glob("*.jpg"))
    assert len(paths) >= 15
    for path in paths:
        img = load_image(path)
        assert isinstance(img, LoadedImage)
        assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
        assert img.rgb.flags.c_contiguous
        assert img.rgb.shape[:2] == (img.height, img.width)
        assert img.source == str(path)
        with Image.open(path) as pil:
            assert (img.width, img.height) == pil.size
    for name, size in REAL_SIZES.items():
        img = load_image(photos_dir / name)
        assert (img.width, img.height) == size


def test_real_photo_matches_opencv_in_rgb_order(photos_dir: Path) -> None:
    """An independent decoder (OpenCV, BGR) agrees once its channels are reversed; the wrong order does not."""
    path = photos_dir / "couple.jpg"
    ours = load_image(path).rgb.astype(np.int16)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR).astype(np.int16)
    assert np.abs(ours - bgr[:, :, ::-1]).mean() < 2.0  # two JPEG decoders: tiny rounding differences
    assert np.abs(ours - bgr).mean() > 10.0  # a warm photo: R and B differ a lot


def test_every_source_kind_gives_the_same_pixels(photos_dir: Path) -> None:
    path = photos_dir / "landscape.jpg"
    data = path.read_bytes()
    ref = load_image(str(path))
    with Image.open(path) as pil:
        from_pil = load_image(pil)
    arr_rgb = ref.rgb.copy()
    for img in (
        load_image(path),
        load_image(data),
        load_image(bytearray(data)),
        load_image(memoryview(data)),
        from_pil,
        load_image(arr_rgb, color_order="rgb"),
        load_image(np.ascontiguousarray(arr_rgb[:, :, ::-1]), color_order="bgr"),
    ):
        np.testing.assert_array_equal(img.rgb, ref.rgb)
    assert load_image(data).source == "<bytes>"
    assert load_image(arr_rgb, color_order="rgb").source == "<array>"
    assert load_image(data, source="cam-3").source == "cam-3"
    assert from_pil.source == str(path)


def test_result_never_aliases_the_input() -> None:
    arr = np.zeros((4, 5, 3), np.uint8)
    img = load_image(arr, color_order="rgb")
    img.rgb[:] = 9
    assert arr.max() == 0


def test_loaded_image_is_frozen(photos_dir: Path) -> None:
    img = load_image(photos_dir / "landscape.jpg")
    with pytest.raises(AttributeError):
        img.width = 3  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ bad files


# These check ``.message``: ``str(error)`` also holds the path, and pytest's tmp_path names hold the test's name.


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert e.value.message == "file not found"
    assert e.value.source == str(path)
    assert str(e.value) == f"{path}: file not found"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as e:
        load_image(tmp_path)
    assert e.value.message == "is a directory, not an image file"
    assert e.value.source == str(tmp_path)


def test_empty_file_and_empty_bytes(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as e:
        load_image(write(tmp_path, "x.jpg", b""))
    assert e.value.message == "file is empty (0 bytes)"
    with pytest.raises(ImageError) as e:
        load_image(b"")
    assert e.value.message == "no image data (0 bytes)" and e.value.source == "<bytes>"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.jpg", b"this is not a picture\n" * 20)
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert e.value.message == "not an image, or in a format that cannot be read"
    assert e.value.source == str(path)


def test_truncated_real_jpeg_raises(photos_dir: Path, tmp_path: Path) -> None:
    data = (photos_dir / "couple.jpg").read_bytes()
    path = write(tmp_path, "half.jpg", data[: len(data) // 2])
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert e.value.message == "image data is truncated (the file ends early)"
    assert e.value.source == str(path)
    # Cut near the end (the last 200 bytes missing): still refused.
    with pytest.raises(ImageError) as e:
        load_image(data[:-200])
    assert "truncated" in e.value.message


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM"])
def test_truncated_other_formats_raise(fmt: str) -> None:
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's TIFF reader also warns "Truncated File Read"
        with pytest.raises(ImageError):
            load_image(data[: len(data) // 2])


def test_huge_header_is_rejected_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.png", png_with_header_size(30_000, 30_000))
    assert path.stat().st_size < 200
    start = time.perf_counter()
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert time.perf_counter() - start < 1.0  # 2.7 GB were never allocated
    assert e.value.message == "image has 900,000,000 pixels, over the limit of 80,000,000 (max_pixels)"
    assert e.value.source == str(path)


def test_pillow_bomb_limit_is_reported_as_such() -> None:
    # max_pixels raised above Pillow's own guard: the message must name Pillow's limit, not max_pixels.
    with pytest.raises(ImageError) as e:
        load_image(png_with_header_size(30_000, 30_000), max_pixels=10**9)
    assert e.value.message.startswith("image has 900,000,000 pixels, over Pillow's limit of ")
    assert "MAX_IMAGE_PIXELS" in e.value.message


def test_max_pixels_is_checked_from_the_header(tmp_path: Path) -> None:
    # A header claiming 10,000 x 9,000 (90 MP; Pillow only warns at this size) over a few bytes of data:
    # refused by the size check; had it been decoded, the data would have been found truncated instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match=r"10000x9000 = 90,000,000 pixels, over the limit of 80,000,000"):
            load_image(png_with_header_size(10_000, 9_000))
    # A lower limit applies to real images and arrays; the boundary itself is allowed.
    data = encode(Image.new("RGB", (100, 50), (1, 2, 3)), "PNG")
    assert load_image(data, max_pixels=5000).width == 100
    with pytest.raises(ImageError, match="4,999"):
        load_image(data, max_pixels=4999)
    with pytest.raises(ImageError, match="limit"):
        load_image(np.zeros((50, 100), np.uint8), max_pixels=4999)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "80M"])
def test_max_pixels_must_be_positive_int(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_pixels"):
        load_image(np.zeros((2, 2), np.uint8), max_pixels=bad)  # type: ignore[arg-type]


def test_unsupported_source_type() -> None:
    with pytest.raises(ImageError, match="cannot load an image from a int"):
        load_image(42)


# ----------------------------------------------------------------------------------------- modes and formats


def test_16bit_grey_png_scales_to_8bit(tmp_path: Path) -> None:
    values = np.array([[0, 1, 128, 129, 257, 32767], [32768, 65278, 65279, 65534, 65535, 514]], np.uint16)
    path = tmp_path / "g16.png"
    assert cv2.imwrite(str(path), values)
    with Image.open(path) as pil:
        assert pil.mode.startswith("I")  # really a 16-bit file
    img = load_image(path)
    expected = np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(img.rgb[:, :, 0], expected)
    np.testing.assert_array_equal(img.rgb[:, :, 0], img.rgb[:, :, 2])


def test_16bit_grey_tiff_and_rgb_png(tmp_path: Path) -> None:
    ramp = (np.arange(64 * 64, dtype=np.uint32) * 16).astype(np.uint16).reshape(64, 64)
    tif = tmp_path / "g16.tif"
    assert cv2.imwrite(str(tif), ramp)
    got = load_image(tif).rgb[:, :, 1].astype(int)
    assert np.abs(got - ramp.astype(float) * 255 / 65535).max() <= 0.5 + 1e-9
    # 16-bit RGB (written by OpenCV as BGR): red ramp, constant green, blue zero.
    bgr = np.zeros((8, 8, 3), np.uint16)
    bgr[:, :, 2] = np.linspace(0, 65535, 64).reshape(8, 8).astype(np.uint16)
    bgr[:, :, 1] = 40000
    png = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(png), bgr)
    rgb = load_image(png).rgb.astype(int)
    assert np.abs(rgb[:, :, 0] - bgr[:, :, 2] / 257).max() <= 1.0  # Pillow keeps the high byte: within 1
    assert np.abs(rgb[:, :, 1] - 40000 / 257).max() <= 1.0
    assert rgb[:, :, 2].max() == 0


def test_rgba_png_composites_on_white() -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (200, 10, 30, 255)  # opaque: its own colour
    rgba[0, 1] = (0, 0, 0, 0)  # transparent black: white
    rgba[0, 2] = (0, 0, 0, 128)  # half black on white: mid grey
    rgba[1, :] = (255, 0, 0, 64)
    img = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(img.rgb[0, 0]) == (200, 10, 30)
    assert tuple(img.rgb[0, 1]) == (255, 255, 255)
    assert tuple(img.rgb[0, 2]) == (127, 127, 127)
    assert tuple(img.rgb[1, 0]) == (255, 191, 191)
    # The same rule for 4-channel arrays (BGRA from OpenCV).
    from_array = load_image(rgba[:, :, [2, 1, 0, 3]], color_order="bgr")
    np.testing.assert_array_equal(from_array.rgb, img.rgb)


def test_la_and_palette_transparency_composite_on_white() -> None:
    la = Image.fromarray(np.array([[[50, 255], [50, 0]]], np.uint8), "LA")
    img = load_image(encode(la, "PNG"))
    assert img.rgb[0].tolist() == [[50, 50, 50], [255, 255, 255]]
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    pal.putdata([0, 1])
    pal.info["transparency"] = 0
    img = load_image(encode(pal, "PNG", transparency=0))
    assert img.rgb[0].tolist() == [[255, 255, 255], [255, 0, 0]]
    # A palette image without transparency keeps its colours.
    del pal.info["transparency"]
    assert load_image(encode(pal, "PNG")).rgb[0].tolist() == [[0, 0, 255], [255, 0, 0]]


def test_cmyk_jpeg_converts_to_rgb() -> None:
    cmyk = Image.new("RGB", (32, 16), (230, 20, 20)).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as pil:
        assert pil.mode == "CMYK"
    rgb = load_image(data).rgb.astype(int)
    assert np.abs(rgb - np.array([230, 20, 20])).max() <= 6


def test_grey_png_is_replicated_to_three_channels() -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    img = load_image(encode(Image.fromarray(grey, "L"), "PNG"))
    for c in range(3):
        np.testing.assert_array_equal(img.rgb[:, :, c], grey)
    one_bit = load_image(encode(Image.fromarray(grey > 100), "PNG"))
    assert set(np.unique(one_bit.rgb).tolist()) == {0, 255}


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = (255, 0, 0)  # left half red, right half black
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img = load_image(encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes()))
    assert (img.width, img.height) == (40, 60)
    assert img.rgb[5, 20, 0] > 200 and img.rgb[5, 20, 2] < 60  # the red half is now on top
    assert img.rgb[55, 20].max() < 60
    exif[0x0112] = 3  # upside down
    img = load_image(encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes()))
    assert (img.width, img.height) == (60, 40)
    assert img.rgb[20, 55, 0] > 200 and img.rgb[20, 5].max() < 60  # red moved to the right


def test_first_frame_of_animated_gif_and_multipage_tiff() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    tif = encode(frames[1], "TIFF", save_all=True, append_images=[frames[2]])
    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 3
    assert tuple(load_image(gif).rgb[0, 0]) == (255, 0, 0)
    assert tuple(load_image(tif).rgb[0, 0]) == (0, 255, 0)


def test_pil_image_is_not_modified(photos_dir: Path) -> None:
    pil = Image.new("RGBA", (5, 4), (10, 20, 30, 0))
    img = load_image(pil)
    assert pil.mode == "RGBA" and pil.size == (5, 4) and pil.getpixel((0, 0)) == (10, 20, 30, 0)
    assert tuple(img.rgb[0, 0]) == (255, 255, 255)
    assert img.source == "<PIL.Image>"


# ---------------------------------------------------------------------------------------------------- arrays


def test_numpy_bgr_and_rgb_swap_channels(photos_dir: Path) -> None:
    bgr = cv2.imread(str(photos_dir / "couple.jpg"), cv2.IMREAD_COLOR)
    as_bgr = load_image(bgr, color_order="bgr").rgb
    as_rgb = load_image(bgr, color_order="RGB").rgb
    np.testing.assert_array_equal(as_bgr, as_rgb[:, :, ::-1])
    np.testing.assert_array_equal(as_bgr, bgr[:, :, ::-1])
    assert not np.array_equal(as_bgr, as_rgb)


@pytest.mark.parametrize("channels", [3, 4])
def test_numpy_colour_array_without_order_raises(channels: int) -> None:
    with pytest.raises(ConfigError, match="color_order"):
        load_image(np.zeros((4, 4, channels), np.uint8))


def test_color_order_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'rgb' or 'bgr'"):
        load_image(np.zeros((4, 4, 3), np.uint8), color_order="rgba")
    with pytest.raises(ConfigError, match="only to numpy arrays"):
        load_image(b"abc", color_order="bgr")
    # Grey arrays need none and ignore one.
    grey = np.full((3, 3), 7, np.uint8)
    np.testing.assert_array_equal(load_image(grey).rgb, load_image(grey, color_order="bgr").rgb)


def test_float_and_uint16_arrays_scale() -> None:
    f = np.array([[0.0, 0.5, 1.0, 0.25]], np.float32)
    assert load_image(f).rgb[0, :, 0].tolist() == [0, 128, 255, 64]
    u = np.array([[0, 257, 65535, 32768]], np.uint16)
    assert load_image(u).rgb[0, :, 0].tolist() == [0, 1, 255, 128]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((4, 4), 255.0), r"\[0, 1\].*uint8"),
        (np.full((4, 4), -0.5, np.float32), r"\[0, 1\]"),
        (np.array([[0.5, np.nan]]), "NaN"),
        (np.zeros((4, 4), np.int32), "dtype int32"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros(16, np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4), np.uint8), "no pixels"),
    ],
)
def test_bad_arrays_raise_image_error(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message) as e:
        load_image(array, color_order="rgb")
    assert e.value.source == "<array>"


_DTYPES = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64])
_CHANNELS = st.sampled_from([None, 1, 3, 4])


def _elements(dtype: type) -> st.SearchStrategy:
    if dtype in (np.float32, np.float64):
        return st.floats(0.0, 1.0, width=32 if dtype is np.float32 else 64)
    return st.integers(0, int(np.iinfo(dtype).max))


def _expected_8bit(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.int64)
    if a.dtype == np.uint16:
        return np.floor(a.astype(np.float64) * 255 / 65535 + 0.5).astype(np.int64)
    return np.rint(a.astype(np.float64) * 255).astype(np.int64)


@st.composite
def image_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(_DTYPES)
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(_CHANNELS)
    shape = (h, w) if c is None else (h, w, c)
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=image_arrays(), order=st.sampled_from(["rgb", "bgr"]))
def test_arrays_of_any_shape_and_dtype(a: np.ndarray, order: str) -> None:
    img = load_image(a, color_order=order)
    h, w = a.shape[:2]
    assert img.rgb.shape == (h, w, 3) and img.rgb.dtype == np.uint8 and img.rgb.flags.c_contiguous
    assert (img.width, img.height) == (w, h)
    got = img.rgb.astype(np.int64)
    v = _expected_8bit(a)
    if a.ndim == 2 or a.shape[2] == 1:
        g = v.reshape(h, w)
        for c in range(3):
            np.testing.assert_array_equal(got[:, :, c], g)
        return
    rgb = v[:, :, :3] if order == "rgb" else v[:, :, 2::-1]
    if a.shape[2] == 3:
        np.testing.assert_array_equal(got, rgb)
    else:
        alpha = v[:, :, 3:4]
        expected = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64, np.complex64, np.bool_]),
    shape=st.sampled_from([(3, 3), (3, 3, 3), (5, 2, 4)]),
)
def test_unsupported_dtypes_raise(dtype: type, shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match="dtype"):
        load_image(np.zeros(shape, dtype), color_order="bgr")
