"""Every name that a script in scripts/ or research/ imports from emolens exists: the scripts are not run by the
suite, so a library change that removes or moves a name they use shows here, not the next time one is run."""

from __future__ import annotations

import ast
import importlib
import importlib.util

import pytest
from conversion_sources import REPO

FILES = sorted([*(REPO / "scripts").glob("*.py"), *(REPO / "research").glob("*.py")])


def emolens_imports(path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "emolens"
        for alias in node.names
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports_from_emolens_resolve(path):
    missing = []
    for module, name in emolens_imports(path):
        try:
            m = importlib.import_module(module)
        except ImportError as e:
            if e.name and e.name.split(".")[0] == "emolens":
                missing.append(f"{module} ({e})")
            continue  # an optional dependency of the script (locust, opensmile, ...)
        if not hasattr(m, name) and importlib.util.find_spec(f"{module}.{name}") is None:
            missing.append(f"{module}.{name}")
    assert not missing, missing


def test_the_scan_sees_a_missing_name(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("from emolens.errors import NoSuchError, ModelError\n")
    assert emolens_imports(p) == [("emolens.errors", "NoSuchError"), ("emolens.errors", "ModelError")]
    assert not hasattr(importlib.import_module("emolens.errors"), "NoSuchError")
