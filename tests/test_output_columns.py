"""The columns every command writes are the documented ones: docs/outputs.md is generated from the declared
schemas (``emolens.types.records`` and the command modules' column lists) and must match them, and the real
commands (through the Typer app, on the bundled example and small real fixtures) must write those columns.

Regenerate the page after a schema change: ``EMOLENS_WRITE_DOCS=1 pytest tests/test_output_columns.py -k doc``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from emolens.batch.tables import face_columns, input_columns
from emolens.cli.main import app  # first: the command modules import it
from emolens.identity.store import ALERT_COLUMNS, EVENT_COLUMNS
from emolens.types.records import (
    Column,
    batch_face_columns,
    column_names,
    frame_columns,
    photo_columns,
    record_columns,
    table_columns,
)
from emolens.voice.analyzer import RECORD_COLUMNS as VOICE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "outputs.md"
EXAMPLE = REPO / "src" / "emolens" / "examples" / "astronaut.jpg"
LABEL = ("<label>",)  # how the label-dependent columns are shown in the doc

#: JSON keys of ``emolens analyze`` records (nested: ``Face.to_dict()`` after the image's ``file``, ``width``,
#: ``height``); the last three appear only when set.
ANALYZE_JSON_KEYS = ("file", "width", "height", "face", "box", "score", "landmarks", "emotions", "label")
ANALYZE_JSON_OPTIONAL = ("identity", "identity_score", "error")


def identify_columns() -> tuple[str, ...]:
    """``emolens identify`` records: the table's columns (``IDENTIFY_COLUMNS``) plus ``box`` after ``face``."""
    from emolens.cli.identity import IDENTIFY_COLUMNS

    source, face, *rest = IDENTIFY_COLUMNS
    return (source, face, "box", *rest)


def text_columns(labels: Sequence[str]) -> list[str]:
    """``emolens text --format csv``: the record without its nested parts, then the label set and probabilities."""
    return ["source", "text", "language", "model", "label", "confidence", "labels", *(f"p_{k}" for k in labels)]


def _table(columns: Sequence[Column]) -> list[str]:
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.doc} |" for c in columns]
    return lines


def _names(names: Sequence[str]) -> list[str]:
    return [", ".join(f"`{n}`" for n in names)]


def render_doc() -> str:
    """docs/outputs.md, from the declared schemas."""
    out = [
        "# Output columns",
        "",
        "Generated from the declared schemas (`emolens.types.records`, `emolens.batch.tables` and the command",
        "modules' column lists) and checked by `tests/test_output_columns.py`, which also runs each command and",
        "compares what it writes. Regenerate: `EMOLENS_WRITE_DOCS=1 pytest tests/test_output_columns.py -k doc`.",
        "",
        "`<label>` stands for each label of the emotion model's label set, in the model's order (`p_` raw and",
        "`s_` smoothed probabilities). Types are the Parquet / Arrow types; CSV writes missing values as empty",
        "cells. Landmark left and right are as seen in the image. Sinks: `emolens.io.sinks` (table, JSON,",
        "JSON Lines, CSV, Parquet).",
        "",
        "## `emolens analyze` (`--format csv` / `parquet`, `ImageResult.to_pandas()`)",
        "",
        "One row per face; an image without faces, or a failed one, has one row with the face columns empty.",
        "",
        *_table(photo_columns(LABEL)),
        "",
        "`--format json` / `jsonl`: one object per face with the keys "
        + ", ".join(f"`{k}`" for k in ANALYZE_JSON_KEYS)
        + " (`box` `[x1, y1, x2, y2]`, `landmarks` five `[x, y]`, `emotions` `{label: p}`), plus "
        + ", ".join(f"`{k}`" for k in ANALYZE_JSON_OPTIONAL)
        + " when set.",
        "",
        "With `--attention`, these columns come before `error` (what a photo has of the video's: no blinks, focus",
        "spells or rates); the JSON formats carry `pose`, `eyes`, `mouth` and `attention` objects:",
        "",
        *_table(photo_columns(LABEL, attention=True)[len(photo_columns(LABEL)) - 1 : -1]),
        "",
        "## `emolens video` (`frames.csv`, `frames.parquet`, `FrameResult.to_pandas()`)",
        "",
        "One row per face per analysed frame (a frame without faces has no row).",
        "",
        *_table(frame_columns(LABEL)),
        "",
        "With `--attention` these columns follow:",
        "",
        *_table(frame_columns(LABEL, attention=True)[len(frame_columns(LABEL)) :]),
        "",
        "## `emolens batch` (`OUT/faces/kind=photo|video/*.parquet`)",
        "",
        "Photo and video faces in one schema (the `kind` partition is in the folder names).",
        "",
        *_table(batch_face_columns(LABEL)),
        "",
        "With `--attention` the video's attention columns follow (blinks, focus spells and rates null for photos):",
        "",
        *_names(column_names(batch_face_columns(LABEL, attention=True)[len(batch_face_columns(LABEL)) :])),
        "",
        "`OUT/inputs/kind=*/*.parquet`, one row per input done:",
        "",
        *_table(input_columns()),
        "",
        "## `emolens identify` (`--format csv` / `json` / `jsonl`)",
        "",
        "One record per face (`box` `[x1, y1, x2, y2]`, as JSON text in CSV; `--format table` leaves it out).",
        "",
        *_names(identify_columns()),
        "",
        "## `emolens events` (`--format csv` / `json` / `jsonl`)",
        "",
        *_names(("id", *EVENT_COLUMNS)),
        "",
        "With `--alerts`:",
        "",
        *_names(("id", *ALERT_COLUMNS)),
        "",
        "## `emolens text`",
        "",
        "`--format csv`:",
        "",
        *_names(text_columns(LABEL)),
        "",
        "`--format json` / `jsonl`: the same keys, with `labels` a list and the probabilities nested in",
        "`probabilities` (`{label: p}`) instead of `p_<label>`.",
        "",
        "## `emolens voice` (`--format csv`; `json` / `jsonl` give one nested object per file)",
        "",
        "Rows of kind `overall`, `utterance` and `window`; `p_<label>` over the seven FER-2013 labels and",
        "`ravdess_<label>` over the RAVDESS labels.",
        "",
        *_names(VOICE_COLUMNS),
        "",
    ]
    return "\n".join(out)


def test_doc_matches_the_declared_schemas():
    text = render_doc()
    if os.environ.get("EMOLENS_WRITE_DOCS"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, "docs/outputs.md is stale: regenerate it (see the docstring)"


def test_declared_types_cover_every_column():
    for columns in (
        photo_columns(("a", "b")),
        frame_columns(("a",), attention=True),
        batch_face_columns(("a",), attention=True),
    ):
        names = [c.name for c in columns]
        assert len(set(names)) == len(names)
        assert {c.dtype for c in columns} <= {"string", "int32", "int64", "float64", "bool"}


# ------------------------------------------------------------------------------------------- the real commands

runner = CliRunner()


def invoke(*args: object, code: int = 0) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r.stdout


def csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def labels_of(columns: Sequence[str]) -> tuple[str, ...]:
    return tuple(c[2:] for c in columns if c.startswith("p_"))


def test_analyze(tmp_path: Path, data_dir: Path):
    photos = [EXAMPLE, data_dir / "photos" / "couple.jpg", tmp_path / "missing.jpg"]
    for fmt in ("csv", "parquet", "json"):
        invoke("analyze", *photos, "--format", fmt, "--output", tmp_path / f"a.{fmt}", "-q", code=1)
    header = csv_header(tmp_path / "a.csv")
    labels = labels_of(header)
    assert len(labels) >= 7 and header == record_columns(labels)
    schema = pq.read_schema(tmp_path / "a.parquet")
    assert [(f.name, _dtype(f.type)) for f in schema] == [(c.name, c.dtype) for c in photo_columns(labels)]
    rows = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    faces = [r for r in rows if r.get("face") is not None]
    assert faces and all(list(r) == list(ANALYZE_JSON_KEYS) for r in faces)
    assert all(set(r) <= {*ANALYZE_JSON_KEYS, *ANALYZE_JSON_OPTIONAL} for r in rows)
    assert tuple(faces[0]["emotions"]) == labels


def test_video(tmp_path: Path, data_dir: Path):
    out = tmp_path / "v"
    invoke("video", data_dir / "videos" / "single_face.mp4", "--output", out, "--max-frames", 8, "--no-plots", "-q")
    labels = tuple(json.loads((out / "tracks.json").read_text())["labels"])
    assert csv_header(out / "frames.csv") == table_columns(labels)
    schema = pq.read_schema(out / "frames.parquet")
    assert [(f.name, _dtype(f.type)) for f in schema] == [(c.name, c.dtype) for c in frame_columns(labels)]


def test_batch(tmp_path: Path, data_dir: Path):
    out = tmp_path / "b"
    invoke("batch", EXAMPLE, data_dir / "photos" / "couple.jpg", "--output", out, "-q")
    part = next((out / "faces" / "kind=photo").glob("*.parquet"))
    schema = pq.read_schema(part)
    labels = labels_of(schema.names)
    assert schema.names == face_columns(labels)
    assert [(f.name, _dtype(f.type)) for f in schema] == [(c.name, c.dtype) for c in batch_face_columns(labels)]
    inputs = pq.read_schema(next((out / "inputs" / "kind=photo").glob("*.parquet")))
    assert [(f.name, _dtype(f.type)) for f in inputs] == [(c.name, c.dtype) for c in input_columns()]


def test_identify_and_events(tmp_path: Path, data_dir: Path):
    gallery = tmp_path / "g.db"
    orl = data_dir / "orl"
    invoke("enroll", "s4", orl / "s4" / "1.pgm", "-g", gallery, "-q")
    probes = [orl / "s4" / "7.pgm", orl / "s6" / "7.pgm"]
    for fmt in ("csv", "json"):
        invoke("identify", *probes, "-g", gallery, "-f", fmt, "-o", tmp_path / f"i.{fmt}", "--log-events", "-q")
    assert csv_header(tmp_path / "i.csv") == list(identify_columns())
    rows = json.loads((tmp_path / "i.json").read_text())
    assert rows and all(list(r) == list(identify_columns()) for r in rows)
    invoke("events", "-g", gallery, "-f", "csv", "-o", tmp_path / "e.csv")
    assert csv_header(tmp_path / "e.csv") == ["id", *EVENT_COLUMNS]
    rows = json.loads(invoke("events", "-g", gallery, "-f", "json"))
    assert rows and all(list(r) == ["id", *EVENT_COLUMNS] for r in rows)


def test_text(tmp_path: Path):
    invoke("text", "I love you so much", "-f", "csv", "-o", tmp_path / "t.csv")
    header = csv_header(tmp_path / "t.csv")
    assert header == text_columns(labels_of(header))
    rows = [json.loads(line) for line in invoke("text", "what a wonderful surprise", "-f", "jsonl").splitlines()]
    flat = [c for c in text_columns(()) if c != "labels"]
    assert list(rows[0]) == [*flat, "labels", "probabilities"]


def test_voice(tmp_path: Path, data_dir: Path):
    clip = data_dir / "audio" / "ravdess" / "Actor_16" / "03-01-05-02-01-01-16.ogg"
    invoke("voice", clip, "-f", "csv", "-o", tmp_path / "v.csv", "-q")
    assert csv_header(tmp_path / "v.csv") == list(VOICE_COLUMNS)
    with open(tmp_path / "v.csv", newline="") as f:
        assert {r["kind"] for r in csv.DictReader(f)} >= {"overall"}


def _dtype(t: object) -> str:
    return {"double": "float64", "int32": "int32", "int64": "int64", "string": "string", "bool": "bool"}[str(t)]
