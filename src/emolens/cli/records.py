"""One writer for the commands that print records: a Rich table, JSON, JSON Lines or CSV, to stdout or a file.

Every format streams, so memory stays flat on long inputs: JSON Lines and CSV write each record as it comes,
JSON writes one array element at a time, and a table is printed per group of records (``write(*records)``) or
once at the end (``table_at_end``). The same choices hold for every command:

- ``--output FILE`` with ``--format table`` writes the table as plain text to the file (no colours);
- CSV columns are given by the command (``csv_columns``) or else are the keys of the first record; values that
  are lists or dictionaries are written as JSON; keys outside the columns are left out;
- text is UTF-8 and JSON keeps non-ASCII characters as they are.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from emolens.errors import ConfigError


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
        self.count = 0
        self._pending: list[Record] = []
        self._csv: csv.DictWriter | None = None
        self._file: IO[str] = sys.stdout
        self._console: Console | None = None

    def __enter__(self) -> RecordWriter:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "w", encoding="utf-8", newline="")
            except OSError as e:
                raise ConfigError(f"cannot write ({e.strerror})", str(self.path)) from None
        if self.fmt is Format.table:
            to_file = self.path is not None or not self._file.isatty()
            self._console = Console(file=self._file, width=200 if to_file else None, soft_wrap=to_file)
        elif self.fmt is Format.json:
            self._file.write("[")
        return self

    def write(self, *records: Record) -> None:
        """Write records (one group: a table is printed per call unless ``table_at_end``)."""
        if not records:
            return
        if self.fmt is Format.jsonl:
            self._file.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        elif self.fmt is Format.json:
            for r in records:
                self._file.write(("," if self.count else "") + "\n" + json.dumps(r, ensure_ascii=False))
                self.count += 1
            self._file.flush()
            return
        elif self.fmt is Format.csv:
            if self._csv is None:
                columns = self.csv_columns or list(records[0])
                self._csv = csv.DictWriter(self._file, columns, extrasaction="ignore", lineterminator="\n")
                self._csv.writeheader()
            self._csv.writerows({k: _cell(v) for k, v in r.items()} for r in records)
        elif self.table_at_end:
            self._pending.extend(records)
        else:
            self._print_table(list(records))
        self.count += len(records)
        self._file.flush()

    def _print_table(self, records: list[Record]) -> None:
        assert self._console is not None
        self._console.print(self.table(records))

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                if self.fmt is Format.json:
                    self._file.write("\n]\n" if self.count else "]\n")
                elif self.fmt is Format.table and self.table_at_end:
                    self._print_table(self._pending)
                elif self.fmt is Format.csv and self._csv is None and self.csv_columns:
                    csv.writer(self._file, lineterminator="\n").writerow(self.csv_columns)
            self._file.flush()
        finally:
            if self.path is not None:
                self._file.close()


def _cell(v: Any) -> Any:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list | tuple) else v
