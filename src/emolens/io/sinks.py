"""The output sinks: rows (dicts) in, one file (or standard output) out, in one of five formats.

Every command that writes records goes through these: ``emolens analyze`` (:mod:`emolens.io.writers`), the
frame tables of ``emolens video`` (:mod:`emolens.io.frames`), ``identify``, ``events``, ``text`` and ``voice``
(``emolens.cli.records``) and the Parquet parts of ``emolens batch``. Each sink streams: memory stays flat.

:class:`JsonLinesSink`
    One JSON object per line, flushed per write. The three line breaks ``json.dumps`` leaves raw (U+0085,
    U+2028, U+2029) are escaped, so no reader splits a record.
:class:`JsonSink`
    One JSON array: ``[`` on open, one element per line, ``]`` on close (valid after an exception inside the
    ``with`` block too).
:class:`CsvSink`
    CSV with a header (columns given, or the keys of the first row); missing values empty.
:class:`ParquetSink`
    Parquet (pyarrow) in row groups, with the declared column types (:class:`emolens.types.records.Column`).
:class:`TableSink`
    A Rich table on the terminal, or as plain text in a file.

Text is UTF-8 (undecodable file names keep ``\\udcXX`` escapes); ``None`` or ``"-"`` as the path is standard
output (not for Parquet).
"""

from __future__ import annotations

import csv
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, Self

from emolens.errors import ConfigError, MissingExtraError
from emolens.types.records import Column

__all__ = [
    "Closing",
    "CsvSink",
    "JsonLinesSink",
    "JsonSink",
    "ParquetSink",
    "Row",
    "Sink",
    "TableSink",
    "arrow_schema",
    "is_stdout",
    "json_cell",
    "json_line",
    "open_output",
    "require_pyarrow",
    "with_nullable_ints",
    "write_parquet",
]

Row = dict[str, Any]

_LINE_BREAKS_JSON_KEEPS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(record: Any) -> str:
    """``record`` as one line of JSON: UTF-8 text, with the line breaks ``json.dumps`` leaves raw escaped."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS_JSON_KEEPS)


def json_cell(value: Any) -> Any:
    """A CSV cell: lists, tuples and dicts as JSON text, anything else as it is."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list | tuple) else value


def is_stdout(path: str | Path | None) -> bool:
    return path is None or str(path) == "-"


def open_output(path: Path, mode: str, parents: bool = False) -> Any:
    """Open an output file the caller owns: text as UTF-8 (``newline=""``), or binary with ``"b"`` in ``mode``.

    Raises
    ------
    ConfigError
        It cannot be opened (or, with ``parents``, its folder cannot be made).
    """
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding="utf-8", errors="backslashreplace", newline="")
    except OSError as e:
        raise ConfigError(f"cannot open output file for writing: {e.strerror or e}", str(path)) from None


def require_pyarrow(extra: str = "parquet") -> Any:
    """The ``pyarrow`` module (with ``pyarrow.parquet`` loaded), or ``MissingExtraError`` naming ``extra``."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingExtraError("pyarrow", extra) from None
    return pyarrow


def arrow_schema(columns: Sequence[Column], pandas_nullable: bool = True) -> Any:
    """The Arrow schema of declared columns; with ``pandas_nullable``, :func:`with_nullable_ints` metadata."""
    pa = require_pyarrow()
    schema = pa.schema([(c.name, getattr(pa, c.dtype if c.dtype != "bool" else "bool_")()) for c in columns])
    return with_nullable_ints(schema) if pandas_nullable else schema


def with_nullable_ints(schema: Any) -> Any:
    """``schema`` with pandas metadata that makes ``pandas.read_parquet`` give its integer columns as nullable
    integers (``Int32``, ``Int64``) rather than float64 when they hold nulls (``face`` of an image without faces).

    Other readers (pyarrow, Polars, DuckDB, Spark) read the Parquet types themselves and ignore the metadata.
    """
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
    return schema.with_metadata({**(schema.metadata or {}), b"pandas": json.dumps(meta).encode()})


class Closing:
    """A context manager that calls ``close()`` on leaving the ``with`` block (writers and sinks)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sink(Closing, ABC):
    """Rows in, one output out; a context manager. ``close()`` finishes the output and is idempotent."""

    format: ClassVar[str]

    def __init__(self, path: str | Path | None) -> None:
        self.path: Path | None = None if is_stdout(path) else Path(path)  # type: ignore[arg-type]
        self.rows_written = 0
        self._closed = False

    def write(self, rows: Iterable[Row]) -> None:
        """Write rows (a group: the table sink prints one table per group unless it prints at the end)."""
        if self._closed:
            raise ConfigError(f"this {self.format} writer is closed", self.name)
        rows = list(rows)
        self._write(rows)
        self.rows_written += len(rows)

    @abstractmethod
    def _write(self, rows: list[Row]) -> None: ...

    def close(self) -> None:
        """Finish the output (footer, last row group, table at the end) and release it."""
        if not self._closed:
            self._closed = True
            self._finish()

    def abandon(self) -> None:
        """Release the output without finishing it (after a failure: no footer, no table at the end)."""
        if not self._closed:
            self._closed = True
            self._release()

    @abstractmethod
    def _finish(self) -> None: ...

    def _release(self) -> None:
        self._finish()

    @property
    def name(self) -> str:
        return "<stdout>" if self.path is None else str(self.path)


class _TextSink(Sink):
    """A UTF-8 text file the sink owns, or standard output (looked up at each use, never closed)."""

    def __init__(self, path: str | Path | None, parents: bool = False) -> None:
        super().__init__(path)
        self._file: IO[str] | None = None if self.path is None else open_output(self.path, "w", parents)

    @property
    def stream(self) -> IO[str]:
        return sys.stdout if self._file is None else self._file

    def _finish(self) -> None:
        self._release()

    def _release(self) -> None:
        self.stream.flush()
        if self._file is not None:
            self._file.close()


class JsonLinesSink(_TextSink):
    format = "jsonl"

    def _write(self, rows: list[Row]) -> None:
        self.stream.write("".join(json_line(r) + "\n" for r in rows))
        self.stream.flush()


class JsonSink(_TextSink):
    format = "json"

    def __init__(self, path: str | Path | None, parents: bool = False) -> None:
        super().__init__(path, parents)
        self.stream.write("[")
        self._count = 0

    def _write(self, rows: list[Row]) -> None:
        for r in rows:
            self.stream.write(("\n" if self._count == 0 else ",\n") + json_line(r))
            self._count += 1
        self.stream.flush()

    def _finish(self) -> None:
        self.stream.write("\n]\n" if self._count else "]\n")
        self._release()


class CsvSink(_TextSink):
    """CSV with a header: the ``columns`` given (now or by :meth:`set_columns`), else the first row's keys.

    ``extrasaction="raise"`` refuses keys outside the columns, ``"ignore"`` drops them; ``cell`` maps each value
    (e.g. :func:`json_cell`); ``lineterminator`` defaults to RFC 4180's ``\\r\\n``. A sink closed before any row
    still writes the header when it knows its columns.
    """

    format = "csv"

    def __init__(
        self,
        path: str | Path | None,
        columns: Sequence[str] | None = None,
        *,
        extrasaction: Literal["raise", "ignore"] = "raise",
        cell: Callable[[Any], Any] | None = None,
        lineterminator: str = "\r\n",
        parents: bool = False,
    ) -> None:
        super().__init__(path, parents)
        self._extrasaction: Literal["raise", "ignore"] = extrasaction
        self._cell = cell
        self._lineterminator = lineterminator
        self._csv: csv.DictWriter[str] | None = None
        self.columns: list[str] | None = None
        if columns is not None:
            self.set_columns(columns)

    def set_columns(self, columns: Sequence[str]) -> None:
        """Fix the columns and write the header."""
        self.columns = list(columns)
        self._csv = csv.DictWriter(
            self.stream, self.columns, extrasaction=self._extrasaction, lineterminator=self._lineterminator
        )  # type: ignore[arg-type]
        self._csv.writeheader()
        self.stream.flush()

    def _write(self, rows: list[Row]) -> None:
        if not rows:
            return
        if self._csv is None:
            self.set_columns(list(rows[0]))
        assert self._csv is not None
        cell = self._cell
        self._csv.writerows(rows if cell is None else ({k: cell(v) for k, v in r.items()} for r in rows))
        self.stream.flush()


class ParquetSink(Sink):
    """Parquet with the declared column types, in row groups of ``row_group_size`` rows (buffered until then).

    The file is opened on construction (a bad path fails before any work) and readable once closed, which also
    happens when the ``with`` block raises. ``columns`` may come later, by :meth:`set_columns`.
    """

    format = "parquet"

    def __init__(
        self,
        path: str | Path | None,
        columns: Sequence[Column] | None = None,
        row_group_size: int = 1000,
        *,
        pandas_nullable: bool = True,
    ) -> None:
        if is_stdout(path):
            raise ConfigError("parquet output needs a file path, not standard output")
        if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
            raise ConfigError(f"row_group_size must be a positive integer, got {row_group_size!r}")
        self._pa = require_pyarrow()
        super().__init__(path)
        self._row_group_size = row_group_size
        self._pandas_nullable = pandas_nullable
        self._rows: list[Row] = []
        self._writer: Any = None
        self.schema: Any = None
        assert self.path is not None
        self._file = open_output(self.path, "wb")
        if columns is not None:
            self.set_columns(columns)

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Fix the schema and start the file."""
        self.schema = arrow_schema(columns, self._pandas_nullable)
        self._writer = self._pa.parquet.ParquetWriter(self._file, self.schema)

    def _write(self, rows: list[Row]) -> None:
        self._rows.extend(rows)
        n = self._row_group_size
        while len(self._rows) >= n:
            self._write_group(self._rows[:n])
            self._rows = self._rows[n:]

    def _write_group(self, rows: list[Row]) -> None:
        table = self._pa.Table.from_pylist(rows, schema=self.schema)
        self._writer.write_table(table, row_group_size=self._row_group_size)
        self._file.flush()  # the group is on disk now, not in Python's file buffer

    def _finish(self) -> None:
        try:
            if self._writer is not None:
                if self._rows:
                    self._write_group(self._rows)
                    self._rows = []
                self._writer.close()
        finally:
            self._file.close()


def write_parquet(table: Any, path: str | Path) -> None:
    """Write a whole Arrow table as one Parquet file (the parts of ``emolens batch``)."""
    require_pyarrow().parquet.write_table(table, path)


class TableSink(_TextSink):
    """A Rich table per write, or one of all rows at the end (``at_end``); plain text (no colours) to a file."""

    format = "table"

    def __init__(
        self,
        path: str | Path | None,
        render: Callable[[list[Row]], Any],
        *,
        at_end: bool = True,
        parents: bool = False,
    ) -> None:
        from rich.console import Console

        super().__init__(path, parents)
        self._render = render
        self._at_end = at_end
        self._pending: list[Row] = []
        to_file = self.path is not None or not self.stream.isatty()
        self._console = Console(file=self.stream, width=200 if to_file else None, soft_wrap=to_file)

    def _write(self, rows: list[Row]) -> None:
        if self._at_end:
            self._pending.extend(rows)
        elif rows:
            self._console.print(self._render(rows))
            self.stream.flush()

    def _finish(self) -> None:
        if self._at_end:
            self._console.print(self._render(self._pending))
            self._pending = []
        self._release()
