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
    happy, surprise = s["per_label"]["happy"], s["per_label"]["surprise"]
    assert happy["of"] == 5 and surprise["of"] == 5
    # The shipped model gets 5/5 happy and 3/5 surprise: of the other two surprise cells, one open-mouthed shouting
    # face reads as angry and one as fear (docs/model_card.md). A regression below 2/5 fails here.
    assert happy["right"] == 5, s["predictions"]
    assert surprise["right"] >= 2, s["predictions"]
