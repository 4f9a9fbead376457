"""The batch output tables: one Arrow schema for the faces of photos and of video frames, and one for the inputs.

Rows come from the library's own flattening (:func:`emolens.io.writers.records` for photos,
:func:`emolens.video.writers.frame_records` for video frames), renamed into one schema so that the photo and
video partitions read as a single dataset. Columns that do not apply to a kind (``frame``, ``timestamp``,
``track_id``, ``s_<label>`` and ``smoothed_label`` for photos) are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emolens.errors import MissingExtraError
from emolens.io.writers import LANDMARK_COLUMNS, records, utf8_text
from emolens.types import FrameResult, ImageResult

__all__ = ["face_columns", "face_rows", "face_schema", "frame_rows", "input_schema", "require_pyarrow"]

_INTS = {"frame": "int64", "track_id": "int64", "face": "int32", "width": "int32", "height": "int32"}
_STRINGS = frozenset({"input_id", "source", "label", "smoothed_label"})

#: Columns of the inputs table (one row per input done), in order.
INPUT_COLUMNS: tuple[str, ...] = (
    "input_id", "source", "path", "bytes", "mtime_ns", "width", "height",
    "frames_read", "frames_analysed", "faces", "worker",
)  # fmt: skip


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or ``MissingExtraError`` naming the ``batch`` extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet
    except ImportError:
        raise MissingExtraError("pyarrow", "batch") from None
    return pa


def face_columns(labels: Sequence[str]) -> list[str]:
    """Columns of the faces table for an emotion label set, in order."""
    return [
        "input_id", "source", "frame", "timestamp", "track_id", "face", "width", "height",
        "x1", "y1", "x2", "y2", "score", *LANDMARK_COLUMNS,
        *(f"p_{label}" for label in labels), *(f"s_{label}" for label in labels),
        "label", "smoothed_label",
    ]  # fmt: skip


def face_schema(labels: Sequence[str]) -> Any:
    """The Arrow schema of the faces table (the ``kind`` partition column is in the folder names, not the files)."""
    pa = require_pyarrow()
    fields = []
    for c in face_columns(labels):
        if c in _INTS:
            fields.append((c, getattr(pa, _INTS[c])()))
        elif c in _STRINGS:
            fields.append((c, pa.string()))
        else:
            fields.append((c, pa.float64()))
    return pa.schema(fields)


def input_schema() -> Any:
    """The Arrow schema of the inputs table."""
    pa = require_pyarrow()
    types = {"input_id": pa.string(), "source": pa.string(), "path": pa.string(), "worker": pa.string(),
             "width": pa.int32(), "height": pa.int32()}  # fmt: skip
    return pa.schema([(c, types.get(c, pa.int64())) for c in INPUT_COLUMNS])


def face_rows(result: ImageResult, input_id: str, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of the faces of one photo (none when it has no face)."""
    rows = []
    for r in records(result, labels):
        if r["face"] is None:
            continue
        row = dict(r)
        row["source"] = row.pop("file")
        row["input_id"] = input_id
        rows.append(row)
    return rows


def frame_rows(result: FrameResult, input_id: str, source: str, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of the faces of one analysed video frame (none when it has no face)."""
    from emolens.video.writers import frame_records

    rows = frame_records(result, labels)
    for row in rows:
        row["input_id"] = input_id
        row["source"] = utf8_text(source)
        row["width"] = result.width
        row["height"] = result.height
    return rows
