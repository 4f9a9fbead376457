"""`emolens evaluate --suite`: every labelled set found in a data folder, one table, each model's mean."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emolens.evaluate.suite import find_sets

EMOLENS = [str(Path(sys.executable).with_name("emolens"))]


def test_finds_every_labelled_set(data_dir):
    sets = {s.name: s for s in find_sets(data_dir)}
    assert list(sets) == [
        "FER2013 PrivateTest",
        "FER+ majority",
        "expw dev",
        "sfew dev",
        "taiwanese dev",
        "expression grid",
    ]
    assert [len(sets[f"{s} dev"].items) for s in ("expw", "sfew", "taiwanese")] == [1123, 405, 237]
    assert all(it.box is None for it in sets["expw dev"].items)  # found as a user's photo would be


@pytest.fixture(scope="module")
def small_root(tmp_path_factory, data_dir):
    """A data folder with a FER2013-layout npz (700 rows), 14 Taiwanese dev photos and the expression grid."""
    root = tmp_path_factory.mktemp("data")
    (root / "fer2013").mkdir()
    (root / "fer2013" / "private_test.npz").symlink_to(data_dir / "fer2013" / "sample_700_private.npz")
    tw = root / "faces_extra" / "taiwanese"
    tw.mkdir(parents=True)
    (tw / "images").symlink_to(data_dir / "faces_extra" / "taiwanese" / "images")
    rows = list(csv.DictReader(open(data_dir / "faces_extra" / "taiwanese" / "labels.csv")))
    picked = [
        r
        for lab in ("angry", "happy", "sad", "surprise", "neutral", "fear", "disgust")
        for r in [r for r in rows if r["split"] == "dev" and r["label"] == lab][:2]
    ]
    with open(tw / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(picked + [r for r in rows if r["split"] == "train"][:3])  # train rows are not scored
    (root / "photos").mkdir()
    for name in ("expression_grid.jpg", "expression_grid.json"):
        (root / "photos" / name).symlink_to(data_dir / "photos" / name)
    return root


def test_suite_cli_prints_one_table_with_means(small_root, tmp_path):
    js = tmp_path / "suite.json"
    models = ["emotion-fer2013", "emotion-ferplus"]
    r = subprocess.run(
        [
            *EMOLENS,
            "evaluate",
            "--suite",
            "--data-root",
            str(small_root),
            "-o",
            str(js),
            "-q",
            *[a for m in models for a in ("-m", m)],
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(js.read_text())["rows"]
    sets = ["FER2013 PrivateTest", "FER+ majority", "taiwanese dev", "expression grid"]
    assert [(x["set"], x["model"]) for x in rows] == [(s, m) for s in sets for m in models] + [
        ("mean", m) for m in models
    ]
    by = {(x["set"], x["model"]): x for x in rows}
    assert by[("FER2013 PrivateTest", "emotion-fer2013")]["n"] == 700
    assert by[("taiwanese dev", "emotion-fer2013")]["n"] == 14
    assert by[("expression grid", "emotion-fer2013")]["n"] == 25
    # FER+ majority: an 8-class model keeps the contempt rows, a 7-class one leaves them out.
    assert by[("FER+ majority", "emotion-fer2013")]["n"] < by[("FER+ majority", "emotion-ferplus")]["n"]
    for m in models:
        mine = [by[(s, m)] for s in sets]
        assert by[("mean", m)]["accuracy"] == pytest.approx(sum(x["accuracy"] for x in mine) / 4, abs=1e-4)
        assert all(0 <= x["ece"] <= 1 and x["no_face"] >= 0 for x in mine)
    assert "cross-source suite" in r.stdout and "taiwanese dev" in r.stdout


def test_suite_honours_tta(small_root):
    """--tta reaches every model of the suite: mirrored faces change the scores of the npz rows."""
    from emolens.evaluate.suite import run_suite

    sets = [s for s in find_sets(small_root) if s.kind == "npz"][:1]
    plain, mirrored = (
        run_suite(["emotion-fer2013"], small_root, threads=1, sets=sets, tta=t)[0] for t in (False, True)
    )
    assert plain["n"] == mirrored["n"] == 700
    assert (plain["accuracy"], plain["ece"]) != (mirrored["accuracy"], mirrored["ece"])
