"""Drawing faces on an image: box, landmarks and an "emotion NN%" tag per face (:func:`draw_faces`), placed by
:class:`~emolens.draw.tags.TagPlacer` so that no two tags overlap."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import cv2
import numpy as np

from emolens.draw.image import check_rgb
from emolens.draw.tags import (
    TEXT_HEIGHT_AT_1,
    TagPlacer,
    draw_leader,
    draw_legend,
    draw_tag,
    emotion_color,
    legend_size,
    tag_size,
    tag_text,
)
from emolens.errors import ConfigError
from emolens.types import Face

# left eye, right eye, nose, mouth left, mouth right (emolens.types.LANDMARK_NAMES)
_LANDMARK_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 255, 0),
    (0, 255, 0),
    (255, 0, 255),
    (0, 160, 255),
    (0, 160, 255),
)


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


class DrawOptions(TypedDict, total=False):
    """The drawing options of :func:`draw_faces` and :func:`annotate` (see :func:`draw_faces`)."""

    blur: Callable[[np.ndarray], np.ndarray] | None
    blur_if: Callable[[Face], bool] | None
    landmarks: bool
    label_size: float | None
    small_face: float | None


def annotate(rgb: np.ndarray, faces: Sequence[Face], **options: Unpack[DrawOptions]) -> np.ndarray:
    """Draw faces on a copy of an image: box, landmarks and an "emotion NN%" tag per face.

    The image of :func:`draw_faces`; see there for the parameters.

    Returns
    -------
    numpy.ndarray
        A new ``uint8`` ``[H, W, 3]`` RGB array.
    """
    return draw_faces(rgb, faces, **options).image


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
    check_rgb(rgb)
    for name, value in (("label_size", label_size), ("small_face", small_face)):
        if value is not None and (isinstance(value, bool) or not math.isfinite(value) or value < 0):
            raise ConfigError(f"{name} must be a positive number of pixels, got {value!r}")
    out = np.array(rgb, dtype=np.uint8, order="C")
    h, w = out.shape[:2]
    scale = math.sqrt(h * w)
    thickness = max(1, round(scale / 500))
    if label_size:
        font_scale = label_size / TEXT_HEIGHT_AT_1
    else:
        font_scale = max(0.35, scale / 1400)
    text_thickness = max(1, round(font_scale * 1.5))
    _, tag_h = tag_size("Ag", font_scale, text_thickness)
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
        cv2.rectangle(out, (x1, y1), (x2, y2), emotion_color(face.label), t, cv2.LINE_AA)
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
    placer = TagPlacer(w, h, boxes, gap=max(1, thickness))
    drawn: list[tuple[int, tuple[int, int, int, int], str]] = []
    for i in sorted(big, key=lambda k: -faces[k].box.area):
        text = tag_text(faces[i])
        tw, th = tag_size(text, font_scale, text_thickness)
        rect = placer.place(i, tw, th)
        if rect is not None:
            drawn.append((i, rect, text))
    unlabelled = sorted(set(range(len(faces))) - {i for i, _, _ in drawn})
    legend = None
    if unlabelled:
        lines = Counter(faces[i].label for i in unlabelled).most_common()
        lw, lh, row_h = legend_size(lines, font_scale, text_thickness)
        legend = placer.place_free(lw, lh)
        if legend is not None:
            draw_legend(out, legend, lines, row_h, font_scale, text_thickness)
    for i, rect, _ in drawn:
        draw_leader(out, rect, boxes[i], emotion_color(faces[i].label))
    for i, rect, text in drawn:
        draw_tag(out, text, rect, emotion_color(faces[i].label), font_scale, text_thickness)
    return Annotation(out, tuple(r for _, r, _ in drawn), tuple(i for i, _, _ in drawn), legend)


def _clip_box(face: Face, w: int, h: int) -> tuple[int, int, int, int]:
    b = face.box
    x1 = min(max(round(b.x1), 0), w - 1)
    y1 = min(max(round(b.y1), 0), h - 1)
    x2 = min(max(round(b.x2), 0), w - 1)
    y2 = min(max(round(b.y2), 0), h - 1)
    return x1, y1, x2, y2
