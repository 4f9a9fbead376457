"""The labelled 5x5 expression grid: every face found, and the clear expressions (happy, surprise) recognised."""

import json

import pytest

import emolens
from emolens.evaluate.grid import grid_summary, match_cells


@pytest.fixture(scope="module")
def grid(data_dir):
    meta = json.loads((data_dir / "photos" / "expression_grid.json").read_text())
    result = emolens.Analyzer().analyze(str(data_dir / "photos" / "expression_grid.jpg"))
    return meta, result


def test_one_face_per_cell(grid):
    meta, result = grid
    assert len(result) == 25
    assert all(face is not None for _, face in match_cells(meta, result))


def test_happy_and_surprise_cells_are_recognised(grid):
    meta, result = grid
    s = grid_summary(meta, result)
    clear = s["per_label"]["happy"]["right"] + s["per_label"]["surprise"]["right"]
    assert s["per_label"]["happy"]["of"] + s["per_label"]["surprise"]["of"] == 10
    assert clear >= 8, s["predictions"]
