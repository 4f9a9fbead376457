"""The labelled 5x5 expression grid: every face found, and the clear expressions (happy, surprise) recognised."""

import json

import pytest

import emolens
from emolens.types import Box


@pytest.fixture(scope="module")
def grid(data_dir):
    meta = json.loads((data_dir / "photos" / "expression_grid.json").read_text())
    result = emolens.Analyzer().analyze(str(data_dir / "photos" / "expression_grid.jpg"))
    return meta, result


def _match(meta, result):
    """Label of each cell and the face found in it (None when no face sits in the cell)."""
    pairs = []
    for cell in meta["cells"]:
        cb = Box(*cell["cell_box"])
        inside = [f for f in result if cb.iou(f.box) > 0 and cb.x1 <= (f.box.x1 + f.box.x2) / 2 < cb.x2
                  and cb.y1 <= (f.box.y1 + f.box.y2) / 2 < cb.y2]
        pairs.append((cell["label"], inside[0] if len(inside) == 1 else None))
    return pairs


def test_one_face_per_cell(grid):
    meta, result = grid
    assert len(result) == 25
    assert all(face is not None for _, face in _match(meta, result))


def test_happy_and_surprise_cells_are_recognised(grid):
    meta, result = grid
    clear = [(label, face.label) for label, face in _match(meta, result) if label in ("happy", "surprise")]
    assert len(clear) == 10
    right = sum(truth == pred for truth, pred in clear)
    assert right >= 8, clear
