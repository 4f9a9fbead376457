"""The default emotion model on faces from other sources than its training corpus: each `faces_extra` dev split
through the full photo path (detect, largest face, align, classify), with accuracy floors and a calibration bound.

The floors sit a little under the figures measured for the shipped model (docs/benchmarks.md, cross-source
suite), so a model that does worse on any one source fails here."""

import pytest

from emolens.evaluate.suite import find_sets, run_suite

# set: (accuracy floor, ECE bound), each a little under (over) the shipped default's figure of 2026-12-07
# (docs/benchmarks.md#cross-source-suite: accuracy 0.4141, 0.4716, 0.5823; ECE 0.113, 0.066, 0.138). The issue's
# targets (ExpW 0.60, SFEW 0.52, Taiwanese 0.80, ECE 0.06 on each) are not met yet: raise these as models improve.
FLOORS = {
    "expw dev": (0.40, 0.13),
    "sfew dev": (0.45, 0.08),
    "taiwanese dev": (0.56, 0.16),
}


@pytest.fixture(scope="module")
def dev_rows(data_dir):
    sets = [s for s in find_sets(data_dir) if s.kind == "images"]
    assert [s.name for s in sets] == list(FLOORS)
    return {r["set"]: r for r in run_suite(["emotion-fer2013"], data_dir, threads=1, sets=sets)}


@pytest.mark.parametrize("name", list(FLOORS))
def test_default_model_accuracy_floor(dev_rows, name):
    row = dev_rows[name]
    assert row["accuracy"] >= FLOORS[name][0], row
    assert row["no_face"] <= 0.01 * row["n"]  # the detector finds nearly every face, tight SFEW crops included


@pytest.mark.parametrize("name", list(FLOORS))
def test_default_model_calibration_bound(dev_rows, name):
    row = dev_rows[name]
    assert row["ece"] <= FLOORS[name][1], row
