"""Results as pandas DataFrames: :func:`analyze_many` for photos, and the converters it shares with the writers.

``ImageResult.to_pandas()`` and ``FrameResult.to_pandas()`` give one result's rows;
:func:`emolens.io.writers.results_to_dataframe` and :func:`emolens.video.writers.frames_to_dataframe` collect
many. Integer columns (``width``, ``height``, ``face``, ``frame``, ``track_id``) are nullable integers, so an
image without faces does not turn ``face`` into floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from emolens.analyzer import Analyzer, AnalyzerOptions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze_many"]


def analyze_many(
    paths: str | Path | Iterable[str | Path], *, analyzer: Analyzer | None = None, **options: Unpack[AnalyzerOptions]
) -> pd.DataFrame:
    """Analyse photos (files, folders searched recursively, globs) into one DataFrame, one row per face.

    Parameters
    ----------
    paths : str, pathlib.Path or iterable of them
        What ``emolens analyze`` accepts.
    analyzer : Analyzer, optional
        A ready :class:`emolens.Analyzer` (reused; its models stay loaded); else one is made from ``options``.
    **options
        Passed to :class:`emolens.Analyzer` (``detector``, ``model``, ``min_face``, ...).

    Returns
    -------
    pandas.DataFrame
        The columns of ``emolens analyze --format csv`` (:func:`emolens.io.writers.record_columns`): an image
        without faces has one row with empty face columns; an unreadable file, or a path that matches nothing,
        has its ``error`` set (the rest go on).

    Raises
    ------
    MissingExtraError
        pandas is not installed.
    """
    from emolens.io.inputs import expand_inputs
    from emolens.io.writers import results_to_dataframe

    analyzer = analyzer if analyzer is not None else Analyzer(**options)
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    inputs = list(expand_inputs([str(p) for p in items]))
    # results_to_dataframe checks for pandas (MissingExtraError) before it takes the first, lazily made, result
    return results_to_dataframe(analyzer.iter_analyze(inputs))
