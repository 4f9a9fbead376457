"""Shipped model files and their typed manifests.

Each ``NAME.onnx`` (or ``NAME.npz``) sits beside ``NAME.json``, its manifest; :func:`get_model` finds a model by
name or manifest path, checks the manifest key by key (:mod:`emolens.models.manifests`) and the file's sha256, and
:func:`onnx_session` opens it. Listing and building detectors and models by name is :mod:`emolens.registry`'s job.
"""

from emolens.models.files import (
    ModelInfo,
    find_model,
    get_model,
    list_models,
    models_dir,
    new_manifest,
    sha256_file,
    shipped_manifests,
    unknown_model,
)
from emolens.models.manifests import (
    MANIFEST_TYPES,
    TASK_NOUNS,
    DetectorDefaults,
    DetectorManifest,
    EmbedderManifest,
    EmbedderPreprocessing,
    EmotionManifest,
    EmotionPreprocessing,
    LandmarksManifest,
    Manifest,
    SamePersonFit,
    TextManifest,
    VadManifest,
    VoiceInput,
    VoiceManifest,
    migrate,
    parse_manifest,
    read_manifest,
)
from emolens.models.session import OnnxModel, onnx_session, open_model

__all__ = [
    "MANIFEST_TYPES",
    "TASK_NOUNS",
    "DetectorDefaults",
    "DetectorManifest",
    "EmbedderManifest",
    "EmbedderPreprocessing",
    "EmotionManifest",
    "EmotionPreprocessing",
    "LandmarksManifest",
    "Manifest",
    "ModelInfo",
    "OnnxModel",
    "SamePersonFit",
    "TextManifest",
    "VadManifest",
    "VoiceInput",
    "VoiceManifest",
    "find_model",
    "get_model",
    "list_models",
    "migrate",
    "models_dir",
    "new_manifest",
    "onnx_session",
    "open_model",
    "parse_manifest",
    "read_manifest",
    "sha256_file",
    "shipped_manifests",
    "unknown_model",
]
