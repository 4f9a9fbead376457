"""``emolens batch --attention``: the attention columns of photos and video frames, equal to what ``analyze`` and
``video`` give for the same inputs, and the settings a run is checked and resumed with."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from emolens import Analyzer
from emolens.batch import run_batch
from emolens.cli.main import app
from emolens.errors import ConfigError
from emolens.session import attention_stage
from emolens.types.records import ATTENTION_COLUMNS, PHOTO_ATTENTION_COLUMNS, frame_records

VIDEO_ONLY = [c for c in ATTENTION_COLUMNS if c not in PHOTO_ATTENTION_COLUMNS]


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory, photos: list[Path], clip: Path) -> Path:
    out = tmp_path_factory.mktemp("batch") / "out"
    run_batch([photos[0], clip], out, threads=2, video_stride=4, attention={"cone": 30, "target": "camera"})
    return out


def test_photo_attention_equals_analyze(attention_run: Path, photos: list[Path], read_faces) -> None:
    df = read_faces(attention_run)
    rows = df[df["kind"] == "photo"].sort_values("face")
    assert set(ATTENTION_COLUMNS) <= set(df.columns)
    analyzer = Analyzer("yunet", attention=attention_stage(30.0, "camera", threads=2))
    faces = analyzer.analyze(photos[0]).faces
    assert len(rows) == len(faces) == 2
    for (_, row), face in zip(rows.iterrows(), faces, strict=True):
        assert face.pose is not None and face.attention is not None
        assert row["yaw"] == pytest.approx(face.pose.yaw, abs=0.051)  # the records round to 0.1°
        assert row["attending"] == face.attention.attending
        assert row["off_target"] == pytest.approx(face.attention.off_target, abs=0.051)
    assert rows[VIDEO_ONLY].isna().all().all()  # no blinks, focus spells or rates in a photo


def test_video_attention_equals_analyze_video(attention_run: Path, clip: Path, read_faces) -> None:
    rows = read_faces(attention_run)
    rows = rows[rows["kind"] == "video"].sort_values("frame").reset_index(drop=True)
    analyzer = Analyzer("yunet")
    with analyzer.analyze_video(clip, every_n_frames=4, attention=attention_stage(30.0, "camera", threads=2)) as run:
        want = pd.DataFrame(r for frame in run for r in frame_records(frame, analyzer.emotion.labels, attention=True))
    assert len(rows) == len(want) > 5
    assert rows["yaw"].notna().all() and rows["focus_s"].notna().any()
    cols = list(ATTENTION_COLUMNS)  # as numbers: bools 0/1, missing values NaN
    pd.testing.assert_frame_equal(rows[cols].astype(float), want[cols].astype(float), atol=0.051)


def test_settings_resume_and_refusals(tmp_path: Path, photos: list[Path], clip: Path) -> None:
    out = tmp_path / "out"
    run_batch([photos[1]], out)
    settings = json.loads((out / "_batch.json").read_text())["settings"]
    assert "attention" not in settings  # as folders written before the option existed: they still resume
    with pytest.raises(ConfigError, match=r"attention not set, not \{'cone': 25.0, 'target': 'camera'\}"):
        run_batch([photos[1]], out, attention=True)
    run_batch([photos[1]], out, overwrite=True, attention={"cone": 30, "target": " Camera "})
    assert json.loads((out / "_batch.json").read_text())["settings"]["attention"] == {"cone": 30.0, "target": "camera"}
    run_batch([photos[1]], out, attention={"cone": 30.0, "target": "camera"})  # the same settings: resumes
    with pytest.raises(ConfigError, match="other options"):
        run_batch([photos[1]], out, attention={"cone": 20})
    refused = [
        ({"target": "calibrate:2"}, "photos among the inputs: 1"),
        ({"target": "calibrate:-1"}, "positive number of seconds"),
        ({"target": "calibrated"}, "expected camera"),
        ({"target": 5}, "must be text"),
        ({"cone": 400}, "cone"),
        ({"cone": "20"}, "cone must be a number"),
        ({"cone": 30, "refine": 2}, "cone and target"),
    ]
    for attention, message in refused:
        with pytest.raises(ConfigError, match=message):
            run_batch([photos[1], clip], tmp_path / "bad", attention=attention)
        assert not (tmp_path / "bad").exists()  # refused before the output folder is made


def test_cli_attention_options(tmp_path: Path, photos: list[Path]) -> None:
    runner = CliRunner()
    got = runner.invoke(app, ["batch", str(photos[1]), "-o", str(tmp_path / "a"), "--cone", "20", "-q"])
    assert got.exit_code != 0 and "--cone and --target apply with --attention" in got.output
    got = runner.invoke(app, ["batch", str(photos[0]), "-o", str(tmp_path / "b"), "--attention", "-q"])
    assert got.exit_code == 0, got.output
    df = pd.read_parquet(tmp_path / "b" / "faces")
    assert len(df) == 2 and df["yaw"].notna().all() and df["attending"].notna().all()
