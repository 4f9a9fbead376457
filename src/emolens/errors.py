"""Typed errors. Each carries one line for a user and, where there is one, the file it concerns."""

from __future__ import annotations


class EmolensError(Exception):
    """Base of every error emolens raises on purpose."""

    def __init__(self, message: str, source: str | None = None) -> None:
        self.message = message
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class ImageError(EmolensError):
    """An input image is missing, unreadable, corrupt, too large or of an unsupported kind."""


class ModelError(EmolensError):
    """A model file is missing, fails its hash check, or does not match its manifest."""


class ConfigError(EmolensError):
    """An option or argument has a value emolens cannot use."""


class DataError(EmolensError):
    """A dataset file is missing or not in the expected layout."""


class MissingExtraError(EmolensError):
    """An optional feature needs a package that is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"this needs the '{package}' package: pip install 'emolens[{extra}]'")


class VideoError(EmolensError):
    """A video source cannot be opened or read: a missing, unreadable or truncated file, no camera, a dead stream."""


class AudioError(EmolensError):
    """An audio input is missing, unreadable, empty, too short, or holds no speech."""


class TextError(EmolensError):
    """A text input is empty, unreadable, or in a file/column that cannot be used."""


class GalleryError(EmolensError):
    """The identity gallery cannot be opened or changed: a corrupt database, an unknown person, a bad embedding."""


class PrivacyBudgetError(EmolensError):
    """A differentially private query would spend more of a gallery's privacy budget than is left."""
