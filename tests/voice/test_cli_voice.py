"""``emolens voice`` end to end through the installed entry point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

EMOLENS = [str(Path(sys.executable).with_name("emolens"))]


def run(*args):
    return subprocess.run(EMOLENS + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_json_reports_bad_files_and_goes_on(media, angry_clip, tmp_path):
    r = run("voice", angry_clip, media["empty"], media["silence"], tmp_path / "missing.wav", "--format", "json")
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert len(out) == 4
    assert out[0]["overall"]["label"] == "angry" and out[0]["has_speech"]
    assert "empty" in out[1]["error"] and out[2]["has_speech"] is False and "no such file" in out[3]["error"]
    assert r.stderr.count("skipped") == 2 and "4 file(s), 1 without speech, 2 error(s)" in r.stderr


def test_csv_windows_to_file(media, tmp_path):
    dest = tmp_path / "out" / "voice.csv"
    r = run("voice", media["long"], "--window", "2", "--hop", "0.5", "--format", "csv", "--output", dest)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(dest, newline="")))
    kinds = [row["kind"] for row in rows]
    assert kinds[0] == "overall" and kinds.count("utterance") == 2 and kinds.count("window") >= 20
    scored = [row for row in rows if row["label"]]
    p = [
        [float(row[f"p_{k}"]) for k in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")]
        for row in scored
    ]
    assert all(abs(sum(v) - 1) < 1e-3 for v in p)


def test_table_and_video_track(media):
    r = run("voice", media["video"], "--quiet", "-f", "table")
    assert r.returncode == 0, r.stderr
    assert "talking.mp4" in r.stdout and "overall" in r.stdout and "angry" in r.stdout
    assert r.stderr == ""


def test_bad_option_and_bad_model(media):
    assert run("voice", media["mp3"], "--window", "-1").returncode == 2
    r = run("voice", media["mp3"], "--model", "no-such-model")
    assert r.returncode == 3 and "no model named" in r.stderr
