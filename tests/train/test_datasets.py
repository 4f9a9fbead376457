"""Training data sources: FER2013 npz, the Kaggle csv and class-named folders, built from real FER2013 rows."""

import csv

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from emolens.errors import DataError
from emolens.labels import FER2013
from emolens.train.data import load_dataset


@pytest.fixture(scope="module")
def rows(data_dir):
    d = np.load(data_dir / "fer2013" / "sample_700_private.npz")
    return d["x"][:210], d["y"][:210]


@pytest.fixture(scope="module")
def kaggle_csv(rows, tmp_path_factory):
    x, y = rows
    path = tmp_path_factory.mktemp("kaggle") / "fer2013.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            w.writerow([int(label), " ".join(map(str, img.ravel())), "Training" if i < 150 else "PublicTest"])
    return path


@pytest.fixture(scope="module")
def folder(rows, tmp_path_factory):
    x, y = rows
    root = tmp_path_factory.mktemp("tree")
    for i, (img, label) in enumerate(zip(x[:70], y[:70], strict=True)):
        sub = root / FER2013[label].capitalize()  # folder names match the labels case-insensitively
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"{i}.png"), img)
    (root / "Happy" / "broken.jpg").write_bytes(b"not an image")
    return root


def test_kaggle_csv_rows_by_usage(kaggle_csv, rows):
    x, y = rows
    train = load_dataset(kaggle_csv)
    public = load_dataset(f"{kaggle_csv}:PublicTest")
    assert len(train) == 150 and len(public) == 60
    assert np.array_equal(train.x, x[:150]) and np.array_equal(public.y, y[150:])
    with pytest.raises(DataError, match="Usage 'PrivateTest'"):
        load_dataset(f"{kaggle_csv}:PrivateTest")
    with pytest.raises(DataError, match="ferplus_votes"):
        load_dataset(kaggle_csv, "ferplus")


def test_class_folders_read_as_labels(folder, rows):
    x, y = rows
    data = load_dataset(folder)
    assert len(data) == 70  # the unreadable file is left out
    assert sorted(data.y.tolist()) == sorted(y[:70].tolist())
    order = np.argsort(data.y, kind="stable")
    assert {img.tobytes() for img in data.x[order]} == {img.tobytes() for img in x[:70]}
    (folder / "Bored").mkdir()
    try:
        with pytest.raises(DataError, match="not a class"):
            load_dataset(folder)
    finally:
        (folder / "Bored").rmdir()
    with pytest.raises(DataError, match="no such data set"):
        load_dataset(folder / "missing.npz")


def test_train_from_csv_and_folder_with_one_cycle(kaggle_csv, folder, tmp_path, data_dir):
    import json

    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    cfg = preset(
        "small-test", train=str(kaggle_csv), val=str(folder), schedule="onecycle", limit_train=0, limit_val=0, threads=1
    )
    reports = Trainer(cfg, tmp_path / "run", data_dir).run()
    assert len(reports) == 1 and np.isfinite(reports[0].train_loss)
    counts = json.loads((tmp_path / "run" / "data.json").read_text())
    assert counts["train_images"] == 150 and counts["val_images"] == 70


def test_unknown_schedule_is_refused():
    from emolens.train.config import preset

    with pytest.raises(TypeError, match="schedule must be one of"):
        preset("small-test", schedule="step")


def test_class_folders_of_photos_are_detected_and_aligned_as_analyze_does(tmp_path, data_dir):
    import shutil

    import emolens
    from emolens.emotion import EmotionModel
    from emolens.registry import models_dir

    photo = models_dir().parent / "examples" / "astronaut.jpg"
    (tmp_path / "happy").mkdir()
    (tmp_path / "neutral").mkdir()
    shutil.copy(photo, tmp_path / "happy" / "astronaut.jpg")
    shutil.copy(data_dir / "photos" / "landscape.jpg", tmp_path / "neutral" / "landscape.jpg")  # no face: left out
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not an image")
    data = load_dataset(tmp_path, detector="retinaface")
    assert data.x.shape == (1, 48, 48) and data.y.tolist() == [FER2013.index("happy")]
    # The training crop is the face `emolens analyze` classifies: the same model gives the same probabilities.
    face = emolens.Analyzer("retinaface").analyze(photo).faces[0]  # the detector the data set used
    probs = EmotionModel("emotion-fer2013").predict(data.x)[0]
    expected = [face.emotions[label] for label in FER2013]
    np.testing.assert_allclose(probs, expected, atol=2e-3)
