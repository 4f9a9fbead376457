"""The classification metrics, now in :mod:`emolens.metrics` (kept importable from here)."""

from emolens.metrics import (
    PairedComparison,
    Report,
    calibration_error,
    classification_report,
    expected_calibration_error,
    fit_temperature,
    mcnemar,
    reliability_points,
)

__all__ = [
    "PairedComparison",
    "Report",
    "calibration_error",
    "classification_report",
    "expected_calibration_error",
    "fit_temperature",
    "mcnemar",
    "reliability_points",
]
