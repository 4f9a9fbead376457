"""Annotated images: face boxes, the five landmarks and "label 87%" tags, drawn with OpenCV.

Tags never overlap one another: each is placed where it covers the fewest faces (:func:`draw_faces` returns
the rectangles). Faces smaller than a tag keep a box in their emotion's colour only, with a legend, so a crowd of
54 small faces stays readable.

Sizes scale with the image (the square root of its area), so a tag is readable on a 640 px photo and on a
4,000 px one alike. Each emotion has its own colour (:data:`EMOTION_COLORS`); the tag's text is black or white,
whichever reads better on that colour. OpenCV's Hershey fonts are ASCII only, so other characters in an
identity name are transliterated where possible (``é`` -> ``e``) and dropped otherwise.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emolens.errors import ConfigError, ImageError
from emolens.types import Face

__all__ = ["EMOTION_COLORS", "Annotation", "annotate", "draw_faces", "pixelate", "save_image"]

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
_TEXT_HEIGHT_AT_1 = cv2.getTextSize("Ag", _FONT, 1.0, 1)[0][1]  # text height in pixels at font scale 1


@dataclass(frozen=True)
class Annotation:
    """What :func:`draw_faces` drew.

    Attributes
    ----------
    image : numpy.ndarray
        The annotated copy, ``uint8`` ``[H, W, 3]`` RGB.
    labels : tuple of (int, int, int, int)
        The rectangle of each tag drawn, ``(x1, y1, x2, y2)`` in pixels, ``x2`` and ``y2`` exclusive; no two
        overlap, and none overlaps the legend.
    labelled : tuple of int
        For each rectangle in ``labels``, the position in ``faces`` of the face it names.
    legend : (int, int, int, int) or None
        The colour key drawn when some faces have no tag (small faces, or no free room for one).
    """

    image: np.ndarray
    labels: tuple[tuple[int, int, int, int], ...]
    labelled: tuple[int, ...]
    legend: tuple[int, int, int, int] | None = None


def annotate(
    rgb: np.ndarray,
    faces: Sequence[Face],
    *,
    blur: Callable[[np.ndarray], np.ndarray] | None = None,
    blur_if: Callable[[Face], bool] | None = None,
    landmarks: bool = True,
    label_size: float | None = None,
    small_face: float | None = None,
) -> np.ndarray:
    """Draw faces on a copy of an image: box, landmarks and an "emotion NN%" tag per face.

    The image of :func:`draw_faces`; see there for the parameters.

    Returns
    -------
    numpy.ndarray
        A new ``uint8`` ``[H, W, 3]`` RGB array.
    """
    return draw_faces(
        rgb, faces, blur=blur, blur_if=blur_if, landmarks=landmarks, label_size=label_size, small_face=small_face
    ).image


def draw_faces(
    rgb: np.ndarray,
    faces: Sequence[Face],
    *,
    blur: Callable[[np.ndarray], np.ndarray] | None = None,
    blur_if: Callable[[Face], bool] | None = None,
    landmarks: bool = True,
    label_size: float | None = None,
    small_face: float | None = None,
) -> Annotation:
    """Draw faces on a copy of an image, placing the tags so that none overlaps another.

    Each face gets a box in its emotion's colour. A face at least ``small_face`` pixels across also gets its
    five landmarks and an "emotion NN%" tag, placed next to the box where it covers the fewest other faces
    (above, below, beside, then further out with a thin leader line to its box). Smaller faces, and faces
    for which no free room is left, keep the box and its colour only; a legend then tells the colours apart
    and counts those faces. Larger faces are placed first.

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
    landmarks : bool, default True
        Draw the five landmark dots (never on small faces).
    label_size : float, optional
        Height of the tag text in pixels; default scaled with the image (the square root of its area / 60,
        at least 8 px).
    small_face : float, optional
        Faces whose larger side is under this many pixels get a box and colour only; default the height of a tag.

    Returns
    -------
    Annotation
        The image, the tag rectangles and the legend's rectangle.

    Raises
    ------
    ConfigError
        ``rgb`` is not a uint8 ``[H, W, 3]`` array, ``blur`` returns an array of another shape, or ``label_size``
        or ``small_face`` is not a positive number.
    """
    _check_rgb(rgb)
    for name, value in (("label_size", label_size), ("small_face", small_face)):
        if value is not None and (isinstance(value, bool) or not math.isfinite(value) or value < 0):
            raise ConfigError(f"{name} must be a positive number of pixels, got {value!r}")
    out = np.array(rgb, dtype=np.uint8, order="C")
    h, w = out.shape[:2]
    scale = math.sqrt(h * w)
    thickness = max(1, round(scale / 500))
    if label_size:
        font_scale = label_size / _TEXT_HEIGHT_AT_1
    else:
        font_scale = max(0.35, scale / 1400)
    text_thickness = max(1, round(font_scale * 1.5))
    _, tag_h = _tag_size("Ag", font_scale, text_thickness)
    small = tag_h if small_face is None else small_face

    boxes = [_clip_box(f, w, h) for f in faces]
    if blur is not None:
        for face, (x1, y1, x2, y2) in zip(faces, boxes, strict=True):
            if x2 > x1 and y2 > y1 and (blur_if is None or blur_if(face)):
                region = out[y1:y2, x1:x2].copy()
                replaced = np.asarray(blur(region))
                if replaced.shape != region.shape:
                    raise ConfigError(f"blur returned shape {replaced.shape} for a region of shape {region.shape}")
                out[y1:y2, x1:x2] = np.clip(replaced, 0, 255).astype(np.uint8)

    big = [i for i, f in enumerate(faces) if f.box.size >= small]
    for face, (x1, y1, x2, y2) in zip(faces, boxes, strict=True):
        side = max(x2 - x1, y2 - y1)
        t = thickness if side >= 8 * thickness else 1
        cv2.rectangle(out, (x1, y1), (x2, y2), _color(face.label), t, cv2.LINE_AA)
    if landmarks:
        for i in big:
            face = faces[i]
            if face.landmarks is None:
                continue
            radius = max(1, min(thickness + 1, round(face.box.size / 30)))
            for (px, py), color in zip(face.landmarks.points, _LANDMARK_COLORS, strict=False):
                if math.isfinite(px) and math.isfinite(py):  # partial landmarks leave unmeasured points NaN
                    cv2.circle(out, (round(px), round(py)), radius, color, -1, cv2.LINE_AA)

    # Tags last, so no box or landmark covers one; larger faces choose their place first.
    placer = _TagPlacer(w, h, boxes, gap=max(1, thickness))
    drawn: list[tuple[int, tuple[int, int, int, int], str]] = []
    for i in sorted(big, key=lambda k: -faces[k].box.area):
        text = _tag_text(faces[i])
        tw, th = _tag_size(text, font_scale, text_thickness)
        rect = placer.place(i, tw, th)
        if rect is not None:
            drawn.append((i, rect, text))
    unlabelled = sorted(set(range(len(faces))) - {i for i, _, _ in drawn})
    legend = None
    if unlabelled:
        lines = Counter(faces[i].label for i in unlabelled).most_common()
        lw, lh, row_h = _legend_size(lines, font_scale, text_thickness)
        legend = placer.place_free(lw, lh)
        if legend is not None:
            _draw_legend(out, legend, lines, row_h, font_scale, text_thickness)
    for i, rect, _ in drawn:
        _draw_leader(out, rect, boxes[i], _color(faces[i].label))
    for i, rect, text in drawn:
        _draw_tag(out, text, rect, _color(faces[i].label), font_scale, text_thickness)
    return Annotation(out, tuple(r for _, r, _ in drawn), tuple(i for i, _, _ in drawn), legend)


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


def _tag_size(text: str, font_scale: float, thickness: int) -> tuple[int, int]:
    """Width and height of a tag (its text, baseline and padding), in pixels."""
    (tw, th), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    return tw + 2 * pad, th + baseline + 2 * pad


def _draw_tag(
    img: np.ndarray,
    text: str,
    rect: tuple[int, int, int, int],
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    (_, th), _ = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    left, top, right, bottom = rect
    cv2.rectangle(img, (left, top), (right - 1, bottom - 1), color, -1)
    cv2.putText(img, text, (left + pad, top + pad + th), _FONT, font_scale, _ink(color), thickness, cv2.LINE_AA)


def _ink(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``color``."""
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def _draw_leader(
    img: np.ndarray, rect: tuple[int, int, int, int], box: tuple[int, int, int, int], color: tuple[int, int, int]
) -> None:
    """A thin line from a tag to its face when the tag does not touch the box."""
    left, top, right, bottom = rect
    x1, y1, x2, y2 = box
    gap_x = max(x1 - right, left - x2, 0)
    gap_y = max(y1 - bottom, top - y2, 0)
    if gap_x <= 2 and gap_y <= 2:
        return
    tx = min(max((x1 + x2) // 2, left), right - 1)
    ty = min(max((y1 + y2) // 2, top), bottom - 1)
    bx = min(max(tx, x1), x2)
    by = min(max(ty, y1), y2)
    cv2.line(img, (tx, ty), (bx, by), color, 1, cv2.LINE_AA)


def _legend_size(lines: list[tuple[str, int]], font_scale: float, thickness: int) -> tuple[int, int, int]:
    """Width, height and row height of the legend box."""
    sizes = [_tag_size(f"{label} {n}", font_scale, thickness) for label, n in lines]
    row_h = max(s[1] for s in sizes)
    swatch = row_h
    return swatch + max(s[0] for s in sizes) + 4, row_h * len(lines) + 4, row_h


def _draw_legend(
    img: np.ndarray,
    rect: tuple[int, int, int, int],
    lines: list[tuple[str, int]],
    row_h: int,
    font_scale: float,
    thickness: int,
) -> None:
    left, top, right, bottom = rect
    cv2.rectangle(img, (left, top), (right - 1, bottom - 1), (32, 32, 32), -1)
    (_, th), _ = cv2.getTextSize("Ag", _FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    for k, (label, n) in enumerate(lines):
        y = top + 2 + k * row_h
        inset = max(2, row_h // 5)
        swatch = (left + 2 + inset, y + inset), (left + 2 + row_h - inset, y + row_h - inset)
        cv2.rectangle(img, *swatch, _color(label), -1)
        cv2.putText(
            img, f"{label} {n}", (left + 2 + row_h + pad, y + pad + th), _FONT, font_scale, (255, 255, 255),
            thickness, cv2.LINE_AA,
        )  # fmt: skip


class _TagPlacer:
    """Greedy tag placement: each tag goes to the free spot near its face that covers the fewest faces.

    Spots are tried next to the box (above, below, at either end of it, beside it), then in rings further out;
    a spot must lie inside the image and keep ``gap`` pixels from every tag already placed. Among free spots the
    cost is the face area covered (its own face counts four times, so a tag sits inside its box only when
    nothing else is left), plus a little for the distance from the box.
    """

    def __init__(self, w: int, h: int, boxes: Sequence[tuple[int, int, int, int]], gap: int) -> None:
        self.w, self.h, self.gap = w, h, gap
        self.boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)
        self.placed = np.zeros((0, 4), dtype=np.int64)

    def place(self, i: int, tw: int, th: int) -> tuple[int, int, int, int] | None:
        if tw > self.w or th > self.h:
            return None
        x1, y1, x2, y2 = (int(v) for v in self.boxes[i])
        cands = [
            (x1, y1 - th), (x1, y2 + 1), (x2 - tw, y1 - th), (x2 - tw, y2 + 1),  # above / below, either end
            (x2 + 1, y1), (x1 - tw - 1, y1), (x2 + 1, y2 - th), (x1 - tw - 1, y2 - th),  # beside
            (x1, y1),  # inside its own box, at the top
        ]  # fmt: skip
        rect = self._best(i, cands[:8], tw, th, x1, y1, x2, y2, clear_only=True)  # most tags: next to the box
        if rect is not None:
            return rect
        cx = (x1 + x2) // 2
        lefts = (x1, cx - tw // 2, x2 - tw, x1 - tw // 2, x2 - tw // 2)
        for ring in range(1, 7):  # further out, with a leader line
            dy = ring * (th + self.gap)
            for left in lefts:
                cands += [(left, y1 - th - dy), (left, y2 + 1 + dy)]
            dx = ring * (tw // 2 + self.gap)
            cands += [(x2 + 1 + dx, y1), (x1 - tw - 1 - dx, y1), (x2 + 1 + dx, y2 - th), (x1 - tw - 1 - dx, y2 - th)]
        return self._best(i, cands, tw, th, x1, y1, x2, y2, clear_only=False)

    def _best(
        self,
        i: int,
        cands: list[tuple[int, int]],
        tw: int,
        th: int,
        x1: int,
        y1: int,
        x2: int,
        y2: int,
        *,
        clear_only: bool,
    ) -> tuple[int, int, int, int] | None:
        """The cheapest free spot among ``cands`` (with ``clear_only``: only one that covers no face at all)."""
        c = np.array(cands, dtype=np.int64)
        c[:, 0] = np.clip(c[:, 0], 0, self.w - tw)
        c[:, 1] = np.clip(c[:, 1], 0, self.h - th)
        rects = np.column_stack([c[:, 0], c[:, 1], c[:, 0] + tw, c[:, 1] + th])
        free = ~_overlaps(rects, self.placed, self.gap).any(axis=1)
        if not free.any():
            return None
        rects = rects[free]
        cover = _intersection(rects, self.boxes)  # [n_cands, n_faces] pixels of each face covered
        cost = cover.sum(axis=1) + 3 * cover[:, i]
        if clear_only:
            if not (cost == 0).any():
                return None
            rects, cost = rects[cost == 0], cost[cost == 0]
        bx = np.maximum(np.maximum(x1 - rects[:, 2], rects[:, 0] - x2), 0)
        by = np.maximum(np.maximum(y1 - rects[:, 3], rects[:, 1] - y2), 0)
        cost = cost + (bx + by) * th * 0.25 + np.arange(len(rects)) * 1e-3  # nearer, then the listed order
        best = rects[int(np.argmin(cost))]
        rect = tuple(int(v) for v in best)
        self.placed = np.vstack([self.placed, best[None]])
        return rect  # type: ignore[return-value]

    def place_free(self, tw: int, th: int) -> tuple[int, int, int, int] | None:
        """A spot for a box of ``tw`` x ``th`` clear of every tag: the corners first, then a grid."""
        if tw > self.w or th > self.h:
            return None
        m = 4
        xs = [m, self.w - tw - m, *np.linspace(0, self.w - tw, 9).astype(int).tolist()]
        ys = [m, self.h - th - m, *np.linspace(0, self.h - th, 9).astype(int).tolist()]
        c = np.array([(x, y) for y in ys for x in xs], dtype=np.int64)
        c[:, 0] = np.clip(c[:, 0], 0, self.w - tw)
        c[:, 1] = np.clip(c[:, 1], 0, self.h - th)
        rects = np.column_stack([c[:, 0], c[:, 1], c[:, 0] + tw, c[:, 1] + th])
        free = ~_overlaps(rects, self.placed, self.gap).any(axis=1)
        if not free.any():
            return None
        rects = rects[free]
        cost = _intersection(rects, self.boxes).sum(axis=1) + np.arange(len(rects)) * 1e-3
        best = rects[int(np.argmin(cost))]
        self.placed = np.vstack([self.placed, best[None]])
        return tuple(int(v) for v in best)  # type: ignore[return-value]


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels shared by each rectangle of ``a`` and each of ``b`` (``x1, y1, x2, y2``), ``[len(a), len(b)]``."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def _overlaps(a: np.ndarray, b: np.ndarray, gap: int = 0) -> np.ndarray:
    """Whether each rectangle of ``a`` comes within ``gap`` pixels of each of ``b`` (``x2``, ``y2`` exclusive)."""
    return (
        (a[:, None, 0] < b[None, :, 2] + gap)
        & (b[None, :, 0] < a[:, None, 2] + gap)
        & (a[:, None, 1] < b[None, :, 3] + gap)
        & (b[None, :, 1] < a[:, None, 3] + gap)
    )
