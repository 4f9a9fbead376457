"""Annotated images: face boxes, the five landmarks and "label 87%" tags, drawn with OpenCV.

Sizes scale with the image (the square root of its area), so a tag is readable on a 640 px photo and on a
4,000 px one alike. Each emotion has its own colour (:data:`EMOTION_COLORS`); the tag's text is black or white,
whichever reads better on that colour. OpenCV's Hershey fonts are ASCII only, so other characters in an
identity name are transliterated where possible (``é`` -> ``e``) and dropped otherwise.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from emolens.errors import ConfigError, ImageError
from emolens.types import Face

__all__ = ["EMOTION_COLORS", "annotate", "pixelate", "save_image"]

#: RGB colour of each emotion's box and tag; other labels get :data:`OTHER_COLOR`.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (220, 40, 40),
    "disgust": (110, 160, 30),
    "fear": (150, 70, 210),
    "happy": (255, 205, 0),
    "sad": (40, 110, 230),
    "surprise": (255, 130, 0),
    "neutral": (190, 190, 190),
    "contempt": (205, 80, 160),
}
OTHER_COLOR: tuple[int, int, int] = (0, 215, 215)

# left eye, right eye, nose, mouth left, mouth right (emolens.types.LANDMARK_NAMES)
_LANDMARK_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 255, 0),
    (0, 255, 0),
    (255, 0, 255),
    (0, 160, 255),
    (0, 160, 255),
)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(
    rgb: np.ndarray,
    faces: Sequence[Face],
    *,
    blur: Callable[[np.ndarray], np.ndarray] | None = None,
    blur_if: Callable[[Face], bool] | None = None,
) -> np.ndarray:
    """Draw faces on a copy of an image: box, landmarks and an "emotion NN%" tag per face.

    Parameters
    ----------
    rgb : numpy.ndarray
        The image, ``uint8`` ``[H, W, 3]`` RGB (as from :func:`emolens.io.load_image`). Not modified.
    faces : sequence of Face
        Faces in the image's pixel coordinates (boxes may reach outside it; they are clipped).
    blur : callable, optional
        Called with the pixels inside each face box (a copy, ``[h, w, 3]`` uint8) before anything is drawn;
        must return an array of the same shape, which replaces them (e.g. :func:`pixelate` to hide identities).
    blur_if : callable, optional
        Which faces ``blur`` applies to (e.g. ``lambda f: f.identity == "unknown"``); default all.

    Returns
    -------
    numpy.ndarray
        A new ``uint8`` ``[H, W, 3]`` RGB array.

    Raises
    ------
    ConfigError
        ``rgb`` is not a uint8 ``[H, W, 3]`` array, or ``blur`` returns an array of another shape.
    """
    _check_rgb(rgb)
    out = np.array(rgb, dtype=np.uint8, order="C")
    h, w = out.shape[:2]
    scale = math.sqrt(h * w)
    thickness = max(1, round(scale / 500))
    font_scale = max(0.35, scale / 1400)
    text_thickness = max(1, round(font_scale * 1.5))
    radius = thickness + 1

    boxes = [_clip_box(f, w, h) for f in faces]
    if blur is not None:
        for face, (x1, y1, x2, y2) in zip(faces, boxes, strict=True):
            if x2 > x1 and y2 > y1 and (blur_if is None or blur_if(face)):
                region = out[y1:y2, x1:x2].copy()
                replaced = np.asarray(blur(region))
                if replaced.shape != region.shape:
                    raise ConfigError(f"blur returned shape {replaced.shape} for a region of shape {region.shape}")
                out[y1:y2, x1:x2] = np.clip(replaced, 0, 255).astype(np.uint8)

    for face, (x1, y1, x2, y2) in zip(faces, boxes, strict=True):
        cv2.rectangle(out, (x1, y1), (x2, y2), _color(face.label), thickness, cv2.LINE_AA)
        if face.landmarks is not None:
            for (px, py), color in zip(face.landmarks.points, _LANDMARK_COLORS, strict=False):
                if math.isfinite(px) and math.isfinite(py):  # partial landmarks leave unmeasured points NaN
                    cv2.circle(out, (round(px), round(py)), radius, color, -1, cv2.LINE_AA)
    # Tags last, so no box or landmark covers one.
    for face, box in zip(faces, boxes, strict=True):
        _draw_tag(out, _tag_text(face), box, _color(face.label), font_scale, text_thickness)
    return out


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
    _check_rgb(rgb)
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


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ConfigError(f"expected an RGB uint8 array [H, W, 3], got {got}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ConfigError(f"the image has no pixels (shape {rgb.shape})")


def _clip_box(face: Face, w: int, h: int) -> tuple[int, int, int, int]:
    b = face.box
    x1 = min(max(round(b.x1), 0), w - 1)
    y1 = min(max(round(b.y1), 0), h - 1)
    x2 = min(max(round(b.x2), 0), w - 1)
    y2 = min(max(round(b.y2), 0), h - 1)
    return x1, y1, x2, y2


def _color(label: str) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(label, OTHER_COLOR)


def _tag_text(face: Face) -> str:
    text = f"{face.label} {round(100 * face.emotions.confidence)}%"
    if face.identity:
        name = unicodedata.normalize("NFKD", face.identity).encode("ascii", "ignore").decode("ascii").strip()
        text = f"{name or '?'}: {text}"
    return text


def _draw_tag(
    img: np.ndarray,
    text: str,
    box: tuple[int, int, int, int],
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    h, w = img.shape[:2]
    (tw, th), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    tag_w, tag_h = tw + 2 * pad, th + baseline + 2 * pad
    x1, y1, _, y2 = box
    left = min(max(0, x1), max(0, w - tag_w))
    top = y1 - tag_h  # above the box ...
    if top < 0:
        top = y2 + 1 if y2 + 1 + tag_h <= h else max(0, y1)  # ... else below it, else inside its top
    cv2.rectangle(img, (left, top), (left + tag_w - 1, top + tag_h - 1), color, -1)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(img, text, (left + pad, top + pad + th), _FONT, font_scale, ink, thickness, cv2.LINE_AA)
