"""Pixel work on annotated images: pixelating a region (the ``blur`` of :func:`~emolens.draw.annotate`) and
saving an RGB image as JPEG or PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emolens.errors import ConfigError, ImageError


def pixelate(region: np.ndarray, blocks: int = 8) -> np.ndarray:
    """Pixelate an image region into about ``blocks`` x ``blocks`` cells; a ready ``blur`` for :func:`annotate`.

    Parameters
    ----------
    region : numpy.ndarray
        ``uint8`` ``[h, w, 3]`` pixels.
    blocks : int, default 8
        Cells along each side (fewer cells hide more).

    Returns
    -------
    numpy.ndarray
        An array of the same shape and dtype.
    """
    h, w = region.shape[:2]
    small = cv2.resize(region, (max(1, min(blocks, w)), max(1, min(blocks, h))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def save_image(rgb: np.ndarray, path: str | Path, *, quality: int = 95) -> None:
    """Write an RGB image as JPEG or PNG, chosen by the file extension.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` ``[H, W, 3]`` RGB.
    path : str or pathlib.Path
        Output file ending in ``.jpg``, ``.jpeg`` or ``.png`` (any case); its folder must exist.
    quality : int, default 95
        JPEG quality, 1-100 (ignored for PNG).

    Raises
    ------
    ImageError
        Unsupported extension, encoding failure, or the file cannot be written. One line, with the path.
    ConfigError
        ``rgb`` is not a uint8 ``[H, W, 3]`` array.
    """
    check_rgb(rgb)
    name = str(path)
    ext = Path(path).suffix.lower()
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(min(100, max(1, quality)))]
    elif ext == ".png":
        params = []
    else:
        raise ImageError(f"cannot save as {ext or 'a file without extension'!r}; use .jpg, .jpeg or .png", name)
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    except cv2.error as e:
        raise ImageError(f"could not encode the image ({' '.join(str(e).split())[:80]})", name) from None
    if not ok:
        raise ImageError("could not encode the image", name)
    try:
        Path(path).write_bytes(buf.tobytes())
    except OSError as e:
        raise ImageError(f"cannot write file: {e.strerror or e}", name) from None


def check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ConfigError(f"expected an RGB uint8 array [H, W, 3], got {got}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ConfigError(f"the image has no pixels (shape {rgb.shape})")
