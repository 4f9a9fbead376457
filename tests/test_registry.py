"""Typed manifests (every shipped one loads into its dataclass; bad keys are one-line errors naming file and key;
old emotion manifests still load) and the registry as the one catalog of detectors and models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emolens import registry
from emolens.detect import Detector
from emolens.errors import ConfigError, ModelError
from emolens.models import (
    MANIFEST_TYPES,
    DetectorManifest,
    EmotionManifest,
    TextManifest,
    VoiceManifest,
    get_model,
    models_dir,
    read_manifest,
    shipped_manifests,
)


def _copy_model(name: str, tmp_path, edit=None):
    """A shipped model copied to ``tmp_path``, its manifest JSON passed through ``edit``; the manifest's path."""
    src = models_dir() / f"{name}.json"
    data = json.loads(src.read_text())
    shutil.copy(models_dir() / data["file"], tmp_path / data["file"])
    if edit is not None:
        edit(data)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


# --- manifests ----------------------------------------------------------------------------------------


def test_every_shipped_manifest_loads_into_its_kind_and_round_trips():
    manifests = shipped_manifests()
    assert {m.task for m in manifests.values()} == set(MANIFEST_TYPES)
    for name, m in manifests.items():
        assert type(m) is MANIFEST_TYPES[m.task], name
        assert m.name == name and (models_dir() / m.file).is_file()
        raw = json.loads((models_dir() / f"{name}.json").read_text())
        # nothing is lost on the way through the dataclass (a null value is left out)
        assert m.to_dict() == {k: v for k, v in raw.items() if v is not None}, name


def test_the_temperature_is_a_top_level_key_for_every_classifier():
    for name, m in shipped_manifests().items():
        raw = json.loads((models_dir() / f"{name}.json").read_text())
        assert "temperature" not in raw.get("preprocessing", {}), name
        if isinstance(m, EmotionManifest | TextManifest | VoiceManifest):
            assert "temperature" in raw and m.temperature == raw["temperature"], name
    m = get_model("emotion-fer2013", task="emotion").manifest
    raw = json.loads((models_dir() / "emotion-fer2013.json").read_text())
    assert isinstance(m, EmotionManifest) and 0.5 < m.temperature < 2 and m.temperature == raw["temperature"]


def test_an_old_emotion_manifest_is_migrated_on_load(tmp_path):
    def old_layout(d):
        d["preprocessing"]["temperature"] = d.pop("temperature")
        d["preprocessing"]["num_classes"] = len(d.pop("classes"))

    path = _copy_model("emotion-fer2013", tmp_path, old_layout)
    m = read_manifest(path)
    new = get_model("emotion-fer2013").manifest
    assert isinstance(m, EmotionManifest)
    assert (m.temperature, m.classes, m.preprocessing) == (new.temperature, new.classes, new.preprocessing)
    from emolens.emotion import EmotionModel

    crops = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    old_model, new_model = EmotionModel(str(path)), EmotionModel("emotion-fer2013")
    assert old_model.labels == new_model.labels and old_model.temperature == new_model.temperature
    np.testing.assert_allclose(old_model.predict(crops), new_model.predict(crops), atol=1e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("sha256"), "missing key 'sha256'"),
        (lambda d: d.update(colour="red"), "unknown key 'colour'"),
        (lambda d: d["defaults"].update(score_threshold="high"), "key 'defaults.score_threshold' must be a number"),
        (lambda d: d["defaults"].pop("nms_threshold"), "missing key 'defaults.nms_threshold'"),
        (lambda d: d.update(version=3), "key 'version' must be a string, got an integer"),
        (lambda d: d.update(task="detector"), "unknown task 'detector'"),
    ],
)
def test_a_bad_manifest_is_one_line_naming_file_and_key(tmp_path, edit, message):
    path = _copy_model("yunet", tmp_path, edit)
    with pytest.raises(ModelError) as e:
        get_model(str(path))
    text = str(e.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_manifest_with_a_bad_nested_type_and_bad_json(tmp_path):
    path = _copy_model("emotion-fer2013", tmp_path, lambda d: d["preprocessing"].update(grey="yes"))
    with pytest.raises(ModelError, match=r"key 'preprocessing.grey' must be true or false, got a string"):
        get_model(str(path))
    path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_manifest(path)


def test_a_model_of_another_kind_is_refused():
    with pytest.raises(ModelError, match="not an emotion model"):
        registry.load_emotion_model("yunet")
    with pytest.raises(ModelError, match="did you mean 'emotion-ferplus'"):
        registry.load_emotion_model("emotion-ferplu")


def test_writers_refuse_a_manifest_that_would_not_load(tmp_path):
    m = get_model("yunet").manifest
    assert isinstance(m, DetectorManifest)
    out = m.write(tmp_path / "yunet.json")
    assert read_manifest(out) == m
    from dataclasses import replace

    with pytest.raises(ModelError, match="key 'sha256' must be a string"):
        replace(m, sha256=None).write(tmp_path / "bad.json")  # type: ignore[arg-type]
    assert not (tmp_path / "bad.json").exists()


# --- the catalog -------------------------------------------------------------------------------------


def test_the_registry_lists_and_builds_every_detector():
    names = registry.detector_names()
    assert names == ["blazeface", "retinaface", "yunet"] and registry.DEFAULT_DETECTOR in names
    assert set(names) == set(registry.model_names("detect"))  # each backend ships its model
    for name in names:
        det = registry.build_detector(name, threads=1)
        assert isinstance(det, Detector) and det.name == name
        defaults = get_model(name).manifest.defaults
        assert det.score_threshold == defaults.score_threshold and det.nms_threshold == defaults.nms_threshold
        assert det.detect(np.zeros((64, 80, 3), np.uint8)) == []
    with pytest.raises(ConfigError, match=r"unknown detector 'yunett'; did you mean 'yunet'\?"):
        registry.build_detector("yunett")


def test_model_names_by_kind():
    assert sorted(registry.model_names("emotion")) == [
        "emotion-fer2013",
        "emotion-fer2013-int8",
        "emotion-ferplus",
        "emotion-ferplus-int8",
    ]
    assert registry.model_names("landmarks") == ["facemesh", "iris"]
    assert registry.model_names("vad") == ["silero-vad"]
    assert sorted(registry.model_names()) == sorted(p.stem for p in models_dir().glob("*.json"))
    with pytest.raises(ConfigError, match="unknown model kind"):
        registry.model_names("emotions")


def test_loaders_build_models_from_typed_manifests():
    em = registry.load_emotion_model("emotion-ferplus", threads=1)
    assert len(em.labels) == 8 and em.align_size == 48 and em.input_size == 40
    voice = registry.load_voice_model(threads=1)
    assert voice.min_frames == 16 and voice.frontend.n_mels == 64
    assert isinstance(voice.frontend.n_fft, int)  # integers stay integers through the manifest's checks
    assert voice.probs(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)).shape == (8,)
    text = registry.load_text_model("text-en-dair")
    assert text.language == "en" and text.head == "softmax"
    embedder = registry.load_embedder(threads=1)
    assert embedder.dim == 128 and embedder.same_probability(0.9) > 0.99
    mesh = registry.load_face_mesh(iris=False, threads=1)
    assert mesh.info.manifest.task == "landmarks"


def test_the_models_command_lists_from_the_registry():
    from typer.testing import CliRunner

    from emolens.cli.main import app

    r = CliRunner().invoke(app, ["models", "--kind", "landmarks", "--no-verify"])
    assert r.exit_code == 0, r.output
    assert "facemesh" in r.output and "iris" in r.output and "yunet" not in r.output
    r = CliRunner().invoke(app, ["models", "--kind", "detect"])
    assert r.exit_code == 0 and "detectors: blazeface, retinaface, yunet (default yunet)" in r.output
    r = CliRunner().invoke(app, ["models", "--kind", "faces"])
    assert r.exit_code != 0 and "unknown model kind 'faces'" in r.output


def test_new_manifest_takes_file_and_digest_from_the_model_file(tmp_path):
    from emolens.models import VoiceInput, new_manifest

    shipped = get_model("voice-ravdess")
    shutil.copy(shipped.path, tmp_path / "v.onnx")
    old = shipped.manifest
    m = new_manifest(
        VoiceManifest, tmp_path / "v.onnx", classes=old.classes, frontend=old.frontend, input=VoiceInput(min_frames=16)
    )
    assert (m.task, m.name, m.file, m.sha256) == ("voice", "v", "v.onnx", old.sha256) and len(m.version) == 10
    m.write(tmp_path / "v.json")
    info = get_model(str(tmp_path / "v.json"), task="voice")
    assert info.manifest == m and registry.load_voice_model(str(tmp_path / "v.json")).classes == old.classes
