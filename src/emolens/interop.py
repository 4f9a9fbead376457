"""Results to and from ``supervision.Detections``: kept importable; the code is :mod:`emolens.types.supervision`."""

from emolens.types.supervision import from_detections, to_detections

__all__ = ["from_detections", "to_detections"]
