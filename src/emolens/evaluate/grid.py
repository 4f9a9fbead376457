"""Scoring a labelled grid photo: one face per cell, each cell with an expression label.

The grid's JSON lists ``cells`` with ``cell_box`` ([x1, y1, x2, y2] pixels) and ``label``
(as in ``../shared/datasets/photos/expression_grid.json``).
"""

from __future__ import annotations

from typing import Any

from emolens.types import Box, Face, ImageResult


def match_cells(meta: dict[str, Any], result: ImageResult) -> list[tuple[str, Face | None]]:
    """Each cell's label with the single face whose centre lies in the cell (None: no face, or several)."""
    pairs: list[tuple[str, Face | None]] = []
    for cell in meta["cells"]:
        cb = Box(*cell["cell_box"])
        inside = [
            f
            for f in result
            if cb.x1 <= (f.box.x1 + f.box.x2) / 2 < cb.x2 and cb.y1 <= (f.box.y1 + f.box.y2) / 2 < cb.y2
        ]
        pairs.append((cell["label"], inside[0] if len(inside) == 1 else None))
    return pairs


def grid_summary(meta: dict[str, Any], result: ImageResult) -> dict[str, Any]:
    """Faces found, cells matched, and label agreement overall and per label."""
    pairs = match_cells(meta, result)
    per_label: dict[str, list[int]] = {}
    for truth, face in pairs:
        right, total = per_label.setdefault(truth, [0, 0])
        per_label[truth] = [right + int(face is not None and face.label == truth), total + 1]
    return {
        "faces": len(result),
        "cells": len(pairs),
        "cells_with_one_face": sum(face is not None for _, face in pairs),
        "labels_right": sum(r for r, _ in per_label.values()),
        "per_label": {k: {"right": r, "of": n} for k, (r, n) in sorted(per_label.items())},
        "predictions": [(truth, face.label if face else None) for truth, face in pairs],
    }
