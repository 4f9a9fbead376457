"""The one record writer behind identify, events, text and voice: the same rules for every format."""

from __future__ import annotations

import csv
import json

import pytest

from emolens.cli.records import Format, RecordWriter, simple_table
from emolens.errors import ConfigError

ROWS = [
    {"source": "a.jpg", "face": 0, "identity": "Zoë", "box": [1, 2, 3, 4]},
    {"source": "b.jpg", "face": 1, "identity": None, "box": [5, 6, 7, 8], "extra": "x"},
]


def write(fmt: Format, path, rows=ROWS, **kw) -> str:
    with RecordWriter(fmt, path, simple_table(("source", "identity")), **kw) as w:
        for r in rows:
            w.write(r)
    return path.read_text(encoding="utf-8")


def test_json_is_one_valid_array_streamed(tmp_path):
    assert json.loads(write(Format.json, tmp_path / "o.json")) == ROWS
    assert json.loads(write(Format.json, tmp_path / "empty.json", rows=[])) == []
    assert "Zoë" in (tmp_path / "o.json").read_text(encoding="utf-8")  # kept as is, not \\u escapes


def test_jsonl_one_object_per_line(tmp_path):
    lines = write(Format.jsonl, tmp_path / "o.jsonl").splitlines()
    assert [json.loads(x) for x in lines] == ROWS


def test_csv_header_from_the_first_record_or_the_command(tmp_path):
    rows = list(csv.DictReader(write(Format.csv, tmp_path / "o.csv").splitlines()))
    assert list(rows[0]) == ["source", "face", "identity", "box"]  # 'extra' of the second row is left out
    assert json.loads(rows[1]["box"]) == [5, 6, 7, 8] and rows[1]["identity"] == ""
    text = write(Format.csv, tmp_path / "c.csv", csv_columns=("source", "extra"))
    assert text.splitlines() == ["source,extra", "a.jpg,", "b.jpg,x"]
    assert write(Format.csv, tmp_path / "e.csv", rows=[], csv_columns=("source", "face")) == "source,face\n"


def test_table_to_a_file_is_plain_text(tmp_path):
    text = write(Format.table, tmp_path / "t.txt")
    assert "a.jpg" in text and "Zoë" in text and "\x1b[" not in text
    assert "box" not in text  # only the table's columns


def test_table_per_group(tmp_path):
    path = tmp_path / "g.txt"
    with RecordWriter(Format.table, path, simple_table(("source",)), table_at_end=False) as w:
        w.write(ROWS[0])
        w.write(ROWS[1])
    assert path.read_text().count("source") == 2


def test_stdout(capsys):
    with RecordWriter(Format.jsonl, "-", simple_table(("source",))) as w:
        w.write(*ROWS)
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_unwritable_output_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(ConfigError, match="cannot open output file"),
        RecordWriter(Format.json, tmp_path / "file" / "o.json", simple_table(())),
    ):
        pass
