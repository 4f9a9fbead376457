"""Photo result writers: one per format, streaming (each result is written as it arrives; memory stays flat).

Formats
-------
``jsonl`` (default)
    One JSON object per line per face (:func:`json_records`: ``file``, ``width``, ``height``, ``face``, ``box``,
    ``score``, ``landmarks``, ``emotions``, ``label``); an image with no face gives one object with ``face`` null,
    a failed one an object with ``error``. Flushed after every image, so ``tail -f`` and crashes lose nothing.
``json``
    The same objects in one JSON array. ``[`` is written on open and ``]`` on close, so the file is valid
    after a normal close and after an exception inside the ``with`` block; a killed process leaves it
    without its ``]``.
``csv`` and ``parquet``
    Flat rows from :func:`records`: one row per face; an image with no face, or a failed one, gets one row with
    the face columns empty (and ``error`` set for a failure), so every input is accounted for. Columns:
    :func:`record_columns`. Parquet is written in row groups of ``row_group_size`` rows (default 1,000) and
    needs ``pyarrow`` (``pip install 'emolens[parquet]'``).

Each writer flattens results with :mod:`emolens.types.records` (the declared schema) and writes the rows
through one sink of :mod:`emolens.io.sinks`.

The flat formats need the emotion label set for their ``p_<label>`` columns. Pass ``labels=`` to
:func:`open_writer` (the analyzer knows it); otherwise it is taken from the first face written, and the rows
of face-less images before that face are held until then (or until close).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, TypeAlias

from emolens.errors import ConfigError
from emolens.io.sinks import Closing, CsvSink, JsonLinesSink, JsonSink, ParquetSink, Sink, with_nullable_ints
from emolens.types.records import (
    LANDMARK_COLUMNS,
    PhotoResultLike,
    json_records,
    photo_columns,
    record_columns,
    records,
    utf8_text,
)
from emolens.types.tables import results_to_dataframe

__all__ = [
    "FORMATS",
    "LANDMARK_COLUMNS",
    "Writer",
    "format_for_path",
    "json_records",
    "open_writer",
    "record_columns",
    "records",
    "results_to_dataframe",
    "utf8_text",
    "with_nullable_ints",
]

#: The output formats, the default first.
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "parquet")
#: Where a writer writes: a file path, or None / "-" for standard output.
Destination: TypeAlias = str | Path | None

_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def format_for_path(path: str | Path) -> str:
    """The output format named by a file's extension (``.jsonl``/``.ndjson``, ``.json``, ``.csv``, ``.parquet``).

    Raises
    ------
    ConfigError
        The extension names no format.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(f"cannot tell the output format from the extension {suffix or '(none)'!r}; "
                          f"use one of {', '.join(_SUFFIXES)}", str(path))  # fmt: skip
    return _SUFFIXES[suffix]


def open_writer(
    fmt: str = "jsonl",
    path: str | Path | None = None,
    *,
    labels: Sequence[str] | None = None,
    row_group_size: int = 1000,
    attention: bool = False,
) -> Writer:
    """Open a streaming writer for results; use it as a context manager.

    Parameters
    ----------
    fmt : {"jsonl", "json", "csv", "parquet"}, default "jsonl"
        Output format (see the module docstring).
    path : str or pathlib.Path, optional
        Output file, created or overwritten. ``None`` or ``"-"`` writes to standard output (not for parquet).
    labels : sequence of str, optional
        Emotion label set of the ``p_<label>`` columns (csv, parquet); see the module docstring.
    row_group_size : int, default 1000
        Rows per Parquet row group (rows buffered before they are written).
    attention : bool, default False
        Add the photo attention columns (head pose, eyes, gaze, mouth, attention) to csv and parquet; the JSON
        formats carry them whenever the faces have them.

    Returns
    -------
    Writer
        Call ``write(result)`` once per image; ``close()`` (or leaving the ``with`` block) finishes the file.

    Raises
    ------
    ConfigError
        Unknown format, parquet to standard output, or a path that cannot be opened for writing.
    MissingExtraError
        ``fmt="parquet"`` and pyarrow is not installed.

    Examples
    --------
    >>> with open_writer("csv", "out.csv") as w:  # doctest: +SKIP
    ...     for result in results:
    ...         w.write(result)
    """
    name = fmt.lower() if isinstance(fmt, str) else fmt
    if name == "jsonl":
        return JsonlWriter(path)
    if name == "json":
        return JsonWriter(path)
    if name == "csv":
        return CsvWriter(path, labels=labels, attention=attention)
    if name == "parquet":
        return ParquetWriter(path, labels=labels, row_group_size=row_group_size, attention=attention)
    raise ConfigError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


class Writer(Closing, ABC):
    """A streaming photo-result writer (a context manager) over one sink. One subclass per format in
    :data:`FORMATS`."""

    format: ClassVar[str]

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.path: Path | None = sink.path

    @abstractmethod
    def write(self, result: PhotoResultLike) -> None:
        """Write the records of one image result."""

    def close(self) -> None:
        """Finish the output; further writes raise. Calling it twice is harmless."""
        self._sink.close()


class _JsonWriter(Writer):
    """Writes :func:`json_records` objects through a JSON sink."""

    sink: ClassVar[type[JsonLinesSink] | type[JsonSink]]

    def __init__(self, path: str | Path | None) -> None:
        super().__init__(self.sink(path))

    def write(self, result: PhotoResultLike) -> None:
        """Write one object per face (one for an image with no face or an error)."""
        self._sink.write(json_records(result))


class JsonlWriter(_JsonWriter):
    """JSON Lines: one :func:`json_records` object per line."""

    format, sink = "jsonl", JsonLinesSink


class JsonWriter(_JsonWriter):
    """A JSON array of :func:`json_records` objects, one per line inside the brackets."""

    format, sink = "json", JsonSink


class _TabularWriter(Writer):
    """CSV and Parquet: fixes the columns once the label set is known, then writes flat records."""

    def __init__(self, sink: CsvSink | ParquetSink, labels: Sequence[str] | None, attention: bool = False) -> None:
        super().__init__(sink)
        self._table_sink = sink
        self._attention = attention
        self._labels: tuple[str, ...] | None = None
        self._pending: list[PhotoResultLike] = []
        if labels is not None:
            self._set_labels(tuple(labels))

    def _set_labels(self, labels: tuple[str, ...]) -> None:
        self._labels = labels
        sink = self._table_sink
        if isinstance(sink, CsvSink):
            sink.set_columns(record_columns(labels, self._attention))
        else:
            sink.set_columns(photo_columns(labels, self._attention))
        pending, self._pending = self._pending, []
        for r in pending:
            sink.write(records(r, labels, self._attention))

    def write(self, result: PhotoResultLike) -> None:
        """Write one row per face (one row for an image without faces or with an error)."""
        if self._labels is None:
            if not result.faces:
                self._sink.write([])  # raises once closed
                self._pending.append(result)
                return
            self._set_labels(tuple(result.faces[0].emotions.labels))
        self._sink.write(records(result, self._labels, self._attention))

    def close(self) -> None:
        if self._labels is None:
            self._set_labels(())
        super().close()


class CsvWriter(_TabularWriter):
    """CSV (RFC 4180: UTF-8, ``\\r\\n`` line ends, fields quoted as needed) with a header; missing values empty."""

    format = "csv"

    def __init__(self, path: Destination, labels: Sequence[str] | None = None, attention: bool = False) -> None:
        super().__init__(CsvSink(path), labels, attention)


class ParquetWriter(_TabularWriter):
    """Parquet (pyarrow), written in row groups of ``row_group_size`` rows."""

    format = "parquet"

    def __init__(
        self,
        path: Destination,
        labels: Sequence[str] | None = None,
        row_group_size: int = 1000,
        attention: bool = False,
    ) -> None:
        super().__init__(ParquetSink(path, row_group_size=row_group_size), labels, attention)
