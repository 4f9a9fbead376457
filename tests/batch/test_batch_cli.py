"""``emolens batch`` end to end through the installed entry point, and its typed errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from emolens.cli.main import EXIT_PARTIAL, EXIT_USAGE, app

EMOLENS = [str(Path(sys.executable).with_name("emolens"))]


def run(*args):
    return subprocess.run(EMOLENS + [str(a) for a in args], capture_output=True, text=True, timeout=600)


def test_batch_end_to_end_with_a_list_a_failure_and_resume(tmp_path: Path, photos, clip, bad_inputs) -> None:
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(str(p) for p in [*photos, clip, bad_inputs["text"]]) + "\n")
    out = tmp_path / "out"
    common = ["--output", out, "--detector", "blazeface", "--video-stride", "5", "--workers", "2", "--chunk-size", "2"]
    r = run("batch", listing, *common)
    assert r.returncode == EXIT_PARTIAL, r.stderr  # one input failed; the rest were done
    assert f"failed {bad_inputs['text']}: " in r.stderr
    assert "done 4, skipped 0, failed 1, faces 30 in" in r.stderr
    df = pd.read_parquet(out / "faces")
    assert len(df) == 30 and set(df["kind"].astype(str)) == {"photo", "video"}
    assert json.loads((out / "summary.json").read_text())["workers"] == 2
    assert len((out / "failures.jsonl").read_text().splitlines()) == 1

    r = run("batch", listing, *common)
    assert r.returncode == EXIT_PARTIAL
    assert "skipping 4 input(s) finished by an earlier run" in r.stderr
    assert "done 0, skipped 4, failed 1, faces 0" in r.stderr
    assert len(pd.read_parquet(out / "faces")) == 30

    r = run("batch", *photos, "--output", out, "--detector", "blazeface", "--video-stride", "5", "--overwrite", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert len(pd.read_parquet(out / "faces")) == 23


def test_batch_typed_errors_and_exit_codes(tmp_path: Path, photos, monkeypatch) -> None:
    cli = CliRunner()
    r = cli.invoke(app, ["batch", str(photos[0]), "--output", str(tmp_path / "a"), "--detector", "nope"])
    assert r.exit_code == EXIT_USAGE and "error:" in r.output and "nope" in r.output
    r = cli.invoke(app, ["batch", str(photos[0]), "--output", str(tmp_path / "b"), "--address", "127.0.0.1:1"])
    assert r.exit_code == EXIT_USAGE and "--address needs --engine ray" in r.output
    monkeypatch.setitem(sys.modules, "ray", None)
    r = cli.invoke(app, ["batch", str(photos[0]), "--output", str(tmp_path / "c"), "--engine", "ray"])
    assert r.exit_code == EXIT_USAGE
    assert "pip install 'emolens[batch]'" in r.output
