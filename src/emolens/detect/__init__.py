"""Face detection backends behind one protocol."""

from emolens.detect.base import Detector, available, create, register

__all__ = ["Detector", "available", "create", "register"]
