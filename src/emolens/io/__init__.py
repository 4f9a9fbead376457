"""Input and output: the one image loader, batch input expansion, and the one output layer.

Outputs: records (:mod:`emolens.types.records`, the declared schemas) written by the sinks of
:mod:`emolens.io.sinks` (JSON, JSON Lines, CSV, Parquet, a table); :mod:`emolens.io.writers` writes photo
results and :mod:`emolens.io.frames` the per-face table of a video.
"""

from __future__ import annotations

from emolens.io.images import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from emolens.io.inputs import IMAGE_EXTENSIONS, InputItem, expand_inputs, is_image_path
from emolens.io.writers import (
    FORMATS,
    Writer,
    format_for_path,
    open_writer,
    record_columns,
    records,
    results_to_dataframe,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "InputItem",
    "LoadedImage",
    "Writer",
    "expand_inputs",
    "format_for_path",
    "is_image_path",
    "load_image",
    "open_writer",
    "record_columns",
    "records",
    "results_to_dataframe",
]
