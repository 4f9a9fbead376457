"""The detector protocol and the registry of backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from emolens.errors import ConfigError
from emolens.types import Detection


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB uint8 image ``[H, W, 3]``; returns detections sorted by score, highest first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    def wrap(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available() -> list[str]:
    _import_backends()
    return sorted(_REGISTRY)


def create(name: str, **options: object) -> Detector:
    """Create a registered detector backend by name."""
    _import_backends()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown detector {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)


def _import_backends() -> None:
    # Backends register themselves on import; importing here keeps start-up lazy.
    from emolens.detect import blazeface, retinaface, yunet  # noqa: F401
