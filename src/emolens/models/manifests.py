"""Typed model manifests: one frozen dataclass per kind of model, checked key by key when a manifest is read.

A manifest is the JSON file beside a model (``NAME.json`` beside ``NAME.onnx`` or ``NAME.npz``). Every kind shares
``name``, ``version``, ``task``, ``file`` and ``sha256``; the ``task`` picks the dataclass:

========== ======================= ==================================================================
task       dataclass               what the library reads from it
========== ======================= ==================================================================
detect     :class:`DetectorManifest`   ``defaults`` (score and NMS thresholds, longest side)
emotion    :class:`EmotionManifest`    ``classes``, ``preprocessing`` (crop, normalisation, template), ``temperature``
embed      :class:`EmbedderManifest`   ``input_size``, ``embedding_dim``, ``template``, ``threshold``, ...
landmarks  :class:`LandmarksManifest`  (the input and output layout, for people)
voice      :class:`VoiceManifest`      ``classes``, ``frontend``, ``input.min_frames``, ``temperature``
vad        :class:`VadManifest`        ``decoding``
text       :class:`TextManifest`       ``language``, ``classes``, ``head``, ``temperature``, ``thresholds``
========== ======================= ==================================================================

The softmax temperature of a classifier is always the top-level ``temperature`` key. Manifests written before
that rule kept an emotion model's temperature (and a ``num_classes``) under ``preprocessing``;
:func:`migrate` moves them on load, so such files keep working.

A missing key, a key the kind does not know, or a value of the wrong type raises :class:`~emolens.errors.ModelError`
with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from emolens.errors import ModelError
from emolens.labels import labels_for

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Point = tuple[float, float]
T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The keys every model's manifest has; documentation keys (``source``, ``metrics``, ...) are free-form."""

    name: str
    version: str
    task: str
    file: str
    sha256: str
    architecture: str = ""
    licence: str = ""
    licence_file: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: ONNX Runtime session options, e.g. ``{"session.disable_quant_qdq": "1"}``.
    session_config: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data; optional keys left at an empty default are omitted."""
        return _to_dict(self)

    def to_json(self) -> str:
        """The manifest as the text of its ``.json`` file (two-space indent, a final newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the manifest to ``path`` (a ``.json`` file) and return the path.

        The written data is checked as a reader checks it first, so a writer cannot leave a manifest that does not
        load (``ModelError`` naming the key otherwise).
        """
        path = Path(path)
        parse_manifest(self.to_dict(), path, self.task)
        path.write_text(self.to_json(), encoding="utf-8")
        return path


@dataclass(frozen=True, kw_only=True)
class DetectorDefaults:
    score_threshold: float
    nms_threshold: float
    #: Longest image side fed to the network (``None``: the detector has a fixed input size).
    max_size: int | None = None


@dataclass(frozen=True, kw_only=True)
class DetectorManifest(Manifest):
    defaults: DetectorDefaults
    input: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    decoding: dict[str, Any] = field(default_factory=dict)
    landmarks: str = ""
    conversion: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EmotionPreprocessing:
    #: Side of the aligned crop.
    align_size: int
    #: Side of the centre crop fed to the network.
    input_size: int
    mean: float
    std: float
    #: The five landmark positions (left eye, right eye, nose, mouth left, mouth right) as fractions of the side.
    template: tuple[Point, ...]
    grey: bool = True


@dataclass(frozen=True, kw_only=True)
class EmotionManifest(Manifest):
    classes: tuple[str, ...]
    preprocessing: EmotionPreprocessing
    #: Softmax temperature fitted on the validation split.
    temperature: float = 1.0
    parameters: int | None = None
    training: dict[str, Any] = field(default_factory=dict)
    data_note: str = ""
    quantization: str = ""
    #: What a pruned model was pruned from (``emolens prune``).
    pruning: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EmbedderPreprocessing:
    colour: str = "BGR"
    range: tuple[float, float] = (0.0, 255.0)
    layout: str = "NCHW"
    alignment: str = ""


@dataclass(frozen=True, kw_only=True)
class SamePersonFit:
    """``P(same) = 1 / (1 + exp(-(a * cosine + b)))``."""

    a: float
    b: float
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class EmbedderManifest(Manifest):
    input_size: int
    embedding_dim: int
    #: Five-point template as fractions of ``input_size``; ``None``: the ArcFace template.
    template: tuple[Point, ...] | None = None
    preprocessing: EmbedderPreprocessing = field(default_factory=EmbedderPreprocessing)
    metric: str = "cosine"
    #: Cosine similarity above which two faces are the same person.
    threshold: float = 0.3
    threshold_note: str = ""
    same_person_probability: SamePersonFit | None = None


@dataclass(frozen=True, kw_only=True)
class LandmarksManifest(Manifest):
    input: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    conversion: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class VoiceInput:
    name: str = "logmel"
    shape: tuple[int | str, ...] = ()
    #: Shortest log-mel segment (frames) the network accepts.
    min_frames: int = 16


@dataclass(frozen=True, kw_only=True)
class VoiceManifest(Manifest):
    classes: tuple[str, ...]
    #: The log-mel front end's settings (``emolens.voice.frontend.FrontEnd``).
    frontend: dict[str, int | float]
    sample_rate: int = 16000
    input: VoiceInput = field(default_factory=VoiceInput)
    temperature: float = 1.0
    parameters: int | None = None
    frontend_notes: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    data_note: str = ""


@dataclass(frozen=True, kw_only=True)
class VadManifest(Manifest):
    input: dict[str, Any] = field(default_factory=dict)
    #: Speech decoding settings (thresholds and durations in seconds).
    decoding: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TextManifest(Manifest):
    language: str
    classes: tuple[str, ...]
    head: str
    source_classes: tuple[str, ...] = ()
    to_face: dict[str, str] = field(default_factory=dict)
    temperature: float = 1.0
    thresholds: tuple[float, ...] | None = None
    trained_on: tuple[str, ...] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    encoder: dict[str, Any] | None = None
    features: int | None = None
    training: str = ""
    evaluation: str = ""
    data_licence: str = ""


#: The dataclass of each task.
MANIFEST_TYPES: dict[str, type[Manifest]] = {
    "detect": DetectorManifest,
    "emotion": EmotionManifest,
    "embed": EmbedderManifest,
    "landmarks": LandmarksManifest,
    "voice": VoiceManifest,
    "vad": VadManifest,
    "text": TextManifest,
}

#: What each task's model is called in one-line errors.
TASK_NOUNS: dict[str, str] = {
    "detect": "a detector",
    "emotion": "an emotion model",
    "embed": "a face embedder",
    "landmarks": "a landmark model",
    "voice": "a voice model",
    "vad": "a voice activity detector",
    "text": "a text model",
}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """An older manifest's keys in today's places (a new dict; ``data`` is not changed).

    Emotion manifests kept the softmax ``temperature`` and a ``num_classes`` under ``preprocessing``; the
    temperature moves to the top, and ``num_classes`` gives the ``classes`` when those are missing.
    """
    out = dict(data)
    pre = out.get("preprocessing")
    if out.get("task") == "emotion" and isinstance(pre, dict):
        pre = dict(pre)
        if "temperature" in pre:
            t = pre.pop("temperature")
            out.setdefault("temperature", t)
        n = pre.pop("num_classes", None)
        if n is not None and "classes" not in out and isinstance(n, int):
            out["classes"] = list(labels_for(n))
        out["preprocessing"] = pre
    return out


def parse_manifest(data: object, path: str | Path, task: str | None = None) -> Manifest:
    """Check manifest data (as read from JSON) key by key and build its dataclass.

    Parameters
    ----------
    data
        The decoded JSON.
    path
        The manifest's file, named in errors.
    task
        When given, the manifest must be of this task.

    Raises
    ------
    ModelError
        On a missing, unknown or mistyped key, an unknown task, or a task other than ``task``.
    """
    src = str(path)
    if not isinstance(data, dict):
        raise ModelError(f"a manifest must be a JSON object, got {_kind(data)}", src)
    kind = data.get("task")
    if not isinstance(kind, str):
        raise ModelError("missing key 'task'" if kind is None else "key 'task' must be a string", src)
    if kind not in MANIFEST_TYPES:
        raise ModelError(f"unknown task {kind!r} (known: {', '.join(MANIFEST_TYPES)})", src)
    if task is not None and kind != task:
        name = data.get("name", Path(src).stem)
        raise ModelError(f"model {name!r} is a {kind!r} model, not {TASK_NOUNS.get(task, f'a {task} model')}", src)
    return _build(MANIFEST_TYPES[kind], migrate(data), src, "")


def read_manifest(path: str | Path, task: str | None = None) -> Manifest:
    """Read, migrate and check the manifest at ``path`` (see :func:`parse_manifest`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelError(f"cannot read the manifest ({e.strerror or e})", str(path)) from None
    except json.JSONDecodeError as e:
        raise ModelError(f"manifest is not valid JSON ({e.msg}, line {e.lineno})", str(path)) from None
    return parse_manifest(data, path, task)


# --- checking -----------------------------------------------------------------------------------------------


def _build(cls: type[T], data: dict[str, Any], src: str, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = "" if prefix else f" for {_noun(cls)}"
            raise ModelError(f"unknown key {prefix + str(key)!r}{where}", src)
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ModelError(f"missing key {prefix + name!r}", src)
            continue
        values[name] = _check(data[name], hints[name], src, prefix + name)
    return cls(**values)


def _check(value: Any, tp: Any, src: str, key: str) -> Any:
    """``value`` checked against the annotation ``tp`` (and converted: lists to tuples, ints to floats)."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, src, key)
            except ModelError:
                continue
        raise _mistyped(value, tp, src, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _mistyped(value, tp, src, key)
        return _build(tp, value, src, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise _mistyped(value, tp, src, key)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mistyped(value, tp, src, key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mistyped(value, tp, src, key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _mistyped(value, tp, src, key)
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise _mistyped(value, tp, src, key)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0], src, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ModelError(f"key {key!r} must have {len(args)} items, got {len(value)}", src)
        return tuple(_check(v, a, src, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise _mistyped(value, tp, src, key)
        return {str(k): _check(v, vt, src, f"{key}.{k}") for k, v in value.items()}
    raise TypeError(f"unsupported manifest annotation {tp!r}")  # a programming error, not a user's


def _mistyped(value: Any, tp: Any, src: str, key: str) -> ModelError:
    return ModelError(f"key {key!r} must be {_describe(tp)}, got {_kind(value)}", src)


def _describe(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "an object"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple or origin is list:
        return "a list"
    if origin is dict:
        return "an object"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}.get(
        tp, str(tp)
    )


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), "null" if value is None else type(value).__name__)


def _noun(cls: type) -> str:
    task = next(t for t, kind in MANIFEST_TYPES.items() if kind is cls)
    return f"{TASK_NOUNS[task]}'s manifest"


# --- writing ------------------------------------------------------------------------------------------------


def _to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if not required and value in (None, "", {}, ()):
                continue
            out[f.name] = _to_dict(value)
        return out
    if isinstance(obj, tuple | list):
        return [_to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_dict(v) for k, v in obj.items()}
    return obj
