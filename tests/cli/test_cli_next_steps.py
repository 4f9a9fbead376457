"""Errors that say what to do next: a video given to ``analyze``, a photo given to ``video``, a mistyped model
name, a missing folder, a mistyped option. Each runs the real command on the shared clips and photos."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from emolens.cli.main import app
from emolens.errors import ModelError
from emolens.registry import get_model


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_analyze_a_video_says_to_use_video_and_a_missing_folder_is_not_counted(data_dir, tmp_path):
    out = tmp_path / "faces.jsonl"
    clip, photo = data_dir / "videos" / "stage_three.mp4", data_dir / "photos" / "couple.jpg"
    r = _run("analyze", str(clip), str(tmp_path / "no-such-folder"), str(photo), "-o", str(out))
    assert r.exit_code == 1, r.output  # some inputs failed, the photo was analysed
    text = " ".join(r.output.split())
    assert f"{clip}: a video, not a photo: read videos with `emolens video`" in text
    assert "no-such-folder: no such file or folder" in text and "file not found" not in text
    assert "1 image(s)" in text and "2 error(s)" in text  # the two failures are not counted as images
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(row.get("file") == str(photo) and row.get("face") is not None for row in rows)


def test_video_of_a_photo_is_an_error_that_names_analyze(data_dir, tmp_path):
    photo = data_dir / "photos" / "couple.jpg"
    r = _run("video", str(photo), "--output", str(tmp_path / "v"))
    assert r.exit_code != 0, r.output
    assert "a photo, not a video: read photos with `emolens analyze`" in " ".join(r.output.split())
    assert not (tmp_path / "v" / "timeline.png").exists()


def test_a_wrong_model_lists_models_of_its_kind_and_suggests_the_nearest():
    with pytest.raises(ModelError) as e:
        get_model("emotion-ferplu", task="emotion")
    line = e.value.message
    assert "did you mean 'emotion-ferplus'?" in line and "shipped emotion models: " in line
    assert "emotion-fer2013" in line
    for other in ("retinaface", "blazeface", "sface", "voice-ravdess", "text-en-goemotions", "silero-vad"):
        assert other not in line, line  # only emotion models are listed
    with pytest.raises(ModelError) as e:
        get_model("retinafce", task="detect")
    assert "no model named 'retinafce'; did you mean 'retinaface'? (shipped detectors: " in e.value.message
    assert "emotion" not in e.value.message


def test_a_wrong_model_on_the_command_line(data_dir, tmp_path):
    photo = str(data_dir / "photos" / "couple.jpg")
    r = _run("analyze", photo, "--model", "emotion-fer2031", "-o", str(tmp_path / "o"))
    text = " ".join(r.output.split())
    assert r.exit_code == 3 and "did you mean 'emotion-fer2013'?" in text and "retinaface" not in text, text


@pytest.mark.parametrize(
    ("args", "typo", "nearest"),
    [
        (["analyze", "x.jpg"], "--anotate", "--annotate"),
        (["video", "x.mp4"], "--anotate", "--annotate"),
        (["analyze", "x.jpg"], "--detecter", "--detector"),
    ],
)
def test_a_mistyped_option_suggests_only_the_nearest(args, typo, nearest):
    r = _run(*args, typo)
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert f"No such option: {typo}" in text and nearest in text, text
    assert "--no-tta" not in text and "," not in text.split("No such option", 1)[1], text  # one suggestion only
