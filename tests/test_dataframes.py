"""Results in the ecosystem: DataFrames, numpy views, Parquet integer types, supervision.Detections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emolens
from emolens import Analyzer
from emolens.types import FrameResult, ImageResult

pd = pytest.importorskip("pandas")
EMOLENS = str(Path(sys.executable).with_name("emolens"))


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("retinaface", threads=1)


@pytest.fixture(scope="module")
def tvshow(analyzer: Analyzer, data_dir: Path) -> ImageResult:
    return analyzer.analyze(data_dir / "photos" / "group_tvshow.jpg")


def test_numpy_views_match_the_faces(tvshow: ImageResult) -> None:
    n = len(tvshow)
    assert n >= 35
    assert tvshow.xyxy.shape == (n, 4) and tvshow.xyxy.dtype == np.float32
    assert tvshow.confidence.shape == (n,) and tvshow.class_id.dtype == np.int64
    assert tvshow.emotion_probs.shape == (n, 7)
    for k, f in enumerate(tvshow):
        np.testing.assert_allclose(tvshow.xyxy[k], [f.box.x1, f.box.y1, f.box.x2, f.box.y2], rtol=1e-6)
        assert tvshow.confidence[k] == pytest.approx(f.score, rel=1e-6)
        assert f.emotions.labels[tvshow.class_id[k]] == f.label
    np.testing.assert_allclose(tvshow.emotion_probs.sum(axis=1), 1, atol=1e-4)
    empty = ImageResult("x.jpg", 10, 10)
    assert empty.xyxy.shape == (0, 4) and empty.class_id.shape == (0,) and empty.confidence.shape == (0,)


def test_image_result_to_pandas(tvshow: ImageResult) -> None:
    df = tvshow.to_pandas()
    assert len(df) == len(tvshow)
    assert df["face"].tolist() == list(range(len(tvshow)))
    assert str(df["face"].dtype) == "Int64" and str(df["width"].dtype) == "Int64"
    assert (df["label"] == [f.label for f in tvshow]).all()
    np.testing.assert_allclose(df[["x1", "y1", "x2", "y2"]].to_numpy(float), tvshow.xyxy, atol=0.051)
    np.testing.assert_allclose(df["p_happy"], [f.emotions["happy"] for f in tvshow], atol=5e-5)


def test_analyze_many_one_dataframe_with_bad_inputs_reported(analyzer: Analyzer, data_dir: Path, tmp_path) -> None:
    photos = data_dir / "photos"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    df = emolens.analyze_many(
        [photos / "couple.jpg", photos / "landscape.jpg", tmp_path / "broken.jpg", tmp_path / "missing.jpg"],
        analyzer=analyzer,
    )
    by_file = {Path(f).name: g for f, g in df.groupby("file")}
    assert len(by_file["couple.jpg"]) == 2 and by_file["couple.jpg"]["error"].isna().all()
    assert by_file["landscape.jpg"]["face"].isna().all() and len(by_file["landscape.jpg"]) == 1
    assert by_file["broken.jpg"]["error"].notna().all() and by_file["missing.jpg"]["error"].notna().all()
    assert str(df["face"].dtype) == "Int64"  # nullable: the landscape's missing face does not make it float


def test_frame_results_to_pandas(data_dir: Path) -> None:
    run = Analyzer("blazeface", threads=1).analyze_video(data_dir / "videos" / "stage_three.mp4", max_frames=6)
    frames: list[FrameResult] = list(run)
    df = frames[-1].to_pandas()
    assert len(df) == len(frames[-1]) == 3
    assert df["frame"].tolist() == [5, 5, 5] and str(df["track_id"].dtype) == "Int64"
    assert df["track_id"].tolist() == frames[-1].tracker_id.tolist()
    assert frames[-1].xyxy.shape == (3, 4)


def test_parquet_keeps_integer_columns(data_dir: Path, tmp_path: Path) -> None:
    """An image without faces leaves ``face`` empty; pandas still reads it as integers (it read float64 before)."""
    out = tmp_path / "faces.parquet"
    photos = data_dir / "photos"
    r = subprocess.run(
        [
            EMOLENS,
            "analyze",
            str(photos / "couple.jpg"),
            str(photos / "landscape.jpg"),
            "-f",
            "parquet",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert {c: str(df[c].dtype) for c in ("width", "height", "face")} == {
        "width": "Int32",
        "height": "Int32",
        "face": "Int32",
    }
    assert df["face"].isna().sum() == 1 and df["face"].dropna().tolist() == [0, 1]
    assert str(df["p_happy"].dtype) == "float64" and df["label"].dropna().tolist()
    import pyarrow.parquet as pq

    assert str(pq.read_schema(out).field("face").type) == "int32"  # other readers see the Parquet type


def test_supervision_round_trip_annotators_and_tracker(tvshow: ImageResult, data_dir: Path) -> None:
    sv = pytest.importorskip("supervision")
    from emolens.interop import from_detections
    from emolens.io import load_image

    det = tvshow.to_supervision()
    assert len(det) == len(tvshow)
    np.testing.assert_array_equal(det.xyxy, tvshow.xyxy)
    np.testing.assert_array_equal(det.class_id, tvshow.class_id)
    assert list(det.data["class_name"]) == [f.label for f in tvshow]
    # supervision's own tools work on the faces
    rgb = load_image(data_dir / "photos" / "group_tvshow.jpg").rgb
    drawn = sv.BoxAnnotator().annotate(rgb.copy(), det)
    assert (drawn != rgb).any(axis=-1).sum() > 1000
    happy = det[det.data["class_name"] == "happy"]
    assert 0 < len(happy) < len(det)
    labelled = sv.LabelAnnotator().annotate(rgb.copy(), det, labels=list(det.data["class_name"]))
    assert (labelled != rgb).any(axis=-1).sum() > 1000
    det.tracker_id = np.arange(len(det)) + 101  # ids as a tracker of that ecosystem gives them
    tracked = sv.DetectionsSmoother().update_with_detections(det)
    assert len(tracked) == len(det) and sorted(tracked.tracker_id) == list(range(101, 101 + len(det)))
    # and come back as faces, with their probabilities, landmarks and the tracker's ids
    back = from_detections(tracked)
    by_index = {f.index: f for f in tvshow}
    for f in back:
        orig = by_index[f.index]
        assert f.emotions.labels == orig.emotions.labels
        np.testing.assert_allclose(f.emotions.probs, orig.emotions.probs, atol=1e-6)
        np.testing.assert_allclose(f.landmarks.as_array(), orig.landmarks.as_array(), atol=1e-3)
        assert f.track_id == 101 + f.index and f.label == orig.label
    again = ImageResult.from_supervision(det, "group_tvshow.jpg", tvshow.width, tvshow.height)
    assert [f.box for f in again] == pytest.approx([f.box for f in tvshow])
    bare = sv.Detections(xyxy=det.xyxy)
    with pytest.raises(emolens.errors.ConfigError, match="no emotion probabilities"):
        from_detections(bare)
