"""Tags and the legend of an annotated image: the emotion colours, the text of a face's tag, its size, where it
goes (:class:`TagPlacer`: next to its face, covering the fewest others, never over another tag), and drawing it."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import cv2
import numpy as np

from emolens.types import Face

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

FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_HEIGHT_AT_1 = cv2.getTextSize("Ag", FONT, 1.0, 1)[0][1]  # text height in pixels at font scale 1


def emotion_color(label: str) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(label, OTHER_COLOR)


def tag_text(face: Face) -> str:
    text = f"{face.label} {round(100 * face.emotions.confidence)}%"
    if face.identity:
        name = unicodedata.normalize("NFKD", face.identity).encode("ascii", "ignore").decode("ascii").strip()
        text = f"{name or '?'}: {text}"
    return text


def tag_size(text: str, font_scale: float, thickness: int) -> tuple[int, int]:
    """Width and height of a tag (its text, baseline and padding), in pixels."""
    (tw, th), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    return tw + 2 * pad, th + baseline + 2 * pad


def draw_tag(
    img: np.ndarray,
    text: str,
    rect: tuple[int, int, int, int],
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    (_, th), _ = cv2.getTextSize(text, FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    left, top, right, bottom = rect
    cv2.rectangle(img, (left, top), (right - 1, bottom - 1), color, -1)
    cv2.putText(img, text, (left + pad, top + pad + th), FONT, font_scale, ink(color), thickness, cv2.LINE_AA)


def ink(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``color``."""
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def draw_leader(
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


def legend_size(lines: list[tuple[str, int]], font_scale: float, thickness: int) -> tuple[int, int, int]:
    """Width, height and row height of the legend box."""
    sizes = [tag_size(f"{label} {n}", font_scale, thickness) for label, n in lines]
    row_h = max(s[1] for s in sizes)
    swatch = row_h
    return swatch + max(s[0] for s in sizes) + 4, row_h * len(lines) + 4, row_h


def draw_legend(
    img: np.ndarray,
    rect: tuple[int, int, int, int],
    lines: list[tuple[str, int]],
    row_h: int,
    font_scale: float,
    thickness: int,
) -> None:
    left, top, right, bottom = rect
    cv2.rectangle(img, (left, top), (right - 1, bottom - 1), (32, 32, 32), -1)
    (_, th), _ = cv2.getTextSize("Ag", FONT, font_scale, thickness)
    pad = max(2, round(th * 0.25))
    for k, (label, n) in enumerate(lines):
        y = top + 2 + k * row_h
        inset = max(2, row_h // 5)
        swatch = (left + 2 + inset, y + inset), (left + 2 + row_h - inset, y + row_h - inset)
        cv2.rectangle(img, *swatch, emotion_color(label), -1)
        cv2.putText(
            img, f"{label} {n}", (left + 2 + row_h + pad, y + pad + th), FONT, font_scale, (255, 255, 255),
            thickness, cv2.LINE_AA,
        )  # fmt: skip


class TagPlacer:
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
        rects = self._free(cands, tw, th)
        if not len(rects):
            return None
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

    def _free(self, cands: Sequence[tuple[int, int]], tw: int, th: int) -> np.ndarray:
        """Rectangles of ``tw`` x ``th`` at the top-left corners ``cands`` (moved inside the image) that keep
        ``gap`` pixels from every tag placed, as ``[n, 4]`` ``x1, y1, x2, y2``."""
        c = np.array(cands, dtype=np.int64).reshape(-1, 2)
        c[:, 0] = np.clip(c[:, 0], 0, self.w - tw)
        c[:, 1] = np.clip(c[:, 1], 0, self.h - th)
        rects = np.column_stack([c[:, 0], c[:, 1], c[:, 0] + tw, c[:, 1] + th])
        return rects[~_overlaps(rects, self.placed, self.gap).any(axis=1)]

    def place_free(self, tw: int, th: int) -> tuple[int, int, int, int] | None:
        """A spot for a box of ``tw`` x ``th`` clear of every tag: the corners first, then a grid."""
        if tw > self.w or th > self.h:
            return None
        m = 4
        xs = [m, self.w - tw - m, *np.linspace(0, self.w - tw, 9).astype(int).tolist()]
        ys = [m, self.h - th - m, *np.linspace(0, self.h - th, 9).astype(int).tolist()]
        rects = self._free([(x, y) for y in ys for x in xs], tw, th)
        if not len(rects):
            return None
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
