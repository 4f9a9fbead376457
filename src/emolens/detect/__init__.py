"""Face detection backends behind one protocol; :mod:`emolens.registry` lists and builds them by name."""

from emolens.detect.base import Detector, OnnxDetector

__all__ = ["Detector", "OnnxDetector"]
