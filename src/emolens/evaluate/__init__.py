"""Metrics, calibration and plots for labelled evaluation sets."""

from emolens.metrics import Report, classification_report, expected_calibration_error

__all__ = ["Report", "classification_report", "expected_calibration_error"]
