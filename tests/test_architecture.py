"""The shape of the package, checked on its import graph (grimp, the graph library of import-linter).

- no import cycle between any two modules of emolens, inside a package or across packages;
- no module in ``src/`` over 450 lines;
- the public names of ``emolens`` stay importable;
- every layer that the import-linter contracts in ``pyproject.toml`` name exists (import-linter skips a layer
  written in parentheses while it is missing: this test keeps such a skip from hiding a typo or a module that was
  never created).

Imports inside functions and under ``if TYPE_CHECKING:`` count, as they do for import-linter: hiding an import in a
function does not undo a cycle. The layer rules themselves are checked by ``lint-imports`` (``.ci/run``).
Each failure lists every offender, not only the first.
"""

from __future__ import annotations

import importlib
import itertools
import re
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "emolens"
MAX_LINES = 450

#: The public API of ``emolens`` (``emolens.__all__``) as it stood when the layers were drawn: none may go.
PUBLIC_NAMES = (
    "Analyzer",
    "Box",
    "Detection",
    "EmolensError",
    "EmotionScores",
    "Face",
    "ImageError",
    "ImageResult",
    "Landmarks",
    "ModelError",
    "__version__",
    "analyze",
    "analyze_many",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("emolens", cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _one_loop(graph: grimp.ImportGraph, component: list[str]) -> str:
    """One concrete loop through a component's first module, with the line of each import: ``a:12 -> b:30 -> a``."""
    members = set(component)
    start = component[0]
    first = sorted(m for m in graph.find_modules_directly_imported_by(start) if m in members)[0]
    back = graph.find_shortest_chain(importer=first, imported=start) or (first, start)
    chain = (start, *back)
    hops = []
    for importer, imported in itertools.pairwise(chain):
        lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
        hops.append(f"{importer}:{','.join(map(str, lines))}")
    return " -> ".join([*hops, chain[-1]])


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i.split(".")[0] == "emolens"}
        for m in graph.modules
    }
    cycles = _cycles(edges)
    report = [f"{len(c)} modules: {', '.join(c)}\n    e.g. {_one_loop(graph, c)}" for c in cycles]
    assert not cycles, f"{len(cycles)} import cycle(s) (module:line of each import):\n" + "\n".join(report)


def test_no_module_over_the_size_limit() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in SRC.rglob("*.py")}
    over = sorted(((n, p) for p, n in sizes.items() if n > MAX_LINES), reverse=True)
    assert not over, f"{len(over)} module(s) over {MAX_LINES} lines:\n" + "\n".join(f"  {n:5d}  {p}" for n, p in over)


def test_public_names_importable() -> None:
    emolens = importlib.import_module("emolens")
    exported = set(emolens.__all__)
    lost = [n for n in PUBLIC_NAMES if n not in exported]
    broken = [n for n in sorted(exported | set(PUBLIC_NAMES)) if not hasattr(emolens, n)]
    assert not lost, f"names gone from emolens.__all__: {', '.join(lost)}"
    assert not broken, f"names in emolens.__all__ that `from emolens import ...` cannot import: {', '.join(broken)}"


def _contract_layers() -> list[tuple[str, str, bool]]:
    """``(contract id, module, optional)`` for every layer module named in the import-linter contracts."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    named = []
    for contract in config["contracts"]:
        if contract["type"] != "layers":
            continue
        containers = contract.get("containers") or [""]
        for layer in contract["layers"]:
            for item in re.split(r"[|:]", layer):
                name = item.strip()
                optional = name.startswith("(") and name.endswith(")")
                name = name.strip("()").strip()
                for container in containers:
                    named.append((contract["id"], f"{container}.{name}" if container else name, optional))
    return named


def test_every_contract_layer_exists(graph: grimp.ImportGraph) -> None:
    named = _contract_layers()
    assert named, "no layers contract found under [tool.importlinter] in pyproject.toml"
    missing = [
        f"  {module}  ({contract}{', optional' if opt else ''})"
        for contract, module, opt in named
        if module not in graph.modules
    ]
    assert not missing, (
        f"{len(missing)} layer module(s) named in pyproject.toml's import-linter contracts do not exist "
        "(create them, or fix the name):\n" + "\n".join(missing)
    )
