"""Records as pandas DataFrames: many photo results (:func:`results_to_dataframe`) or video frames
(:func:`frames_to_dataframe`), with the columns of :mod:`emolens.types.records`.

Integer columns (``width``, ``height``, ``face``, ``frame``, ``track_id``) are nullable integers, so an image
without faces does not turn ``face`` into floats. Needs pandas (``emolens[pandas]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from emolens.errors import MissingExtraError
from emolens.types.records import (
    FrameResultLike,
    PhotoResultLike,
    frame_records,
    record_columns,
    records,
    table_columns,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["frames_to_dataframe", "results_to_dataframe"]


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("pandas", "pandas") from None
    return pd


def results_to_dataframe(results: Iterable[PhotoResultLike], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Collect photo results into a pandas DataFrame of :func:`~emolens.types.records.records` rows.

    Parameters
    ----------
    results : iterable of ImageResult
        The results (consumed once; held in memory, as a DataFrame is).
    labels : sequence of str, optional
        Label set of the ``p_<label>`` columns; defaults to every label seen on a face, in first-seen order.

    Returns
    -------
    pandas.DataFrame
        Columns :func:`~emolens.types.records.record_columns`; ``width``, ``height`` and ``face`` as ``Int64``.

    Raises
    ------
    MissingExtraError
        pandas is not installed.
    """
    pd = _pandas()
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


def frames_to_dataframe(results: Iterable[FrameResultLike], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Collect video results (e.g. an ``Analyzer.analyze_video(...)`` run, consumed and held in memory) into a
    pandas DataFrame: one row per face per analysed frame, columns :func:`~emolens.types.records.table_columns`
    (the ``p_``/``s_`` label set: ``labels``, else that of the first face), ``frame``, ``track_id`` and ``face``
    as ``Int64``. Raises ``MissingExtraError`` without pandas.
    """
    pd = _pandas()
    lab = None if labels is None else tuple(labels)
    rows: list[dict[str, Any]] = []
    for r in results:
        if lab is None and r.faces:
            lab = r.faces[0].emotions.labels
        if r.faces:
            rows.extend(frame_records(r, lab or ()))
    df = pd.DataFrame.from_records(rows, columns=table_columns(lab or ()))
    return df.astype({"frame": "Int64", "track_id": "Int64", "face": "Int64"})
