"""`emolens evaluate` on what users hold: a folder tree and a CSV (with and without boxes), and the --json and
--labels fixes."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emolens.analyzer import Analyzer
from emolens.errors import DataError
from emolens.evaluate.labelled import evaluate_images, read_csv, read_folder

EMOLENS = [str(Path(sys.executable).with_name("emolens"))]


def run(*args):
    return subprocess.run(EMOLENS + [str(a) for a in args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def taiwanese_rows(data_dir):
    """Three dev faces of each of the seven expressions (21 posed photos)."""
    root = data_dir / "faces_extra" / "taiwanese"
    rows = [r for r in csv.DictReader(open(root / "labels.csv")) if r["split"] == "dev"]
    picked = []
    for label in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"):
        picked += [r for r in rows if r["label"] == label][:3]
    return root, picked


def test_folder_and_csv_give_the_same_report(taiwanese_rows, tmp_path):
    root, rows = taiwanese_rows
    tree = tmp_path / "tree"
    for r in rows:
        (tree / r["label"].capitalize()).mkdir(parents=True, exist_ok=True)  # folder names are case-insensitive
        shutil.copy(root / "images" / r["file"], tree / r["label"].capitalize() / r["file"])
    table = tmp_path / "faces.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        for r in rows:
            w.writerow([root / "images" / r["file"], r["label"]])
    reports = {}
    for name, data in (("folder", tree), ("csv", table)):
        js = tmp_path / f"{name}.json"
        res = run("evaluate", "--data", data, "--input", "photos", "-o", js, "-q")
        assert res.returncode == 0, res.stderr
        reports[name] = json.loads(js.read_text())
    a, b = reports["folder"], reports["csv"]
    assert a["n"] == b["n"] == 21
    assert a["accuracy"] == b["accuracy"] and a["confusion"] == b["confusion"]
    # The class names stay a list (the label source no longer overwrites them).
    assert a["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert a["input"] == "photos" and a["errors"] == 0
    assert a["accuracy"] > 1 / 7  # above chance; the floors on whole dev splits are in test_cross_source.py


def test_csv_split_and_box_columns(data_dir):
    path = data_dir / "faces_extra" / "expw" / "labels.csv"
    dev = read_csv(path, "dev")
    assert len(dev) == 1123 and all(it.box is not None and it.path.exists() for it in dev[:20])
    with pytest.raises(DataError, match="no rows in split"):
        read_csv(path, "nope")


def test_a_box_picks_the_labelled_face(data_dir, tmp_path):
    """In a photo of two people, the box chooses whose face is scored; without one, the largest face is."""
    photo = data_dir / "photos" / "couple.jpg"
    an = Analyzer("retinaface", "emotion-fer2013")
    from emolens.io.images import load_image

    dets = sorted(an.detect(load_image(photo).rgb), key=lambda d: d.box.area)
    assert len(dets) == 2
    table = tmp_path / "two.csv"
    b = dets[0].box
    table.write_text(f"file,label,x1,y1,x2,y2\n{photo},happy,{b.x1},{b.y1},{b.x2},{b.y2}\n{photo},happy,,,,\n")
    items = read_csv(table)
    _, probs = evaluate_images(an, items, "photos")
    small = an.emotion.predict(an.emotion.crop(load_image(photo).rgb, dets[0])[None])[0]
    large = an.emotion.predict(an.emotion.crop(load_image(photo).rgb, dets[1])[None])[0]
    np.testing.assert_allclose(probs[0], small, atol=1e-6)
    np.testing.assert_allclose(probs[1], large, atol=1e-6)


def test_unknown_label_folder_is_one_line(tmp_path, data_dir):
    (tmp_path / "bored").mkdir()
    shutil.copy(data_dir / "photos" / "couple.jpg", tmp_path / "bored" / "a.jpg")
    assert len(read_folder(tmp_path)) == 1
    r = run("evaluate", "--data", tmp_path)
    assert r.returncode != 0 and "bored" in r.stderr and "Traceback" not in r.stderr


def test_ferplus_model_on_plain_npz_names_the_fix(tmp_path, data_dir):
    with np.load(data_dir / "fer2013" / "sample_700_private.npz") as d:
        np.savez(tmp_path / "plain.npz", x=d["x"][:50], y=d["y"][:50])
    r = run("evaluate", "--npz", tmp_path / "plain.npz", "-m", "emotion-ferplus")
    assert r.returncode != 0 and "--labels fer2013" in r.stderr and "Traceback" not in r.stderr
    js = tmp_path / "r.json"
    r = run("evaluate", "--npz", tmp_path / "plain.npz", "-m", "emotion-ferplus", "--labels", "fer2013", "-o", js)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert len(rep["labels"]) == 8 and rep["label_source"] == "fer2013" and rep["n"] == 50
