"""Annotated images: face boxes, the five landmarks and "label 87%" tags, drawn with OpenCV.

Tags never overlap one another: each is placed where it covers the fewest faces (:func:`draw_faces` returns
the rectangles). Faces smaller than a tag keep a box in their emotion's colour only, with a legend, so a crowd of
54 small faces stays readable.

Sizes scale with the image (the square root of its area), so a tag is readable on a 640 px photo and on a
4,000 px one alike. Each emotion has its own colour (:data:`EMOTION_COLORS`); the tag's text is black or white,
whichever reads better on that colour. OpenCV's Hershey fonts are ASCII only, so other characters in an
identity name are transliterated where possible (``é`` -> ``e``) and dropped otherwise.
"""

from emolens.draw.faces import Annotation, DrawOptions, annotate, draw_faces
from emolens.draw.image import pixelate, save_image
from emolens.draw.tags import EMOTION_COLORS, OTHER_COLOR
from emolens.draw.tags import ink as _ink  # noqa: F401  (the tag text colour, also used by emolens.video.report)

__all__ = [
    "EMOTION_COLORS",
    "OTHER_COLOR",
    "Annotation",
    "DrawOptions",
    "annotate",
    "draw_faces",
    "pixelate",
    "save_image",
]
