"""The shipped model files: where they are, which there are, and each one's manifest, its sha256 checked.

Nothing is ever downloaded: a model is ``NAME.onnx`` (or ``NAME.npz``) beside ``NAME.json`` in this package, or a
manifest path a user gives.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from emolens.errors import ModelError
from emolens.models.manifests import MANIFEST_TYPES, TASK_NOUNS, Manifest, read_manifest

M = TypeVar("M", bound=Manifest)


@dataclass(frozen=True)
class ModelInfo(Generic[M]):
    """A verified model: its name, the path of its weights and its typed manifest."""

    name: str
    path: Path
    manifest: M

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def manifest_path(self) -> Path:
        return self.path.parent / f"{self.path.stem}.json"


def models_dir() -> Path:
    """The folder of the shipped models."""
    return Path(str(resources.files("emolens.models")))


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_manifest(kind: type[M], path: str | Path, **fields: Any) -> M:
    """A manifest of one kind for the model file at ``path``, as writers build it: ``task`` is the kind's,
    ``file`` and ``sha256`` come from the file, ``name`` is its stem and ``version`` today's date unless given."""
    path = Path(path)
    fields.setdefault("name", path.stem)
    fields.setdefault("version", time.strftime("%Y.%m.%d"))
    return kind(task=_task_of(kind), file=path.name, sha256=sha256_file(path), **fields)


def _task_of(kind: type[Manifest]) -> str:
    return next(t for t, cls in MANIFEST_TYPES.items() if cls is kind)


def shipped_manifests() -> dict[str, Manifest]:
    """Every shipped model's manifest by name (checked, not hashed), in name order."""
    return {p.stem: read_manifest(p) for p in sorted(models_dir().glob("*.json"))}


def list_models(task: str | None = None) -> list[str]:
    """Names of the shipped models, optionally only those of one task (``detect``, ``emotion``, ...)."""
    return [name for name, m in shipped_manifests().items() if task is None or m.task == task]


def get_model(name_or_path: str, task: str | None = None) -> ModelInfo:
    """Find a model by shipped name, or by the path of a manifest (.json) or of a model file beside one.

    The model file's sha256 must equal the manifest's; a mismatch raises ``ModelError``. With ``task``, a model
    made for another task raises ``ModelError`` too, as does a manifest with a missing, unknown or mistyped key.
    """
    name_or_path = str(name_or_path)
    if task is not None and not _is_path(name_or_path):
        if not (models_dir() / f"{name_or_path}.json").exists():
            raise ModelError(unknown_model(name_or_path, task))
    info = _verified_model(name_or_path)
    if task is not None and info.task != task:
        what = TASK_NOUNS.get(task, f"a {task} model")
        raise ModelError(f"model {info.name!r} is a {info.task!r} model, not {what}", str(info.manifest_path))
    return info


def find_model(name_or_path: str, kind: type[M]) -> ModelInfo[M]:
    """:func:`get_model` for one kind of manifest, typed: ``find_model("yunet", DetectorManifest)``."""
    return cast(ModelInfo[M], get_model(name_or_path, _task_of(kind)))


def unknown_model(name: str, task: str | None) -> str:
    """One line for a model name that is not shipped: the nearest name and the models of that task only."""
    shipped = list_models(task)
    if task is None:
        kind = "models"
    else:  # "an emotion model" -> "emotion models"
        kind = TASK_NOUNS.get(task, f"a {task} model").split(" ", 1)[1] + "s"
    line = f"no model named {name!r}"
    close = difflib.get_close_matches(name, shipped, n=1, cutoff=0.5)
    if close:
        line += f"; did you mean {close[0]!r}?"
    return line + f" (shipped {kind}: {', '.join(shipped) or 'none'}; or the path of a model's .json or .onnx)"


def _is_path(name_or_path: str) -> bool:
    return Path(name_or_path).suffix in {".json", ".onnx", ".npz"}


@cache
def _verified_model(name_or_path: str) -> ModelInfo:
    """The model's manifest and path, its sha256 checked once per process."""
    p = Path(name_or_path)
    if _is_path(name_or_path) and p.exists():
        manifest_path = p.with_suffix(".json")
    else:
        manifest_path = models_dir() / f"{name_or_path}.json"
    if not manifest_path.exists():
        raise ModelError(unknown_model(name_or_path, None))
    manifest = read_manifest(manifest_path)
    path = manifest_path.parent / manifest.file
    if not path.exists():
        raise ModelError("model file is missing", str(path))
    digest = sha256_file(path)
    if digest != manifest.sha256:
        raise ModelError(f"sha256 mismatch (expected {manifest.sha256[:12]}…, found {digest[:12]}…)", str(path))
    return ModelInfo(manifest.name or manifest_path.stem, path, manifest)
