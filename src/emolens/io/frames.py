"""The per-face table of a video (``frames.csv`` / ``frames.parquet``), written as the frames arrive.

Rows are :func:`emolens.types.records.frame_records` (columns :func:`emolens.types.records.frame_columns`), one
per face per analysed frame; a frame without faces has no row. CSV is flushed after every frame; Parquet is
written in row groups (readable once closed, which also happens when the run fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emolens.errors import ConfigError
from emolens.io.sinks import Closing, CsvSink, ParquetSink
from emolens.types.records import FrameResultLike, frame_columns, frame_records, table_columns

__all__ = ["TABLE_FORMATS", "FrameTableWriter", "open_table_writer"]

TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")


class FrameTableWriter(Closing):
    """Writes :func:`~emolens.types.records.frame_records` rows: ``csv`` (flushed per frame) or ``parquet``.

    Parameters
    ----------
    path : str or pathlib.Path
        The output file (its folder must exist).
    labels : sequence of str
        The emotion labels (``run.labels``).
    fmt : {"csv", "parquet"}, default "csv"
    row_group_size : int, default 1000
        Parquet rows per row group.
    attention : bool, default False
        Add the attention columns.
    """

    def __init__(
        self,
        path: str | Path,
        labels: Sequence[str],
        fmt: str = "csv",
        row_group_size: int = 1000,
        attention: bool = False,
    ) -> None:
        if fmt not in TABLE_FORMATS:
            raise ConfigError(f"unknown table format {fmt!r}; choose one of {', '.join(TABLE_FORMATS)}")
        self.path = Path(path)
        self.format = fmt
        self.labels = tuple(labels)
        self.attention = attention
        self.columns = table_columns(self.labels, attention)
        if fmt == "parquet":
            self._sink: CsvSink | ParquetSink = ParquetSink(
                self.path, frame_columns(self.labels, attention), row_group_size
            )
        else:
            if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
                raise ConfigError(f"row_group_size must be a positive integer, got {row_group_size!r}")
            self._sink = CsvSink(self.path, self.columns)

    @property
    def rows_written(self) -> int:
        return self._sink.rows_written

    def write(self, result: FrameResultLike) -> None:
        """Write the rows of one analysed frame."""
        self._sink.write(frame_records(result, self.labels, self.attention))

    def close(self) -> None:
        """Finish the file (Parquet: the last row group and the footer). Idempotent."""
        self._sink.close()


def open_table_writer(
    fmt: str, path: str | Path, labels: Sequence[str], row_group_size: int = 1000
) -> FrameTableWriter:
    """A :class:`FrameTableWriter` for ``fmt`` (``csv`` or ``parquet``)."""
    return FrameTableWriter(path, labels, fmt, row_group_size)
