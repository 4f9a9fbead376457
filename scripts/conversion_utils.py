"""Helpers shared by the model conversion scripts (``convert_*.py``); not part of the library."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx


def canonical_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give weights, intermediate tensors and nodes names that depend only on the graph, in place.

    tf2onnx names folded constants and de-duplicated shape nodes (``const_fold_opt__733``,
    ``Shape__2301``, ...) differently from run to run, even with a fixed ``PYTHONHASHSEED``. After this,
    weights are ``w0, w1, ...`` in order of first use, tensors ``t0, t1, ...`` in order of production
    and nodes ``<index>_<op>``; graph inputs and outputs keep their names. The converted file is then
    the same byte for byte on every run, so its sha256 can be checked against the manifest.
    """
    g = model.graph
    inits = {t.name for t in g.initializer}
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    new: dict[str, str] = {}
    n_w = n_t = 0
    for node in g.node:
        for i in node.input:
            if i in inits and i not in new:
                new[i] = f"w{n_w}"
                n_w += 1
        for o in node.output:
            if o and o not in keep and o not in new:
                new[o] = f"t{n_t}"
                n_t += 1
    for k, node in enumerate(g.node):
        node.input[:] = [new.get(i, i) for i in node.input]
        node.output[:] = [new.get(o, o) for o in node.output]
        node.name = f"{k}_{node.op_type}"
    unused = [t.name for t in g.initializer if t.name not in new]
    if unused:
        raise ValueError(f"unused initializers: {unused[:5]}")
    copies = []
    for t in sorted(g.initializer, key=lambda t: int(new[t.name][1:])):
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = new[t.name]
        copies.append(c)
    del g.initializer[:]
    g.initializer.extend(copies)
    del g.value_info[:]
    return model


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
