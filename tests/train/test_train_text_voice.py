"""`emolens train text` and `emolens train voice`: the option checks of the commands, a text model trained on the
real dair-ai corpus with a one-cell grid (exported, checked against scikit-learn, scored), and the voice training
loop on real RAVDESS clips, with its configs saved before and after the augmentation settings got their own type."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

EMOLENS = str(Path(sys.executable).with_name("emolens"))


def emolens(*args) -> subprocess.CompletedProcess:
    return subprocess.run([EMOLENS, *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "text"], "give --dataset or --multi"),
        (["train", "text", "--dataset", "imdb"], "--dataset must be one of goemotions, dair, smp, all"),
        (["train", "text", "--multi", "fr"], "--multi must be one of en, zh"),
        (["train", "voice"], "give exactly one of --folds"),
        (["train", "voice", "--full", "--fold", "2"], "give exactly one of --folds"),
        (["train", "voice", "--fold", "5"], "--fold"),
    ],
)
def test_train_text_and_voice_refuse_bad_options(args, message):
    r = emolens(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in " ".join(r.stderr.split()), r.stderr


def test_train_help_lists_the_subcommands():
    r = emolens("train", "--help")
    assert r.returncode == 0
    for word in ("text", "voice", "fusion", "--config", "--federated"):
        assert word in r.stdout
    r = emolens("train", "voice", "--help")
    for option in ("--folds", "--fold", "--full", "--export", "--features-only", "--runs", "--epochs", "--seed"):
        assert option in r.stdout
    for option in ("--threads", "--mixup", "--name", "--out", "--folds-dir", "--results"):
        assert option in r.stdout


def test_text_training_exports_a_model_that_matches_scikit_learn(tmp_path, monkeypatch, data_dir):
    from emolens.text.model import load_npz
    from emolens.train import text

    spec = dataclasses.replace(text.SPECS["dair"], features={"word1-2": [text.WORD12]}, classifiers=[("svc", 0.3)])
    monkeypatch.setitem(text.SPECS, "dair", spec)
    lines: list[str] = []
    result = text.train("dair", tmp_path / "models", tmp_path / "results", log=lines.append)
    manifest = json.loads((tmp_path / "models" / "text-en-dair.json").read_text())
    assert manifest["training"] == "emolens train text --dataset dair"
    assert manifest["task"] == "text" and manifest["file"] == "text-en-dair.npz" and manifest["head"] == "softmax"
    assert manifest["source_classes"] == list(spec.classes) and len(manifest["sha256"]) == 64
    assert result["parity_max_abs_diff"] <= 1e-3
    assert [r["classifier"] for r in result["grid"]] == ["svc"]
    # a linear SVM on word n-grams reads dair-ai's tweets well (the shipped grid reaches 0.90)
    assert 0.8 <= result["test"]["accuracy"] <= 1.0, result["test"]
    assert (tmp_path / "results" / "text_dair.json").exists() and any("selected" in line for line in lines)
    model = load_npz(tmp_path / "models" / "text-en-dair.npz", "text-en-dair")
    probs = model.probabilities(["i feel so happy and grateful today", "i am terrified of what comes next"])[0]
    assert probs.shape[0] == 2 and np.allclose(probs.sum(1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def clips(data_dir):
    pytest.importorskip("torch")
    import csv

    from emolens.io.audio import load_audio
    from emolens.train.voice_data import SPEEDS, Clip, clip_features
    from emolens.voice.frontend import FrontEnd

    root = data_dir / "audio" / "ravdess"
    rows = list(csv.DictReader(open(root / "metadata.csv", newline="")))
    rows = [r for r in rows if r["actor"] == "1"][::5] + [r for r in rows if r["actor"] == "2"][::10]  # 12 + 6
    fe = FrontEnd()
    out = []
    for r in rows:
        f = clip_features(load_audio(root / r["file"]).samples, fe).astype(np.float16)
        out.append(Clip(r["file"], int(r["actor"]), int(r["emotion_code"]) - 1, dict.fromkeys(SPEEDS, f)))
    return out


def test_voice_training_runs_resumes_and_saves_a_loadable_config(tmp_path, clips):
    from emolens.train.voice import VoiceConfig, load_final, train_run
    from emolens.train.voice_data import VoiceAugment

    cfg = VoiceConfig(epochs=2, batch=8, channels=(4, 8, 8, 8), augment=VoiceAugment(mixup_alpha=0.2))
    train, test = [c for c in clips if c.actor == 1], [c for c in clips if c.actor == 2]
    lines: list[str] = []
    result = train_run("t", train, test, dataclasses.replace(cfg, epochs=1), tmp_path, lines.append)
    assert len(result["history"]) == 1
    result = train_run("t", train, test, cfg, tmp_path, lines.append)  # resumes at epoch 1
    assert any("resumed at epoch 1" in line for line in lines)
    assert [h["epoch"] for h in result["history"]] == [1, 2] and 0 <= result["accuracy"] <= 1
    assert result["config"]["augment"]["mixup_alpha"] == 0.2
    model, loaded, _ = load_final(tmp_path)
    assert loaded == cfg
    x = np.asarray(clips[0].feats[1.0], np.float32)
    import torch

    from emolens.train.voice_data import eval_input

    with torch.inference_mode():
        assert model(eval_input(x)).shape == (1, 8)


def test_voice_config_reads_runs_saved_with_flat_augmentation_keys():
    from emolens.train.voice import VoiceConfig
    from emolens.train.voice_data import VoiceAugment

    cfg = VoiceConfig(epochs=90, augment=VoiceAugment(mixup_alpha=0.4, snr_db=(0.0, 20.0)))
    nested = json.loads(json.dumps(dataclasses.asdict(cfg)))  # as a checkpoint stores it (tuples become lists)
    flat = {k: v for k, v in nested.items() if k != "augment"} | nested["augment"]  # as older runs stored it
    assert VoiceConfig.from_dict(nested) == cfg
    assert VoiceConfig.from_dict(flat) == cfg
    assert VoiceConfig.from_dict({"epochs": 5}).augment == VoiceAugment()
