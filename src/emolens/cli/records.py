"""One writer for the commands that print records: a Rich table, JSON, JSON Lines or CSV, to stdout or a file.

Every format streams, so memory stays flat on long inputs: JSON Lines and CSV write each record as it comes,
JSON writes one array element at a time, and a table is printed per group of records (``write(*records)``) or
once at the end (``table_at_end``). The same choices hold for every command:

- ``--output FILE`` with ``--format table`` writes the table as plain text to the file (no colours);
- CSV columns are given by the command (``csv_columns``) or else are the keys of the first record; values that
  are lists or dictionaries are written as JSON; keys outside the columns are left out;
- text is UTF-8 and JSON keeps non-ASCII characters as they are.

The formats are the shared sinks of :mod:`emolens.io.sinks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.table import Table

from emolens.io.sinks import CsvSink, JsonLinesSink, JsonSink, Sink, TableSink, json_cell


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


Record = dict[str, Any]


def simple_table(columns: Sequence[str]) -> Callable[[list[Record]], Table]:
    """A table renderer showing ``columns`` of each record (empty cells for missing or ``None`` values)."""

    def render(records: list[Record]) -> Table:
        t = Table()
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in records:
            t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
        return t

    return render


class RecordWriter:
    """Writes records in one of the four formats; use as a context manager.

    Parameters
    ----------
    fmt
        The output format.
    output
        A file path, or ``None`` / ``"-"`` for standard output. Parent folders are created.
    table
        Renders a list of records as a Rich table (see :func:`simple_table`).
    csv_columns
        CSV header; default: the keys of the first record.
    table_at_end
        Print one table of all records at the end instead of one per ``write`` call.
    """

    def __init__(
        self,
        fmt: Format,
        output: str | Path | None,
        table: Callable[[list[Record]], Table],
        csv_columns: Sequence[str] | None = None,
        table_at_end: bool = True,
    ) -> None:
        self.fmt = fmt
        self.path = None if output in (None, "-") else Path(output)
        self.table = table
        self.csv_columns = list(csv_columns) if csv_columns else None
        self.table_at_end = table_at_end
        self._sink: Sink | None = None

    @property
    def count(self) -> int:
        """Records written so far."""
        return 0 if self._sink is None else self._sink.rows_written

    def __enter__(self) -> RecordWriter:
        if self.fmt is Format.table:
            self._sink = TableSink(self.path, self.table, at_end=self.table_at_end, parents=True)
        elif self.fmt is Format.json:
            self._sink = JsonSink(self.path, parents=True)
        elif self.fmt is Format.jsonl:
            self._sink = JsonLinesSink(self.path, parents=True)
        else:
            self._sink = CsvSink(self.path, self.csv_columns, extrasaction="ignore", cell=json_cell,
                                 lineterminator="\n", parents=True)  # fmt: skip
        return self

    def write(self, *records: Record) -> None:
        """Write records (one group: a table is printed per call unless ``table_at_end``)."""
        assert self._sink is not None, "use RecordWriter as a context manager"
        if records:
            self._sink.write(records)

    def __exit__(self, *exc: object) -> None:
        assert self._sink is not None
        if exc[0] is None:
            self._sink.close()
        else:
            self._sink.abandon()
