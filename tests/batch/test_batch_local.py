"""The local engine on real photos and a clip: the Parquet dataset, its agreement with Analyzer, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from emolens import Analyzer
from emolens.batch import face_columns, run_batch
from emolens.batch.plan import input_id
from emolens.errors import ConfigError, ModelError
from emolens.labels import FER2013


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("blazeface")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, photos: list[Path], clip: Path, fast):
    out = tmp_path_factory.mktemp("local") / "out"
    summary = run_batch([*photos, clip], out, video_stride=5, **fast)
    return out, summary


def test_dataset_reads_as_one_with_partitions_and_schema(local_run) -> None:
    out, summary = local_run
    dataset = ds.dataset(out / "faces", format="parquet", partitioning="hive")
    assert dataset.schema.names == [*face_columns(FER2013), "kind"]
    table = dataset.to_table()
    assert table.num_rows == summary.faces > 0
    assert set(table["kind"].to_pylist()) == {"photo", "video"}
    df = pd.read_parquet(out / "faces")  # pandas too, with the partition column
    assert len(df) == summary.faces and set(df["kind"].astype(str)) == {"photo", "video"}
    probs = df[[f"p_{lab}" for lab in FER2013]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert (df["label"] == np.array(FER2013)[probs.argmax(axis=1)]).all()
    inputs = pd.read_parquet(out / "inputs")
    assert len(inputs) == 4 and inputs["faces"].sum() == summary.faces


def test_photo_rows_match_analyzer(local_run, photos: list[Path], analyzer: Analyzer, read_faces) -> None:
    out, summary = local_run
    df = read_faces(out)
    photo_rows = df[df["kind"] == "photo"]
    for path in photos:
        result = analyzer.analyze(path)
        mine = photo_rows[photo_rows["input_id"] == input_id(str(path))].sort_values("face")
        assert len(mine) == len(result.faces), path.name
        assert (mine["source"] == str(path)).all()
        for face, (_, row) in zip(result.faces, mine.iterrows(), strict=True):
            assert [row.x1, row.y1, row.x2, row.y2] == pytest.approx(face.box.to_list(), abs=0.11)
            assert row.label == face.label
            assert row.p_happy == pytest.approx(face.emotions["happy"], abs=2e-4)
            assert row.le_x == pytest.approx(face.landmarks.to_list()[0][0], abs=0.11)
        assert mine["frame"].isna().all() and mine["smoothed_label"].isna().all()
    assert summary.done == 4 and summary.failed == 0 and summary.complete


def test_video_rows_match_analyze_video_with_stride(local_run, clip: Path, analyzer: Analyzer, read_faces) -> None:
    out, summary = local_run
    with analyzer.analyze_video(clip, every_n_frames=5) as run:
        frames = list(run)
    expected = [(f.index, face.track_id, face.smoothed_label) for f in frames for face in f.faces]
    rows = read_faces(out)
    rows = rows[rows["kind"] == "video"]
    assert len(expected) > 0
    assert list(zip(rows["frame"], rows["track_id"], rows["smoothed_label"], strict=True)) == expected
    assert (rows["frame"] % 5 == 0).all() and rows["timestamp"].notna().all()
    assert summary.frames == len(frames) == 28
    inputs = pd.read_parquet(out / "inputs").set_index("source")
    assert inputs.loc[str(clip), "frames_read"] == 138 and inputs.loc[str(clip), "frames_analysed"] == 28


def test_summary_and_failures_files(local_run) -> None:
    out, summary = local_run
    saved = json.loads((out / "summary.json").read_text())
    assert saved["done"] == 4 and saved["faces"] == summary.faces and saved["complete"] is True
    assert saved["engine"] == "local" and saved["workers"] == 1
    assert (out / "failures.jsonl").read_text() == ""
    assert not list(out.rglob(".*.tmp"))


def test_bad_inputs_are_reported_and_the_rest_finish(tmp_path: Path, photos, bad_inputs, fast, read_faces) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "missing.jpg"
    summary = run_batch([photos[0], bad_inputs["corrupt"], bad_inputs["text"], missing, photos[2]], out, **fast)
    assert (summary.done, summary.failed) == (2, 3)
    lines = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    by_source = {Path(f["source"]).name: f for f in lines}
    assert set(by_source) == {"truncated.jpg", "notes.jpg", "missing.jpg"}
    assert by_source["missing.jpg"]["kind"] is None and by_source["missing.jpg"]["error"] == "file not found"
    assert "truncated" in by_source["truncated.jpg"]["error"]
    assert by_source["notes.jpg"]["kind"] == "photo" and "\n" not in by_source["notes.jpg"]["error"]
    assert set(read_faces(out)["source"]) == {str(photos[0]), str(photos[2])}


def test_two_worker_processes_give_the_same_rows(tmp_path: Path, local_run, photos, clip, fast, read_faces) -> None:
    out, _ = local_run
    two = tmp_path / "two"
    summary = run_batch([*photos, clip], two, video_stride=5, workers=2, chunk_size=1, **fast)
    assert summary.workers == 2 and summary.threads == 1
    pd.testing.assert_frame_equal(read_faces(two), read_faces(out), check_exact=False, atol=2e-4)
    workers = set(pd.read_parquet(two / "inputs")["worker"])
    assert workers <= {"local-0", "local-1"} and workers


def test_model_error_from_workers_is_typed(tmp_path: Path, photos: list[Path], fast) -> None:
    with pytest.raises(ModelError):
        run_batch(photos[:1], tmp_path / "a", model="no-such-model", **fast)
    with pytest.raises(ModelError):
        run_batch(photos[:1], tmp_path / "b", model="no-such-model", workers=2, **fast)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "spark"}, "unknown engine"),
        ({"detector": "nope"}, "nope"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"video_stride": 0}, "video_stride"),
        ({"workers": 0}, "workers"),
        ({"address": "10.0.0.1:6379"}, "--address needs --engine ray"),
    ],
)
def test_bad_options(tmp_path: Path, photos: list[Path], options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        run_batch(photos[:1], tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()  # checked before the output folder is made
