"""The one image loader: every image that enters emolens goes through :func:`load_image`.

Why Pillow decodes (and not OpenCV)
-----------------------------------
- **Size before pixels.** ``PIL.Image.open`` reads only the header, so the pixel count is checked against
  ``max_pixels`` before a byte of pixel data is decoded; a 30,000 x 30,000 PNG costs a few kB, not GBs.
  OpenCV's only guard is a process-wide environment variable.
- **Strict on damage.** Pillow raises ``OSError("image file is truncated")`` when the data ends early
  (JPEG, PNG, TIFF, GIF, WebP, BMP, PPM). OpenCV returns ``None`` for every failure alike (older versions also
  returned a half-grey JPEG with only a warning on stderr), so the reason is lost.
- **Modes and metadata.** Pillow reports the real mode (``1``, ``L``, ``LA``, ``P`` + transparency, ``I;16``,
  ``CMYK``, ...), applies EXIF orientation (``ImageOps.exif_transpose``) and exposes frames, so each case is
  converted on purpose instead of guessed.

OpenCV stays the tool for drawing and encoding (:mod:`emolens.draw`) and for video.

Conversion rules (the same for files, bytes, PIL images and arrays)
-------------------------------------------------------------------
- The result is always RGB ``uint8``, ``[H, W, 3]``, C-contiguous, and a new array (the input is never aliased).
- EXIF orientation is applied, so ``width``/``height`` are those of the upright image.
- Transparency (RGBA, LA, PA, P or L/RGB with a ``transparency`` entry, 4-channel arrays) is **composited on
  white**: transparent pixels often hold arbitrary colours (usually black), and white is what a viewer shows.
- Grey (``1``, ``L``, ``I;16``, 2-D arrays, ``[H, W, 1]`` arrays) is replicated to three channels.
- 16-bit data is scaled to 8 bits as ``round(v * 255 / 65535)``. Pillow itself reduces 16-bit RGB/RGBA
  PNG/TIFF to 8 bits on open by keeping the high byte; the two rules differ by at most one level. Pillow mode
  ``I`` (e.g. 16-bit PGM) is taken as 16-bit and clipped to ``[0, 65535]``.
- Float data (arrays, Pillow mode ``F``) must lie in ``[0, 1]``; it is scaled by 255 and rounded.
- CMYK (and YCbCr, ...) is converted by Pillow's plain formula; embedded ICC profiles are not applied.
- Animated GIF/WebP and multi-page TIFF: the first frame.

Limits
------
Pillow's own decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 MP for a warning and 179 MP
for an error) still applies; raising ``max_pixels`` above it needs that raised too. Pillow's warning is not
printed: the loader reports an image over ``max_pixels`` in its own one line. Only regular files are read: a
named pipe, a device or a socket is refused without waiting on it (``ImageError``). If a program sets
``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` globally, Pillow pads truncated images instead of raising, and
this loader cannot tell.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emolens.errors import ConfigError, ImageError

__all__ = ["DEFAULT_MAX_PIXELS", "LoadedImage", "load_image"]

DEFAULT_MAX_PIXELS = 80_000_000

_EXIF_ORIENTATION = 0x0112
_WARNINGS_LOCK = threading.Lock()  # warnings.catch_warnings changes process-wide state
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image, ready for the detector.

    Attributes
    ----------
    rgb : numpy.ndarray
        ``uint8`` array ``[height, width, 3]``, RGB order, C-contiguous, owned by this object.
    source : str
        What the image came from, for messages and results (a path, ``"<bytes>"``, ``"<array>"``, ...).
    width, height : int
        Size in pixels of the upright image (after EXIF orientation).
    """

    rgb: np.ndarray
    source: str
    width: int
    height: int


def load_image(
    src: Any,
    *,
    color_order: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    source: str | None = None,
) -> LoadedImage:
    """Load an image from a path, encoded bytes, a numpy array or a PIL image, as RGB ``uint8``.

    Parameters
    ----------
    src : str, os.PathLike, bytes, bytearray, memoryview, numpy.ndarray or PIL.Image.Image
        A file path; the encoded bytes of a file; an array ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or
        ``[H, W, 4]`` of ``uint8``, ``uint16`` or floats in ``[0, 1]``; or a PIL image (its current frame is
        used and the object is not modified).
    color_order : {"rgb", "bgr"}, optional
        Channel order of a 3- or 4-channel array; required for them (OpenCV arrays are ``"bgr"``). Ignored
        for grey arrays; an error for any other kind of ``src``, which carries its own colour information.
    max_pixels : int, default 80,000,000
        Largest accepted ``width * height``. Files are checked from their header, before decoding.
    source : str, optional
        Name used in messages and in ``LoadedImage.source``; defaults to the path, ``"<bytes>"``,
        ``"<array>"``, or the PIL image's file name (``"<PIL.Image>"`` if it has none).

    Returns
    -------
    LoadedImage
        The upright RGB image and its size. See the module docstring for the conversion rules.

    Raises
    ------
    ImageError
        The file is missing, a directory, empty, truncated, corrupt, not an image, too large, or of an
        unsupported kind (array shape, dtype or value range). One line, with the source.
    ConfigError
        ``color_order`` is missing for a 3/4-channel array, is not "rgb"/"bgr", or is given for a non-array
        ``src``; or ``max_pixels`` is not a positive integer.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ConfigError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    order = _check_color_order(color_order)

    if isinstance(src, np.ndarray):
        name = source or "<array>"
        rgb = _array_to_rgb(src, order, max_pixels, name)
    else:
        if order is not None:
            raise ConfigError("color_order applies only to numpy arrays; files and PIL images carry their own")
        if isinstance(src, (str, os.PathLike)):
            name = source or os.fsdecode(src)
            rgb = _load_path(src, max_pixels, name)
        elif isinstance(src, (bytes, bytearray, memoryview)):
            name = source or "<bytes>"
            if len(src) == 0:
                raise ImageError("no image data (0 bytes)", name)
            rgb = _decode_stream(io.BytesIO(src), max_pixels, name)
        elif isinstance(src, Image.Image):
            name = source or str(getattr(src, "filename", "") or "<PIL.Image>")
            rgb = _decode_pil(src, max_pixels, name)
        else:
            raise ImageError(
                f"cannot load an image from a {type(src).__name__}; give a path, bytes, a numpy array or a PIL image",
                source or "<input>",
            )
    height, width = rgb.shape[:2]
    return LoadedImage(rgb=rgb, source=name, width=int(width), height=int(height))


# --------------------------------------------------------------------------------------------- files and bytes


def _load_path(path: str | os.PathLike[str], max_pixels: int, name: str) -> np.ndarray:
    p = Path(path)
    if not os.fspath(path):
        raise ImageError("empty path", "<path>")
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; only regular files are read.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ImageError("file not found", name) from None
    except IsADirectoryError:
        raise ImageError("is a directory, not an image file", name) from None
    except PermissionError:
        # On Windows opening a directory also lands here.
        if p.is_dir():
            raise ImageError("is a directory, not an image file", name) from None
        raise ImageError("cannot read file: permission denied", name) from None
    except OSError as e:
        raise ImageError(f"cannot open file: {e.strerror or e}", name) from None
    try:
        st = os.fstat(fd)
    except OSError as e:
        os.close(fd)
        raise ImageError(f"cannot read file: {e.strerror or e}", name) from None
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise ImageError("is a directory, not an image file", name)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ImageError(f"not a regular file ({_file_kind(st.st_mode)}); only files are read", name)
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    with open(fd, "rb") as f:
        if st.st_size == 0:
            raise ImageError("file is empty (0 bytes)", name)
        return _decode_stream(f, max_pixels, name)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a file"


def _decode_stream(fp: Any, max_pixels: int, name: str) -> np.ndarray:
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            # Pillow warns on stderr from 89 MP on; the size is checked (and reported in one line) below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except UnidentifiedImageError:
        raise ImageError("not an image, or in a format that cannot be read", name) from None
    except Image.DecompressionBombError as e:
        # Pillow refuses before we see the size; its message holds the pixel count.
        m = re.search(r"\((\d+) pixels\)", str(e))
        pixels = int(m.group(1)) if m else None
        if pixels is not None and pixels > max_pixels:
            raise ImageError(
                f"image has {pixels:,} pixels, over the limit of {max_pixels:,} (max_pixels)", name
            ) from None
        raise ImageError(
            f"image has {'too many' if pixels is None else f'{pixels:,}'} pixels, over Pillow's limit of "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} (PIL.Image.MAX_IMAGE_PIXELS x 2)",
            name,
        ) from None
    except Exception as e:  # Pillow raises many types on malformed headers
        raise ImageError(f"cannot read image header ({_why(e)})", name) from None
    with im:
        return _decode_pil(im, max_pixels, name)


def _decode_pil(im: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    w, h = im.size
    _check_pixels(w, h, max_pixels, name)
    if w <= 0 or h <= 0:
        raise ImageError(f"image has no pixels ({w}x{h})", name)
    try:
        im.load()  # Pillow's default is strict: truncated data raises OSError here.
    except OSError as e:
        if "truncated" in str(e):
            raise ImageError("image data is truncated (the file ends early)", name) from None
        raise ImageError(f"corrupt image data ({_why(e)})", name) from None
    except Exception as e:  # Pillow decoders raise many types on corrupt data
        raise ImageError(f"corrupt image data ({_why(e)})", name) from None
    im = _upright(im)
    try:
        return _pil_pixels_to_rgb(im, name)
    except ImageError:
        raise
    except Exception as e:  # conversion of unusual modes
        raise ImageError(f"cannot convert image mode {im.mode} to RGB ({_why(e)})", name) from None


def _upright(im: Image.Image) -> Image.Image:
    """Apply EXIF orientation; a damaged EXIF block is ignored (the pixels are fine)."""
    try:
        if im.getexif().get(_EXIF_ORIENTATION, 1) in (2, 3, 4, 5, 6, 7, 8):
            return ImageOps.exif_transpose(im)
    except Exception:  # corrupt EXIF must not make a good image unreadable
        pass
    return im


def _pil_pixels_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(_scale_16bit(np.asarray(im)))
    if mode == "F":
        return _grey_to_rgb(_scale_float(np.asarray(im), name))
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return _composite_on_white(np.asarray(im.convert("RGBA")))
    if mode == "RGB":
        return np.array(im, dtype=np.uint8, order="C")
    if mode == "L":
        return _grey_to_rgb(np.asarray(im))
    return np.array(im.convert("RGB"), dtype=np.uint8, order="C")  # 1, P, CMYK, YCbCr, ...


def _check_pixels(w: int, h: int, max_pixels: int, name: str) -> None:
    if w * h > max_pixels:
        raise ImageError(f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} (max_pixels)", name)


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------------- arrays


def _check_color_order(color_order: str | None) -> str | None:
    if color_order is None:
        return None
    if not isinstance(color_order, str) or color_order.lower() not in ("rgb", "bgr"):
        raise ConfigError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    return color_order.lower()


def _array_to_rgb(a: np.ndarray, order: str | None, max_pixels: int, name: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"array shape {a.shape} is not an image; expected HxW, HxWx1, HxWx3 or HxWx4", name)
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"array has no pixels (shape {a.shape})", name)
    _check_pixels(w, h, max_pixels, name)
    if a.ndim == 3 and order is None:
        raise ConfigError(
            f"a {a.shape[2]}-channel array needs color_order='rgb' or 'bgr' (OpenCV arrays are 'bgr')", name
        )
    if a.dtype == np.uint8:
        u8 = a
    elif a.dtype == np.uint16:
        u8 = _scale_16bit(a)
    elif np.issubdtype(a.dtype, np.floating):
        u8 = _scale_float(a, name)
    else:
        raise ImageError(f"array dtype {a.dtype} is not supported; use uint8, uint16 or float in [0, 1]", name)
    if u8.ndim == 2:
        return _grey_to_rgb(u8)
    if order == "bgr":
        u8 = u8[:, :, [2, 1, 0, 3]] if u8.shape[2] == 4 else u8[:, :, ::-1]
    if u8.shape[2] == 4:
        return _composite_on_white(u8)
    return np.array(u8, dtype=np.uint8, order="C")  # always a copy: the caller's array is never aliased


def _scale_16bit(a: np.ndarray) -> np.ndarray:
    v = np.clip(a.astype(np.int64), 0, 65535)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)


def _scale_float(a: np.ndarray, name: str) -> np.ndarray:
    v = a.astype(np.float64)
    if not np.isfinite(v).all():
        raise ImageError("float image has NaN or infinite values", name)
    lo, hi = float(v.min()), float(v.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = "; pass uint8 for 0..255 data" if hi > 1.5 else ""
        raise ImageError(f"float image values must lie in [0, 1], found {lo:g}..{hi:g}{hint}", name)
    return np.rint(np.clip(v, 0.0, 1.0) * 255.0).astype(np.uint8)


def _grey_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(np.asarray(g, dtype=np.uint8)[:, :, None], 3, axis=2))


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[:, :, :3].astype(np.uint16)
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))
