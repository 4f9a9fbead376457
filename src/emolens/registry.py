"""The model registry: shipped ONNX files and their manifests, verified by sha256 before use.

A manifest is JSON with at least ``name``, ``file``, ``sha256`` and ``task``; emotion models add
``classes``, ``input_size``, ``preprocessing`` and ``metrics``. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from emolens.errors import ModelError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def task(self) -> str:
        return str(self.manifest.get("task", ""))


def models_dir() -> Path:
    return Path(str(resources.files("emolens.models")))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_models(task: str | None = None) -> list[str]:
    """Names of the shipped models, optionally only those of one task (``detect``, ``emotion``, ...)."""
    names = []
    for m in sorted(models_dir().glob("*.json")):
        manifest = json.loads(m.read_text())
        if task is None or manifest.get("task") == task:
            names.append(m.stem)
    return names


#: What each task's model is called in the one-line error for a model of the wrong task.
TASK_NOUNS: dict[str, str] = {
    "detect": "a detector",
    "emotion": "an emotion model",
    "embed": "a face embedder",
    "voice": "a voice model",
    "vad": "a voice activity detector",
    "text": "a text model",
}


def get_model(name_or_path: str, task: str | None = None) -> ModelInfo:
    """Find a model by shipped name, or by the path of a manifest (.json) or of an ONNX file beside one.

    The ONNX file's sha256 must equal the manifest's; a mismatch raises ``ModelError``. With ``task``, a model
    made for another task raises ``ModelError`` too.
    """
    if task is not None and Path(name_or_path).suffix not in {".json", ".onnx"}:
        if not (models_dir() / f"{name_or_path}.json").exists():
            raise ModelError(_unknown_model(name_or_path, task))
    info = _verified_model(name_or_path)
    if task is not None and info.task != task:
        what = TASK_NOUNS.get(task, f"a {task} model")
        raise ModelError(f"model {info.name!r} is a {info.task or 'untyped'!r} model, not {what}", str(info.path))
    return info


def _unknown_model(name: str, task: str) -> str:
    """One line for a model name that is not shipped: the nearest name and the models of that task only."""
    import difflib

    shipped = list_models(task)
    kind = TASK_NOUNS.get(task, f"a {task} model").split(" ", 1)[1] + "s"  # "an emotion model" -> "emotion models"
    line = f"no model named {name!r}"
    close = difflib.get_close_matches(name, shipped, n=1, cutoff=0.5)
    if close:
        line += f"; did you mean {close[0]!r}?"
    return line + f" (shipped {kind}: {', '.join(shipped) or 'none'}; or the path of a model's .json or .onnx)"


@cache
def _verified_model(name_or_path: str) -> ModelInfo:
    """The model's manifest and path, its sha256 checked once per process."""
    p = Path(name_or_path)
    if p.suffix in {".json", ".onnx"} and p.exists():
        manifest_path = p.with_suffix(".json")
    else:
        manifest_path = models_dir() / f"{name_or_path}.json"
    if not manifest_path.exists():
        known = ", ".join(list_models()) or "none"
        raise ModelError(f"no model named {name_or_path!r} (shipped: {known})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"manifest is not valid JSON ({e.msg})", str(manifest_path)) from None
    onnx_path = manifest_path.parent / manifest["file"]
    if not onnx_path.exists():
        raise ModelError("model file is missing", str(onnx_path))
    digest = sha256_file(onnx_path)
    if digest != manifest["sha256"]:
        raise ModelError(f"sha256 mismatch (expected {manifest['sha256'][:12]}…, found {digest[:12]}…)", str(onnx_path))
    return ModelInfo(manifest.get("name", manifest_path.stem), onnx_path, manifest)


def onnx_session(info: ModelInfo, threads: int = 0, device: str | None = None):
    """An ONNX Runtime session for a verified model; ``threads=0`` lets ONNX Runtime choose.

    ``device`` (``auto``, ``cpu``, ``cuda``, ``tensorrt``; default :func:`emolens.device.default_device`) picks
    the execution providers (:func:`emolens.device.providers_for`). A GPU that was asked for and is missing, or
    that fails to start, gives one :class:`emolens.device.DeviceFallbackWarning` and a CPU session.
    """
    import onnxruntime as ort

    from emolens.device import CPU, provider_names, providers_for, warn_fallback

    providers, notice = providers_for(device)
    if notice is not None:
        warn_fallback(notice)

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # errors only: the library does not write to the console (SFace's graph declares a batch of 1 for its
    # output, and ONNX Runtime warns on every batched call although the result is right)
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    # e.g. {"session.disable_quant_qdq": "1"} lets ONNX Runtime fold the weight-only DequantizeLinear nodes of a
    # block-quantised model into plain float weights once, at load, instead of on every call
    for key, value in (info.manifest.get("session_config") or {}).items():
        opts.add_session_config_entry(str(key), str(value))
    if len(providers) > 1:
        try:
            session = ort.InferenceSession(str(info.path), opts, providers=providers)
        except Exception as e:  # a GPU provider that cannot start (driver, CUDA or cuDNN libraries missing)
            warn_fallback(f"{provider_names(providers)[0]} could not start ({_first_line(e)}); running on the CPU")
        else:
            wanted = provider_names(providers)[0]
            if wanted not in session.get_providers():
                warn_fallback(f"{wanted} could not start; running on {session.get_providers()[0]}")
            return session
    try:
        return ort.InferenceSession(str(info.path), opts, providers=[CPU])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load model ({e})", str(info.path)) from None


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:120] + ("…" if len(text) > 120 else "")
