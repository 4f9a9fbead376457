"""The catalog: the one way to list and build detectors and models by name.

The CLI, the service and batch runs ask this module which detectors and models there are
(:func:`detector_names`, :func:`model_names`) and build them (:func:`build_detector`, :func:`load_emotion_model`,
...). It sits above the stages it builds (``detect``, ``emotion``, ``embed``, ``landmarks``, ``voice``, ``text``);
the model files and their typed manifests are :mod:`emolens.models`, whose names are re-exported here for older
callers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emolens.detect.base import Detector
from emolens.detect.blazeface import BlazeFaceDetector
from emolens.detect.retinaface import RetinaFaceDetector
from emolens.detect.yunet import YuNetDetector
from emolens.errors import ConfigError
from emolens.models import (
    TASK_NOUNS,
    Manifest,
    ModelInfo,
    get_model,
    list_models,
    models_dir,
    onnx_session,
    sha256_file,
    shipped_manifests,
)
from emolens.models.files import _verified_model  # noqa: F401  (older callers clear its cache through this name)

if TYPE_CHECKING:
    from emolens.embed import FaceEmbedder
    from emolens.emotion.classifier import EmotionModel
    from emolens.landmarks.facemesh import FaceMesh
    from emolens.text.model import LinearTextModel
    from emolens.voice.analyzer import VoiceModel

__all__ = [
    "DEFAULT_DETECTOR",
    "TASK_NOUNS",
    "ModelInfo",
    "build_detector",
    "check_detector",
    "detector_names",
    "get_model",
    "list_models",
    "load_embedder",
    "load_emotion_model",
    "load_face_mesh",
    "load_text_model",
    "load_voice_model",
    "manifest",
    "model_names",
    "models_dir",
    "models_table",
    "onnx_session",
    "register_detector",
    "sha256_file",
]

#: The default detector of photos, videos and the service: the fastest that meets the recall bar measured in
#: docs/benchmarks.md ("Face detection"); ``"retinaface"`` is the thorough choice for crowds of tiny faces.
DEFAULT_DETECTOR = "yunet"

_DETECTORS: dict[str, Callable[..., Detector]] = {
    "blazeface": BlazeFaceDetector,
    "retinaface": RetinaFaceDetector,
    "yunet": YuNetDetector,
}

#: The model kinds :func:`model_names` knows (a manifest's ``task``).
KINDS: tuple[str, ...] = tuple(TASK_NOUNS)


def detector_names() -> list[str]:
    """The names of the detector backends, sorted."""
    return sorted(_DETECTORS)


def register_detector(name: str, factory: Callable[..., Detector]) -> None:
    """Add a detector backend: ``factory(**options)`` returns an object with ``detect(rgb) -> list[Detection]``."""
    _DETECTORS[name] = factory


def check_detector(name: str) -> str:
    """``name`` if it is a detector backend; else ``ConfigError`` with the nearest name and the list."""
    if name not in _DETECTORS:
        line = f"unknown detector {name!r}"
        close = difflib.get_close_matches(name, _DETECTORS, n=1, cutoff=0.5)
        if close:
            line += f"; did you mean {close[0]!r}?"
        raise ConfigError(f"{line} (available: {', '.join(detector_names())})")
    return name


def build_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """Build a detector backend by name; ``options`` go to its constructor (``score_threshold``, ``max_size``,
    ``threads``, ``min_face``, ``nms_threshold``, ``model``).

    Raises
    ------
    ConfigError
        On an unknown name or a bad option.
    ModelError
        If its model is missing or fails its sha256 check.
    """
    factory = _DETECTORS[check_detector(name)]
    try:
        return factory(**options)
    except TypeError as e:  # an option the backend does not take
        raise ConfigError(f"detector {name!r}: {e}") from None


def model_names(kind: str | None = None) -> list[str]:
    """Names of the shipped models, of one kind (``detect``, ``emotion``, ``embed``, ``landmarks``, ``voice``,
    ``vad``, ``text``) or all."""
    if kind is not None and kind not in TASK_NOUNS:
        raise ConfigError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    return list_models(kind)


def models_table() -> list[dict[str, Any]]:
    """One row per shipped model for listings: name, task, version, size in MB, classes and its manifest."""
    rows = []
    for name, m in shipped_manifests().items():
        rows.append(
            {
                "name": name,
                "task": m.task,
                "version": m.version,
                "size_mb": (models_dir() / m.file).stat().st_size / 1e6,
                "classes": tuple(getattr(m, "classes", ())),
                "manifest": m,
            }
        )
    return rows


def load_emotion_model(name: str | None = None, **options: Any) -> EmotionModel:
    """The emotion model ``name`` (default: the library's), its manifest and sha256 checked; ``options`` go to
    :class:`~emolens.emotion.classifier.EmotionModel` (``threads``, ``tta``, ``batch_size``)."""
    from emolens.emotion.classifier import DEFAULT_MODEL, EmotionModel

    return EmotionModel(name or DEFAULT_MODEL, **options)


def load_embedder(name: str | None = None, **options: Any) -> FaceEmbedder:
    """The face embedder ``name`` (default: the library's); ``options`` go to :class:`~emolens.embed.FaceEmbedder`
    (``threads``, ``batch_size``)."""
    from emolens.embed import DEFAULT_EMBEDDER, FaceEmbedder

    return FaceEmbedder(name or DEFAULT_EMBEDDER, **options)


def load_face_mesh(**options: Any) -> FaceMesh:
    """The face mesh (and iris) landmark models; ``options`` go to :class:`~emolens.landmarks.facemesh.FaceMesh`."""
    from emolens.landmarks.facemesh import FaceMesh

    return FaceMesh(**options)


def load_voice_model(name: str | None = None, **options: Any) -> VoiceModel:
    """The voice emotion model ``name`` (default: the library's)."""
    from emolens.voice.analyzer import DEFAULT_VOICE_MODEL, VoiceModel

    return VoiceModel(name or DEFAULT_VOICE_MODEL, **options)


def load_text_model(name: str) -> LinearTextModel:
    """The text emotion model ``name`` (or a manifest path)."""
    from emolens.text.model import load_text_model as load

    return load(name)


def manifest(name: str) -> Manifest:
    """The typed, verified manifest of a shipped model (or of a manifest path)."""
    return get_model(name).manifest
