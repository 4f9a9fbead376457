"""The batch output tables: one Arrow schema for the faces of photos and of video frames, and one for the inputs.

Rows come from the library's own flattening (:func:`emolens.types.records.records` for photos,
:func:`emolens.types.records.frame_records` for video frames), renamed into one schema so that the photo and
video partitions read as a single dataset (:func:`emolens.types.records.batch_face_columns`). Columns that do
not apply to a kind (``frame``, ``timestamp``, ``track_id``, ``s_<label>`` and ``smoothed_label`` for photos)
are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emolens.io import sinks
from emolens.types.records import (
    Column,
    FrameResultLike,
    PhotoResultLike,
    batch_face_columns,
    column_names,
    columns,
    frame_records,
    records,
    utf8_text,
)

__all__ = [
    "INPUT_COLUMNS",
    "face_columns",
    "face_rows",
    "face_schema",
    "frame_rows",
    "input_columns",
    "input_schema",
    "require_pyarrow",
]

_INPUTS = columns(
    """
    input_id        string   16 hex digits of the SHA-1 of the input's absolute path
    source          string   the input as given
    path            string   the file read
    bytes           int64    file size
    mtime_ns        int64    file modification time, ns since the epoch
    width           int32    image or frame width, pixels
    height          int32    image or frame height, pixels
    frames_read     int64    video frames decoded (empty for a photo)
    frames_analysed int64    video frames analysed (empty for a photo)
    faces           int64    face rows of the input
    worker          string   the worker that ran it
    """
)

#: Columns of the inputs table (one row per input done), in order.
INPUT_COLUMNS: tuple[str, ...] = tuple(column_names(_INPUTS))


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or ``MissingExtraError`` naming the ``batch`` extra."""
    return sinks.require_pyarrow("batch")


def input_columns() -> tuple[Column, ...]:
    """The declared columns of the inputs table."""
    return _INPUTS


def face_columns(labels: Sequence[str], attention: bool = False) -> list[str]:
    """Columns of the faces table for an emotion label set (and the attention columns), in order."""
    return column_names(batch_face_columns(labels, attention))


def face_schema(labels: Sequence[str], attention: bool = False) -> Any:
    """The Arrow schema of the faces table (the ``kind`` partition column is in the folder names, not the files)."""
    require_pyarrow()
    return sinks.arrow_schema(batch_face_columns(labels, attention), pandas_nullable=False)


def input_schema() -> Any:
    """The Arrow schema of the inputs table."""
    require_pyarrow()
    return sinks.arrow_schema(_INPUTS, pandas_nullable=False)


def face_rows(
    result: PhotoResultLike, input_id: str, labels: Sequence[str], attention: bool = False
) -> list[dict[str, Any]]:
    """Rows of the faces of one photo (none when it has no face); ``attention`` adds the photo attention values."""
    rows = []
    for r in records(result, labels, attention):
        if r["face"] is None:
            continue
        row = dict(r)
        row["source"] = row.pop("file")
        row["input_id"] = input_id
        rows.append(row)
    return rows


def frame_rows(
    result: FrameResultLike, input_id: str, source: str, labels: Sequence[str], attention: bool = False
) -> list[dict[str, Any]]:
    """Rows of the faces of one analysed video frame (none when it has no face); ``attention`` adds its values."""
    rows = frame_records(result, labels, attention)
    for row in rows:
        row["input_id"] = input_id
        row["source"] = utf8_text(source)
        row["width"] = result.width
        row["height"] = result.height
    return rows
