"""Result writers: one per format, streaming (each result is written as it arrives; memory stays flat).

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

The flat formats need the emotion label set for their ``p_<label>`` columns. Pass ``labels=`` to
:func:`open_writer` (the analyzer knows it); otherwise it is taken from the first face written, and the rows
of face-less images before that face are held until then (or until close).
"""

from __future__ import annotations

import csv
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar

from emolens.errors import ConfigError, MissingExtraError
from emolens.types import ImageResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
    "LANDMARK_COLUMNS",
    "Writer",
    "format_for_path",
    "open_writer",
    "record_columns",
    "records",
    "results_to_dataframe",
    "utf8_text",
]

#: The output formats, the default first.
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "parquet")

#: Flat landmark columns, in the order of ``emolens.types.LANDMARK_NAMES``.
LANDMARK_COLUMNS: tuple[str, ...] = ("le_x", "le_y", "re_x", "re_y", "n_x", "n_y", "ml_x", "ml_y", "mr_x", "mr_y")

_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


# ---------------------------------------------------------------------------------------------- flat records


def record_columns(labels: Sequence[str]) -> list[str]:
    """The flat column names for an emotion label set, in output order.

    Parameters
    ----------
    labels : sequence of str
        Emotion labels; each gives a ``p_<label>`` probability column.

    Returns
    -------
    list of str
        ``file, width, height, face, x1, y1, x2, y2, score``, the landmark columns (:data:`LANDMARK_COLUMNS`),
        ``p_<label>`` for each label, then ``label, identity, identity_score, error``.
    """
    return [
        "file", "width", "height", "face", "x1", "y1", "x2", "y2", "score",
        *LANDMARK_COLUMNS,
        *(f"p_{label}" for label in labels),
        "label", "identity", "identity_score", "error",
    ]  # fmt: skip


def records(result: ImageResult, labels: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Flatten one image result into rows: one per face, or one with empty face columns when there is none.

    Values are rounded as in ``ImageResult.to_dict()`` (pixels to 0.1, scores and probabilities to 1e-4);
    missing values (no landmarks, no identity, no face) are ``None``.

    Parameters
    ----------
    result : ImageResult
        The result of one image (or its error).
    labels : sequence of str, optional
        The label set of the ``p_<label>`` columns; defaults to that of the result's first face (none if it has
        no face). A label a face lacks gives ``None``.

    Returns
    -------
    list of dict
        Rows whose keys are :func:`record_columns` of ``labels``, in that order.

    Raises
    ------
    ConfigError
        A face has an emotion label that is not in ``labels``.
    """
    if labels is None:
        labels = result.faces[0].emotions.labels if result.faces else ()
    columns = record_columns(labels)
    base = {
        "file": utf8_text(result.source),
        "width": result.width,
        "height": result.height,
        "error": utf8_text(result.error),
    }
    if not result.faces:
        return [{c: base.get(c) for c in columns}]
    label_set = set(labels)
    rows = []
    for face in result.faces:
        probs = face.emotions.to_dict()
        extra = [k for k in probs if k not in label_set]
        if extra:
            raise ConfigError(
                f"face {face.index} has emotion labels {extra} that are not among the output columns {list(labels)}",
                result.source,
            )
        row = dict.fromkeys(columns)
        row.update(base)
        row["face"] = face.index
        row["x1"], row["y1"], row["x2"], row["y2"] = face.box.to_list()
        row["score"] = round(float(face.score), 4)
        if face.landmarks is not None:
            flat = [v for point in face.landmarks.to_list() for v in point]
            row.update(zip(LANDMARK_COLUMNS, flat, strict=True))
        for label, p in probs.items():
            row[f"p_{label}"] = p
        row["label"] = face.label
        row["identity"] = utf8_text(face.identity)
        row["identity_score"] = None if face.identity_score is None else round(float(face.identity_score), 4)
        rows.append(row)
    return rows


def results_to_dataframe(results: Iterable[ImageResult], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Collect results into a pandas DataFrame of :func:`records` rows.

    Parameters
    ----------
    results : iterable of ImageResult
        The results (consumed once; held in memory, as a DataFrame is).
    labels : sequence of str, optional
        Label set of the ``p_<label>`` columns; defaults to every label seen on a face, in first-seen order.

    Returns
    -------
    pandas.DataFrame
        Columns :func:`record_columns`; ``width``, ``height`` and ``face`` as nullable integers (``Int64``).

    Raises
    ------
    MissingExtraError
        pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("pandas", "pandas") from None
    results = list(results)
    if labels is None:
        seen: dict[str, None] = {}
        for r in results:
            for f in r.faces:
                seen.update(dict.fromkeys(f.emotions.labels))
        labels = tuple(seen)
    rows = [row for r in results for row in records(r, labels)]
    df = pd.DataFrame.from_records(rows, columns=record_columns(labels))
    return df.astype({"width": "Int64", "height": "Int64", "face": "Int64"})


# ---------------------------------------------------------------------------------------------------- writers


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
        return CsvWriter(path, labels=labels)
    if name == "parquet":
        return ParquetWriter(path, labels=labels, row_group_size=row_group_size)
    raise ConfigError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


class Writer(ABC):
    """A streaming result writer (a context manager). Subclasses: one per format in :data:`FORMATS`."""

    format: ClassVar[str]

    def __init__(self, path: str | Path | None) -> None:
        self.path: Path | None = None if _is_stdout(path) else Path(path)  # type: ignore[arg-type]
        self._closed = False

    @abstractmethod
    def write(self, result: ImageResult) -> None:
        """Write the records of one image result."""

    def close(self) -> None:
        """Finish the output; further writes raise. Calling it twice is harmless."""
        if not self._closed:
            self._closed = True
            self._finish()

    @abstractmethod
    def _finish(self) -> None: ...

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError(f"this {self.format} writer is closed", self._name())

    def _name(self) -> str:
        return "<stdout>" if self.path is None else str(self.path)

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _TextOutput:
    """A UTF-8 text file the writer owns, or standard output (looked up at each use, never closed)."""

    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = None if path is None else _open_output(path, "w")

    @property
    def stream(self) -> IO[str]:
        return sys.stdout if self._file is None else self._file

    def close(self) -> None:
        self.stream.flush()
        if self._file is not None:
            self._file.close()


class _JsonWriterBase(Writer):
    def __init__(self, path: str | Path | None) -> None:
        super().__init__(path)
        self._text = _TextOutput(self.path)

    @property
    def _out(self) -> IO[str]:
        return self._text.stream

    def _finish(self) -> None:
        self._text.close()


class JsonlWriter(_JsonWriterBase):
    """JSON Lines: one :func:`json_records` object per line."""

    format = "jsonl"

    def write(self, result: ImageResult) -> None:
        """Write one line per face (one line for an image with no face or an error)."""
        self._check_open()
        self._out.write("".join(line + "\n" for line in _json_lines(result)))
        self._out.flush()


class JsonWriter(_JsonWriterBase):
    """A JSON array of :func:`json_records` objects, one per line inside the brackets."""

    format = "json"

    def __init__(self, path: str | Path | None) -> None:
        super().__init__(path)
        self._count = 0
        self._out.write("[")

    def write(self, result: ImageResult) -> None:
        """Append the image's object to the array."""
        self._check_open()
        for line in _json_lines(result):
            self._out.write(("\n" if self._count == 0 else ",\n") + line)
            self._count += 1
        self._out.flush()

    def _finish(self) -> None:
        self._out.write("\n]\n" if self._count else "]\n")
        super()._finish()


class _TabularWriter(Writer):
    """Shared by CSV and Parquet: fixes the columns once the label set is known, then emits flat records."""

    def __init__(self, path: str | Path | None, labels: Sequence[str] | None) -> None:
        super().__init__(path)
        self._labels: tuple[str, ...] | None = None
        self._pending: list[ImageResult] = []
        self._labels_given = labels

    def _begin(self) -> None:
        # Called by subclasses once their output is open.
        if self._labels_given is not None:
            self._set_labels(tuple(self._labels_given))

    def _set_labels(self, labels: tuple[str, ...]) -> None:
        self._labels = labels
        self._start(record_columns(labels))
        pending, self._pending = self._pending, []
        for r in pending:
            self._emit(records(r, labels))

    def write(self, result: ImageResult) -> None:
        """Write one row per face (one row for an image without faces or with an error)."""
        self._check_open()
        if self._labels is None:
            if not result.faces:
                self._pending.append(result)
                return
            self._set_labels(tuple(result.faces[0].emotions.labels))
        self._emit(records(result, self._labels))

    def _finish(self) -> None:
        if self._labels is None:
            self._set_labels(())
        self._end()

    @abstractmethod
    def _start(self, columns: list[str]) -> None: ...

    @abstractmethod
    def _emit(self, rows: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def _end(self) -> None: ...


class CsvWriter(_TabularWriter):
    """CSV (RFC 4180: UTF-8, ``\\r\\n`` line ends, fields quoted as needed) with a header; missing values empty."""

    format = "csv"

    def __init__(self, path: str | Path | None, labels: Sequence[str] | None = None) -> None:
        super().__init__(path, labels)
        self._text = _TextOutput(self.path)
        self._csv: csv.DictWriter[str] | None = None
        self._begin()

    def _start(self, columns: list[str]) -> None:
        self._csv = csv.DictWriter(self._text.stream, fieldnames=columns, extrasaction="raise")
        self._csv.writeheader()

    def _emit(self, rows: list[dict[str, Any]]) -> None:
        assert self._csv is not None
        self._csv.writerows(rows)
        self._text.stream.flush()

    def _end(self) -> None:
        self._text.close()


class ParquetWriter(_TabularWriter):
    """Parquet (pyarrow), written in row groups of ``row_group_size`` rows."""

    format = "parquet"

    def __init__(
        self, path: str | Path | None, labels: Sequence[str] | None = None, row_group_size: int = 1000
    ) -> None:
        if _is_stdout(path):
            raise ConfigError("parquet output needs a file path, not standard output")
        if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
            raise ConfigError(f"row_group_size must be a positive integer, got {row_group_size!r}")
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingExtraError("pyarrow", "parquet") from None
        super().__init__(path, labels)
        self._pa, self._pq = pa, pq
        self._row_group_size = row_group_size
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema: Any = None
        assert self.path is not None
        self._file = _open_output(self.path, "wb")  # opened now, so a bad path fails before any work
        self._begin()

    def _start(self, columns: list[str]) -> None:
        pa = self._pa
        types = {"file": pa.string(), "width": pa.int32(), "height": pa.int32(), "face": pa.int32(),
                 "label": pa.string(), "identity": pa.string(), "error": pa.string()}  # fmt: skip
        self._schema = with_nullable_ints(pa.schema([(c, types.get(c, pa.float64())) for c in columns]))
        self._writer = self._pq.ParquetWriter(self._file, self._schema)

    def _emit(self, rows: list[dict[str, Any]]) -> None:
        self._rows.extend(rows)
        n = self._row_group_size
        while len(self._rows) >= n:
            self._write_group(self._rows[:n])
            self._rows = self._rows[n:]

    def _write_group(self, rows: list[dict[str, Any]]) -> None:
        table = self._pa.Table.from_pylist(rows, schema=self._schema)
        self._writer.write_table(table, row_group_size=self._row_group_size)
        self._file.flush()  # the group is on disk now, not in Python's file buffer

    def _end(self) -> None:
        try:
            if self._rows:
                self._write_group(self._rows)
                self._rows = []
            self._writer.close()
        finally:
            self._file.close()


def with_nullable_ints(schema: Any) -> Any:
    """``schema`` with pandas metadata that makes ``pandas.read_parquet`` give its integer columns as nullable
    integers (``Int32``, ``Int64``) rather than float64 when they hold nulls (``face`` of an image without faces).

    Other readers (pyarrow, Polars, DuckDB, Spark) read the Parquet types themselves and ignore the metadata.
    """
    import json as _json

    import pyarrow as pa

    columns = []
    for f in schema:
        if pa.types.is_integer(f.type):
            pandas_type, numpy_type = str(f.type), str(f.type).capitalize()  # int32 -> Int32 (nullable)
        elif pa.types.is_string(f.type):
            pandas_type, numpy_type = "unicode", "object"
        else:
            pandas_type = numpy_type = "float64" if pa.types.is_float64(f.type) else str(f.type)
        columns.append(
            {"name": f.name, "field_name": f.name, "pandas_type": pandas_type, "numpy_type": numpy_type}
            | {"metadata": None}
        )
    meta = {"index_columns": [], "column_indexes": [], "columns": columns, "creator": {"library": "emolens"}}
    return schema.with_metadata({**(schema.metadata or {}), b"pandas": _json.dumps(meta).encode()})


_LINE_BREAKS_JSON_KEEPS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_records(result: ImageResult) -> list[dict[str, Any]]:
    """One nested record per face (``file``, ``width``, ``height`` then ``Face.to_dict()``); an image with no
    face gives one record with ``face`` null, a failed one a record with ``error``."""
    head: dict[str, Any] = {"file": result.source, "width": result.width, "height": result.height}
    if result.error is not None:
        return [{**head, "face": None, "error": result.error}]
    if not result.faces:
        return [{**head, "face": None}]
    return [{**head, **face.to_dict()} for face in result.faces]


def _json_lines(result: ImageResult) -> list[str]:
    # UTF-8 text, but escape the three line breaks json.dumps leaves raw, so that no reader splits a record.
    return [json.dumps(r, ensure_ascii=False).translate(_LINE_BREAKS_JSON_KEEPS) for r in json_records(result)]


def utf8_text(value: str | None) -> str | None:
    """``value`` as valid UTF-8 text: an undecodable file name (lone surrogates) gets ``\\udcXX`` escapes."""
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_stdout(path: str | Path | None) -> bool:
    return path is None or str(path) == "-"


def _open_output(path: Path, mode: str) -> Any:
    try:  # the file is owned and closed by the writer
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding="utf-8", errors="backslashreplace", newline="")
    except OSError as e:
        raise ConfigError(f"cannot open output file for writing: {e.strerror or e}", str(path)) from None
