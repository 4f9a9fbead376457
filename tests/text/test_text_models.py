"""The shipped text models on the official test splits, and their files (hash, format, parity with scikit-learn)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emolens.errors import ModelError
from emolens.labels import FER2013
from emolens.registry import get_model, list_models
from emolens.text.evaluate import evaluate_text_model
from emolens.text.features import TfidfBlock, char_ngrams, char_wb_ngrams, word_ngrams
from emolens.text.model import load_npz, load_text_model

MODELS = ("text-en-goemotions", "text-en-dair", "text-zh-smp")


@pytest.mark.parametrize("name", MODELS)
def test_shipped_and_small(name):
    assert name in list_models("text")
    info = get_model(name)
    assert info.path.suffix == ".npz" and info.path.stat().st_size < 8e6
    m = info.manifest
    assert m.classes == FER2013 and m.language in ("en", "zh")
    for key in ("training", "metrics", "data_licence", "sha256"):
        assert getattr(m, key)


# Floors a little under the figures in docs/text.md (full official test splits).
def test_goemotions_test_multilabel_macro_f1(data_dir):
    r = evaluate_text_model(load_text_model("text-en-goemotions"), "goemotions", "test")
    assert r["n"] == 5427
    assert r["macro_f1"] >= 0.59, r["per_class_f1"]
    assert r["single_label"]["macro_f1"] >= 0.59
    assert min(r["per_class_f1"].values()) >= 0.35


def test_dair_test_accuracy(data_dir):
    r = evaluate_text_model(load_text_model("text-en-dair"), "dair", "test")
    assert r["n"] == 2000
    assert r["accuracy"] >= 0.89 and r["macro_f1"] >= 0.83
    assert r["face_labels"]["accuracy"] >= r["accuracy"]  # joy and love both count as happy


def test_smp_test_macro_f1(data_dir):
    r = evaluate_text_model(load_text_model("text-zh-smp"), "smp", "test")
    assert r["n"] == 5000
    assert r["macro_f1"] >= 0.70, r["per_class_f1"]


def test_hash_mismatch_is_refused(tmp_path):
    info = get_model("text-en-dair")
    shutil.copy(info.path, tmp_path / info.path.name)
    manifest = dict(info.manifest.to_dict(), sha256="0" * 64)
    (tmp_path / "text-en-dair.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="sha256"):
        load_text_model(str(tmp_path / "text-en-dair.json"))


def test_not_a_text_model_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, W=np.zeros((2, 2)))
    with pytest.raises(ModelError, match="not a text model"):
        load_npz(bad)
    with pytest.raises(ModelError):
        load_text_model("emotion-fer2013")  # an image model


def test_analyzers_match_scikit_learn():
    sk = pytest.importorskip("sklearn.feature_extraction.text")
    docs = [
        "Hello  world, it's a GREAT day!!\nnew line",
        "a",
        "",
        "今天 天气真好😀 ok",
        "don't   stop\tme now [NAME]",
    ]
    for analyzer, fn, rng in (
        ("word", word_ngrams, (1, 3)),
        ("char", char_ngrams, (1, 4)),
        ("char_wb", char_wb_ngrams, (2, 5)),
    ):
        build = sk.TfidfVectorizer(analyzer=analyzer, ngram_range=rng, lowercase=False).build_analyzer()
        for d in docs:
            assert fn(d, *rng) == build(d), (analyzer, d)


def test_tfidf_block_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.feature_extraction.text")
    train = ["I feel happy today", "i am so angry at you", "what a surprise, wow", "Sad sad news"]
    v = sk.TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(train)
    block = TfidfBlock("char_wb", (2, 4), True, True, dict(v.vocabulary_), v.idf_)
    for text in ["SAD, so sad", "wow happy", "zzz"]:
        dense = np.zeros(block.size)
        idx, val = block.transform_one(text)
        dense[idx] = val
        np.testing.assert_allclose(dense, v.transform([text]).toarray()[0], atol=1e-12)
