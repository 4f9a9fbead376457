"""`emolens train fusion`: the learned fuser fitted on real face, voice and text predictions (the shipped models on
their own test sets, the voice folds' out-of-fold report), saved where `emolens fuse --rule learned` loads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emolens.errors import DataError
from emolens.fusion import LearnedFusion, fuse
from emolens.labels import FER2013
from emolens.train.fusion import MODALITIES, build_tuples, fit_fuser, make_tuples, voice_probs

REPO = Path(__file__).resolve().parents[2]
VOICE_REPORT = REPO / "docs" / "results" / "voice_cnn_folds.json"
EMOLENS = str(Path(sys.executable).with_name("emolens"))


def test_tuples_keep_each_sample_in_one_half():
    rng = np.random.default_rng(0)
    ys = {m: rng.integers(0, len(FER2013), 200) for m in MODALITIES}
    train, test, labels = make_tuples(ys, 20, rng)
    assert len(labels["train"]) == len(labels["test"]) == 20 * len(FER2013)
    for m in MODALITIES:
        assert not set(train[m]) & set(test[m])
        assert (ys[m][train[m]] == labels["train"]).all() and (ys[m][test[m]] == labels["test"]).all()


def test_voice_report_is_read_and_a_wrong_one_refused(tmp_path):
    p, y = voice_probs(VOICE_REPORT)
    assert (
        p.shape == (1440, len(FER2013)) and np.allclose(p.sum(1), 1, atol=1e-3) and set(y) <= set(range(len(FER2013)))
    )
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"cv_accuracy_mean": 0.7}))
    with pytest.raises(DataError, match="out-of-fold predictions"):
        voice_probs(bad)


def test_fuser_learns_to_lean_on_the_reliable_modality():
    # the real voice predictions stand for every modality, one of them made noise: the fuser must beat it and the
    # rule-based mean, on held-out tuples
    p, y = voice_probs(VOICE_REPORT)
    rng = np.random.default_rng(0)
    probs = {"face": p, "voice": rng.dirichlet(np.full(len(FER2013), 0.3), len(y)), "text": p}
    tuples = build_tuples(probs, {m: y for m in MODALITIES}, 100, rng)
    fuser = fit_fuser(tuples.train_probs, tuples.train_labels, rng)
    full = np.ones(tuples.test_probs.shape[:2], bool)
    learned = (fuse(tuples.test_probs, full, rule="learned", model=fuser).argmax(1) == tuples.test_labels).mean()
    noise = (tuples.test_probs[:, 1].argmax(1) == tuples.test_labels).mean()
    assert learned > noise + 0.3 and learned > 0.6, (learned, noise)


def test_train_fusion_command_writes_a_fuser_that_fuse_loads(tmp_path):
    out = tmp_path / "fuser.json"
    r = subprocess.run(
        [EMOLENS, "train", "fusion", "--out", out, "--per-class", "60", "--voice", VOICE_REPORT],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["samples"]["face"] == 3573 and summary["samples"]["voice"] == 1440
    assert summary["tuples"] == {"train": 60 * len(FER2013), "held_out": 60 * len(FER2013)}
    fuser = LearnedFusion.load(out)
    assert fuser.modalities == MODALITIES and fuser.labels == tuple(FER2013)
