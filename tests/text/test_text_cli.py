"""``emolens text`` end to end through the Typer app: inputs, formats, exit codes, evaluation."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from emolens.cli.main import app
from emolens.labels import FER2013
from emolens.registry import models_dir

runner = CliRunner()


def test_texts_as_arguments_jsonl():
    r = runner.invoke(app, ["text", "I love you so much", "气死我了，太过分了", "-f", "jsonl"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["language"] for x in rows] == ["en", "zh"]
    assert [x["label"] for x in rows] == ["happy", "angry"]


def test_table_output():
    r = runner.invoke(app, ["text", "what a wonderful surprise", "-f", "table"])
    assert r.exit_code == 0
    assert "label" in r.stdout and "en" in r.stdout


def test_file_of_lines_skips_blank_lines(tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("I am terrified\n\n好开心啊\n", encoding="utf-8")
    out = tmp_path / "out.json"
    r = runner.invoke(app, ["text", "--file", str(p), "-f", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [x["source"] for x in rows] == [f"{p}:1", f"{p}:3"]
    assert rows[0]["label"] == "fear" and rows[1]["label"] == "happy"


def test_csv_column_to_csv_with_a_bad_row(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text('id,comment\n1,"So sad, I cried"\n2,\n3,这也太吓人了吧，好害怕\n', encoding="utf-8")
    r = runner.invoke(app, ["text", "--csv", str(p), "--column", "comment", "-f", "csv"])
    assert r.exit_code == 1  # one row failed, the rest were written
    assert "row 2" in r.stderr and "empty" in r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [x["label"] for x in rows] == ["sad", "fear"]
    assert abs(sum(float(rows[0][f"p_{k}"]) for k in FER2013) - 1) < 1e-3


def test_errors_and_exit_codes(tmp_path):
    r = runner.invoke(app, ["text"])
    assert r.exit_code == 2 and "exactly one" in r.stderr
    r = runner.invoke(app, ["text", "--file", str(tmp_path / "missing.txt")])
    assert r.exit_code == 1 and "no such file" in r.stderr
    p = tmp_path / "in.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["text", "--csv", str(p), "--column", "text"])
    assert r.exit_code == 1 and "no column 'text'" in r.stderr
    r = runner.invoke(app, ["text", "hi", "--model-en", "no-such-model"])
    assert r.exit_code == 3 and "no model named" in r.stderr


def test_evaluate_reproduces_the_smp_figure(tmp_path, data_dir):
    out = tmp_path / "smp.json"
    r = runner.invoke(app, ["text", "--evaluate", "smp", "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text(encoding="utf-8"))
    manifest = json.loads((models_dir() / "text-zh-smp.json").read_text())
    assert res["macro_f1"] == manifest["metrics"]["test_macro_f1"]
    r = runner.invoke(app, ["text", "--evaluate", "imdb"])
    assert r.exit_code == 2


def test_stdin_and_unreadable_files(tmp_path):
    r = runner.invoke(app, ["text", "--file", "-", "-f", "jsonl"], input="so happy today\n\n太可怕了\n")
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["source"] for x in r.stdout.splitlines()] == ["-:1", "-:3"]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ok\n".encode("latin-1"))
    r = runner.invoke(app, ["text", "--file", str(bad)])
    assert r.exit_code == 1 and "not UTF-8" in r.stderr
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    r = runner.invoke(app, ["text", "--file", str(blank)])
    assert r.exit_code == 1 and "no text" in r.stderr
