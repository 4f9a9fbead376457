"""FER+ votes: soft labels and the majority test protocol, on the shared FER2013 files."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.errors import DataError
from emolens.evaluate.runner import load_labelled_npz
from emolens.ferplus import ferplus_distribution, ferplus_majority, ferplus_plurality


def test_majority_protocol_by_hand():
    # columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    votes = np.array(
        [
            [6, 4, 0, 0, 0, 0, 0, 0, 0, 0],  # neutral 6 of 10
            [5, 4, 1, 0, 0, 0, 0, 0, 0, 0],  # the single surprise vote dropped: neutral 5 of 9
            [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],  # no majority
            [0, 0, 0, 0, 0, 0, 0, 0, 7, 3],  # unknown wins: left out
            [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],  # contempt 6 of 10 -> our 7
            [1, 0, 3, 0, 0, 0, 0, 0, 2, 0],  # surprise 3 of 5 -> our 5
        ]
    )
    assert ferplus_majority(votes).tolist() == [6, 6, -1, -1, 7, 5]
    d = ferplus_distribution(votes)
    assert d.shape == (6, 8) and np.allclose(d[1][[6, 3]], [5 / 9, 4 / 9]) and d[3].sum() == 0
    # Plurality keeps the tie (neutral 4, happiness 4: the lower of our labels, happy 3) and drops only the row
    # with no emotion vote.
    assert ferplus_plurality(votes).tolist() == [6, 6, 3, -1, 7, 5]


def test_private_test_majority_rows(data_dir):
    x, y = load_labelled_npz(data_dir / "fer2013" / "private_test.npz", labels="ferplus")
    assert len(x) == len(y) == 3152  # the "about 3,150" FER+ majority test rows
    assert set(np.unique(y)) == set(range(8))


def test_plurality_rows_are_the_majority_rows_and_the_ambiguous_ones(data_dir):
    path = data_dir / "fer2013" / "private_test.npz"
    _, y_all = load_labelled_npz(path, labels="ferplus-all")
    with np.load(path) as d:
        votes = d["ferplus_votes"]
    majority = ferplus_majority(votes)
    plurality = ferplus_plurality(votes)
    assert len(y_all) == (plurality >= 0).sum() > 3152
    # Where the crowd had a majority, the plurality is that majority.
    assert (plurality[majority >= 0] == majority[majority >= 0]).all()


def test_unknown_label_source_is_a_data_error(data_dir):
    with pytest.raises(DataError, match="unknown label source 'votes'"):
        load_labelled_npz(data_dir / "fer2013" / "private_test.npz", labels="votes")


def test_seven_class_model_cannot_be_scored_on_ferplus_labels(data_dir):
    from emolens import Analyzer
    from emolens.evaluate.runner import evaluate_npz

    with pytest.raises(DataError, match=r"labels go up to 7 but the model has 7 classes"):
        evaluate_npz(Analyzer(), data_dir / "fer2013" / "public_test.npz", limit=50, labels="ferplus")
