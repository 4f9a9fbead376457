"""Writers: each format written then parsed back; flat records; streaming; missing extras."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emolens.errors import ConfigError, MissingExtraError
from emolens.io import FORMATS, format_for_path, open_writer, record_columns, records, results_to_dataframe
from emolens.io.writers import LANDMARK_COLUMNS, json_records
from emolens.labels import FER2013, FERPLUS
from emolens.types import Box, EmotionScores, Face, ImageResult, Landmarks


def write_all(fmt: str, path: Path | None, results: list[ImageResult], **kwargs: object) -> None:
    with open_writer(fmt, path, **kwargs) as w:  # type: ignore[arg-type]
        for r in results:
            w.write(r)


def expected_rows(results: list[ImageResult], labels: tuple[str, ...] = FER2013) -> list[dict]:
    return [row for r in results for row in records(r, labels)]


def csv_value(v: object) -> str:
    return "" if v is None else str(v)


# ------------------------------------------------------------------------------------------------- records


def test_record_columns() -> None:
    cols = record_columns(FER2013)
    assert cols[:9] == ["file", "width", "height", "face", "x1", "y1", "x2", "y2", "score"]
    assert cols[9:19] == ["le_x", "le_y", "re_x", "re_y", "n_x", "n_y", "ml_x", "ml_y", "mr_x", "mr_y"]
    assert cols[19:26] == [f"p_{label}" for label in FER2013]
    assert cols[26:] == ["label", "identity", "identity_score", "error"]
    assert "p_contempt" in record_columns(FERPLUS)


def test_records_flatten_faces_empty_images_and_errors(sample_results: list[ImageResult]) -> None:
    couple, landscape, broken = sample_results
    rows = records(couple)
    assert len(rows) == 2
    first, second = rows
    assert list(first) == record_columns(FER2013)
    assert first["file"] == "photos/couple.jpg" and first["face"] == 0 and first["width"] == 1024
    assert (first["x1"], first["y1"], first["x2"], first["y2"]) == (100.0, 50.1, 300.0, 330.0)
    assert first["score"] == 0.9877
    assert first["p_happy"] == 0.9123 and first["label"] == "happy"
    assert abs(sum(first[f"p_{lab}"] for lab in FER2013) - 1.0) < 1e-3
    assert (first["le_x"], first["le_y"]) == tuple(couple.faces[0].landmarks.to_list()[0])  # type: ignore[union-attr]
    assert first["error"] is None and first["identity"] is None
    assert all(second[c] is None for c in LANDMARK_COLUMNS)
    assert second["label"] == "sad" and second["identity"] == "Zoë" and second["identity_score"] == 0.7123
    [empty] = records(landscape)
    assert empty["file"] == "photos/landscape.jpg" and empty["face"] is None and empty["error"] is None
    assert not any(k.startswith("p_") for k in empty)  # no face, no label set given
    [failed] = records(broken, FER2013)
    assert failed["error"] == "image data is truncated" and failed["p_happy"] is None and failed["x1"] is None


def test_records_reject_labels_outside_the_columns(face_factory: Callable[..., Face]) -> None:
    r = ImageResult("a.jpg", 10, 10, faces=(face_factory(labels=FERPLUS, label="contempt"),))
    with pytest.raises(ConfigError, match="contempt"):
        records(r, FER2013)
    # A label set wider than the face's leaves the extra column empty.
    [row] = records(ImageResult("a.jpg", 10, 10, faces=(face_factory(),)), FERPLUS)
    assert row["p_contempt"] is None and row["p_happy"] == 0.87


# ---------------------------------------------------------------------------------------------- each format


def test_jsonl_round_trip(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "out.jsonl"
    write_all("jsonl", path, sample_results)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [rec for r in sample_results for rec in json_records(r)]
    assert "Zoë" in lines[1]  # UTF-8, not \u escapes
    assert [json.loads(line).get("error") for line in lines].count("image data is truncated") == 1


def test_json_records_one_per_face(face_factory: Callable[..., Face]) -> None:
    two = ImageResult("g.jpg", 640, 480, faces=(face_factory(), face_factory(1)))
    recs = json_records(two)
    assert [r["face"] for r in recs] == [0, 1]
    assert all(r["file"] == "g.jpg" and r["width"] == 640 and "faces" not in r for r in recs)
    assert json_records(ImageResult("n.jpg", 5, 5)) == [{"file": "n.jpg", "width": 5, "height": 5, "face": None}]
    assert json_records(ImageResult("e.jpg", 0, 0, error="bad"))[0]["error"] == "bad"


def test_json_round_trip_and_empty(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "out.json"
    write_all("json", path, sample_results)
    assert json.loads(path.read_text(encoding="utf-8")) == [rec for r in sample_results for rec in json_records(r)]
    write_all("json", path, [])
    assert json.loads(path.read_text(encoding="utf-8")) == []


def test_json_is_valid_after_an_exception(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "out.json"
    with pytest.raises(KeyboardInterrupt), open_writer("json", path) as w:
        w.write(sample_results[0])
        raise KeyboardInterrupt
    assert json.loads(path.read_text(encoding="utf-8")) == json_records(sample_results[0])


def test_csv_round_trip(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "out.csv"
    write_all("csv", path, sample_results)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    assert header == record_columns(FER2013)
    assert "p_happy" in header and "error" in header and "mr_y" in header
    want = expected_rows(sample_results)
    assert body == [[csv_value(row[c]) for c in header] for row in want]
    assert len(body) == 2 + 1 + 1  # two faces, one image without faces, one failed file
    df = pd.read_csv(path)
    assert df["p_happy"].iloc[0] == pytest.approx(0.9123)
    assert df["error"].iloc[3] == "image data is truncated"


def test_csv_holds_faceless_rows_until_the_labels_are_known(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    couple, landscape, broken = sample_results
    path = tmp_path / "out.csv"
    with open_writer("csv", path) as w:
        w.write(landscape)
        w.write(broken)
        assert path.read_text() == ""  # nothing known yet about the p_ columns
        w.write(couple)
        assert path.read_text().startswith("file,width,height,face,")  # written as soon as it could be
    df = pd.read_csv(path)
    assert list(df["file"]) == ["photos/landscape.jpg", "photos/broken.jpg", "photos/couple.jpg", "photos/couple.jpg"]
    assert "p_neutral" in df.columns


def test_csv_with_labels_given_and_no_results(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_all("csv", path, [], labels=FERPLUS)
    assert path.read_text().splitlines() == [",".join(record_columns(FERPLUS))]
    write_all("csv", path, [])  # no labels, no faces: the columns without p_
    assert path.read_text().splitlines() == [",".join(record_columns(()))]


def test_parquet_round_trip(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "out.parquet"
    write_all("parquet", path, sample_results)
    table = pq.read_table(path)
    assert table.column_names == record_columns(FER2013)
    assert table.to_pylist() == expected_rows(sample_results)
    assert table.schema.field("face").type == pa.int32()
    assert table.schema.field("p_happy").type == pa.float64()
    assert table.schema.field("error").type == pa.string()


def test_parquet_streams_in_row_groups(tmp_path: Path, face_factory: Callable[..., Face]) -> None:
    path = tmp_path / "big.parquet"
    result = ImageResult("x.jpg", 100, 100, faces=tuple(face_factory(i) for i in range(5)))
    with open_writer("parquet", path, row_group_size=1000) as w:
        for _ in range(200):  # 1,000 rows: exactly one full group, written before close
            w.write(result)
        size_after_first_group = path.stat().st_size
        assert size_after_first_group > 2_000  # 1,000 rows, compressed
        for _ in range(300):
            w.write(result)
        assert path.stat().st_size > size_after_first_group
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 2500
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]


def test_parquet_empty_and_after_exception(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    path = tmp_path / "empty.parquet"
    write_all("parquet", path, [], labels=FER2013)
    table = pq.read_table(path)
    assert table.num_rows == 0 and "p_happy" in table.column_names
    path = tmp_path / "interrupted.parquet"
    with pytest.raises(RuntimeError), open_writer("parquet", path) as w:
        w.write(sample_results[0])
        raise RuntimeError("stop")
    assert pq.read_table(path).num_rows == 2


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"pyarrow.*emolens\[parquet\]"):
        open_writer("parquet", tmp_path / "x.parquet")


def test_dataframe(sample_results: list[ImageResult], monkeypatch: pytest.MonkeyPatch) -> None:
    df = results_to_dataframe(iter(sample_results))
    assert list(df.columns) == record_columns(FER2013)
    assert len(df) == 4
    assert str(df["face"].dtype) == "Int64" and df["face"].isna().tolist() == [False, False, True, True]
    assert df.loc[0, "p_happy"] == pytest.approx(0.9123)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingExtraError, match="pandas"):
        results_to_dataframe(sample_results)


# ----------------------------------------------------------------------------------------- stdout, streaming


@pytest.mark.parametrize("path", [None, "-"])
def test_stdout(path: str | None, sample_results: list[ImageResult], capsys: pytest.CaptureFixture[str]) -> None:
    write_all("jsonl", path, sample_results)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert [json.loads(line) for line in out.splitlines()] == [rec for r in sample_results for rec in json_records(r)]
    write_all("csv", path, sample_results)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(record_columns(FER2013)) and len(out.splitlines()) == 5
    write_all("json", path, sample_results)  # type: ignore[arg-type]
    assert len(json.loads(capsys.readouterr().out)) == 4  # two faces, a face-less image, a failed file
    assert not sys.stdout.closed
    with pytest.raises(ConfigError, match="file path"):
        open_writer("parquet", path)


def test_records_are_on_disk_as_they_arrive(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"s.{fmt}"
        with open_writer(fmt, path) as w:
            w.write(sample_results[0])
            assert "photos/couple.jpg" in path.read_text(encoding="utf-8")  # flushed before close


def test_errors(tmp_path: Path, sample_results: list[ImageResult]) -> None:
    with pytest.raises(ConfigError, match="unknown output format 'xml'"):
        open_writer("xml", tmp_path / "a.xml")
    for fmt in FORMATS:
        with pytest.raises(ConfigError, match="cannot open output file") as e:
            open_writer(fmt, tmp_path / "no" / "such" / "dir" / "out")
        assert e.value.source is not None and e.value.source.endswith("out")
    w = open_writer("jsonl", tmp_path / "c.jsonl")
    w.close()
    w.close()  # twice is fine
    with pytest.raises(ConfigError, match="closed"):
        w.write(sample_results[0])
    with pytest.raises(ConfigError, match="row_group_size"):
        open_writer("parquet", tmp_path / "p.parquet", row_group_size=0)


def test_undecodable_file_name(tmp_path: Path) -> None:
    """A file name that is not valid UTF-8 (a lone surrogate in Python) must not stop a batch's output."""
    r = ImageResult("bad\udcffname.jpg", 0, 0, error="file not found")
    for fmt in FORMATS:
        write_all(fmt, tmp_path / f"o.{fmt}", [r])
    assert json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8"))["file"] == r.source  # lossless
    assert json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))[0]["file"] == r.source
    assert pd.read_csv(tmp_path / "o.csv")["file"][0] == "bad\\udcffname.jpg"
    assert pq.read_table(tmp_path / "o.parquet").column("file").to_pylist() == ["bad\\udcffname.jpg"]


def test_jsonl_record_stays_on_one_line(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 are line breaks to many readers; json.dumps leaves them raw unless told."""
    r = ImageResult("a\u2028b\x85c.jpg", 0, 0, error="x\u2029y")
    write_all("jsonl", tmp_path / "o.jsonl", [r, r])
    text = (tmp_path / "o.jsonl").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2
    assert json.loads(text.splitlines()[1]) == json_records(r)[0]


def test_format_for_path() -> None:
    assert [format_for_path(p) for p in ("a.JSONL", "b.ndjson", "c.json", "d.csv", Path("e.parquet"))] == [
        "jsonl",
        "jsonl",
        "json",
        "csv",
        "parquet",
    ]
    with pytest.raises(ConfigError, match="extension"):
        format_for_path("out.txt")


# ----------------------------------------------------------------------------------------------- hypothesis

_coord = st.floats(-50, 5000, allow_nan=False, width=32)


@st.composite
def faces(draw: st.DrawFn, index: int) -> Face:
    x1, y1 = draw(_coord), draw(_coord)
    w, h = draw(st.floats(1, 500)), draw(st.floats(1, 500))
    raw = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7)))
    probs = tuple(float(v) for v in raw / raw.sum())
    lms = None
    if draw(st.booleans()):
        lms = Landmarks(points=tuple((draw(_coord), draw(_coord)) for _ in range(5)))
    identity = draw(st.none() | st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != ""))
    return Face(
        index=index,
        box=Box(x1, y1, x1 + w, y1 + h),
        score=draw(st.floats(0, 1)),
        landmarks=lms,
        emotions=EmotionScores(FER2013, probs),
        identity=identity,
        identity_score=None if identity is None else draw(st.floats(-1, 1)),
    )


@st.composite
def image_results(draw: st.DrawFn) -> ImageResult:
    # Any text, plus sometimes a lone surrogate: how Python spells a file name that is not valid UTF-8.
    name = draw(st.text(min_size=1, max_size=20)) + draw(st.sampled_from(["", "\udcff"]))
    if draw(st.integers(0, 4)) == 0:
        return ImageResult(name, 0, 0, error=draw(st.text(min_size=1, max_size=30)))
    n = draw(st.integers(0, 3))
    return ImageResult(name, 640, 480, faces=tuple(draw(faces(i)) for i in range(n)))


@settings(max_examples=40, deadline=None)
@given(results=st.lists(image_results(), max_size=6))
def test_every_format_round_trips(results: list[ImageResult]) -> None:
    want = expected_rows(results)
    with tempfile.TemporaryDirectory() as d:  # not tmp_path: one fresh folder per hypothesis example
        base = Path(d)
        write_all("jsonl", base / "o.jsonl", results)
        lines = (base / "o.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == [rec for r in results for rec in json_records(r)]
        write_all("json", base / "o.json", results)
        assert json.loads((base / "o.json").read_text(encoding="utf-8")) == [
            rec for r in results for rec in json_records(r)
        ]
        write_all("parquet", base / "o.parquet", results, labels=FER2013, row_group_size=3)
        assert pq.read_table(base / "o.parquet").to_pylist() == want
        write_all("csv", base / "o.csv", results, labels=FER2013)
        with open(base / "o.csv", newline="", encoding="utf-8") as f:
            body = list(csv.reader(f))[1:]
        assert body == [[csv_value(row[c]) for c in record_columns(FER2013)] for row in want]
