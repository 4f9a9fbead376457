"""Training beside FER2013 on cached faces of other sources: extra sets, balanced sampling, selection on the mean
over validation sets, FER+ votes as part soft labels, a temperature fitted on the pooled validation sets."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def source_cache(tmp_path_factory, data_dir):
    """A cached source in the layout of train/sources.py, made of real FER2013 faces (the real cache needs the
    detector over every faces_extra photo, which is too slow for a test)."""
    with np.load(data_dir / "fer2013" / "sample_700_private.npz") as d:
        x, y = d["x"][:300], d["y"][:300]
    split = np.array(["train"] * 200 + ["val"] * 60 + ["dev"] * 40)
    found = np.ones(300, bool)
    found[5] = False  # a face the detector missed is left out
    path = tmp_path_factory.mktemp("cache") / "src.npz"
    np.savez(
        path,
        x=x,
        xc=np.repeat(x[..., None], 3, 3),
        y=y,
        split=split,
        found=found,
        padded=np.zeros(300, bool),
        files=np.array([f"{i}.jpg" for i in range(300)]),
    )
    return path


def test_cached_split_loads_found_faces_only(source_cache):
    from emolens.train.data import load_dataset

    assert len(load_dataset(f"{source_cache}:train")) == 199
    assert len(load_dataset(f"{source_cache}:val")) == 60
    from emolens.errors import DataError

    with pytest.raises(DataError, match="no faces in split"):
        load_dataset(f"{source_cache}:nope")


def test_ferplus_votes_as_part_soft_labels(data_dir):
    from emolens.train.data import load_npz

    fs = load_npz(data_dir / "fer2013" / "sample_700_private.npz", "fer2013", ferplus_soft=0.3)
    assert fs.soft.shape == (700, 7)
    np.testing.assert_allclose(fs.soft.sum(1), 1, atol=1e-5)
    # The FER2013 label keeps at least 0.7 of the mass; where the voters disagree with it, some moves elsewhere.
    own = fs.soft[np.arange(700), fs.y]
    assert own.min() >= 0.7 - 1e-6 and (own < 0.99).mean() > 0.2


def test_train_with_extra_sources_selects_on_the_mean(source_cache, data_dir, tmp_path):
    from emolens.train.config import preset
    from emolens.train.export import export_run
    from emolens.train.loop import Trainer

    cfg = preset(
        "small-test",
        limit_train=192,
        threads=1,
        extra_train=(f"{source_cache}:train",),
        val_sets=(f"{source_cache}:val",),
        source_balance=0.0,
        epoch_size=256,
        ferplus_soft=0.3,
    )
    rep = Trainer(cfg, tmp_path, data_dir).run()[0]
    assert set(rep.val_per_set) == {cfg.val, f"{source_cache}:val"}
    assert rep.val_accuracy == pytest.approx(np.mean(list(rep.val_per_set.values())))
    data = json.loads((tmp_path / "data.json").read_text())
    assert data["train_images"] == [192, 199] and data["val_images"] == [256, 60]
    summary = export_run(tmp_path, "xs", tmp_path / "out", data_dir)
    manifest = json.loads((tmp_path / "out" / "xs.json").read_text())
    per = manifest["metrics"]["val_per_source"]
    assert set(per) == {cfg.val, f"{source_cache}:val"} and per[cfg.val]["n"] == 256
    assert "pooled" in manifest["metrics"]["temperature_fitted_on"]
    assert manifest["temperature"] == pytest.approx(summary["temperature"], abs=1e-4)


def test_source_shift_augmentation_changes_what_it_says():
    import torch

    from emolens.train.augment import AugmentConfig, source_shift

    x = torch.rand(64, 1, 40, 40)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(source_shift(x.clone(), AugmentConfig(), g), x)  # all off by default
    occluded = source_shift(x.clone(), AugmentConfig(occlude_p=1.0), g)
    # Every image has a flat band of rows (a mask or glasses): at least 6 rows with a single value.
    flat_rows = (occluded.std(dim=3) < 1e-6).sum(dim=2).flatten()
    assert (flat_rows >= 6).all()
    blurred = source_shift(x.clone(), AugmentConfig(lowres_p=1.0, lowres_scale=(0.3, 0.3)), g)
    assert blurred.diff(dim=3).abs().mean() < 0.5 * x.diff(dim=3).abs().mean()
    jpeg = source_shift(x.clone(), AugmentConfig(jpeg_p=1.0, jpeg_quality=(10, 11)), g)
    assert 0.01 < (jpeg - x).abs().mean() < 0.3 and jpeg.min() >= 0 and jpeg.max() <= 1


def test_the_data_note_names_the_sources_a_run_trained_on():
    from emolens.registry import models_dir
    from emolens.train.config import preset
    from emolens.train.export import DATA_NOTE
    from emolens.train.sources import extra_data_note

    shipped = json.loads((models_dir() / "emotion-fer2013.json").read_text())["data_note"]
    assert DATA_NOTE + extra_data_note(preset("fer2013-cnn-xsource2").extra_train) == shipped
    assert extra_data_note(()) == ""
    mine = extra_data_note(["../cache/taiwanese.npz:train", "mine/faces.npz"])
    assert "train split of the Taiwanese posed-expression set" in mine and "ExpW" not in mine
    assert mine.endswith(" Also trained on mine/faces.npz.")
