"""Resume: finished inputs are skipped; a run interrupted or killed at any point, then re-run, gives exactly one
row set per input (nothing twice, nothing missing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from emolens.batch import run_batch
from emolens.errors import ConfigError

# A run in a child process that SIGKILLs itself at a chosen point: after N inputs are reported (their chunk is
# analysed but not committed), or while writing the Nth commit record (its Parquet parts are on disk already).
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import emolens.batch.store as store
    from emolens.batch import run_batch

    def main():
        out, mode, n, *inputs = sys.argv[1:]
        n = int(n)
        kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
        if mode == "record":
            write, seen = store._write_text, []
            def write_text(path, content):
                if path.parent.name == "_done":
                    seen.append(path)
                    if len(seen) == n:
                        kill()
                write(path, content)
            store._write_text = write_text
        def progress(p):
            if mode == "progress" and p.completed >= n:
                kill()
        run_batch(inputs, out, detector="blazeface", chunk_size=1, commit_interval=0, on_progress=progress)

    if __name__ == "__main__":
        main()
    """
)


@pytest.fixture
def inputs(tmp_path: Path, photos: list[Path], bad_inputs) -> list[Path]:
    """Eight photos (the three real ones, copied under other names) and a corrupt one."""
    folder = tmp_path / "many"
    folder.mkdir()
    paths = []
    for k in range(8):
        p = folder / f"{k}_{photos[k % 3].name}"
        shutil.copy(photos[k % 3], p)
        paths.append(p)
    return [*paths, bad_inputs["corrupt"]]


@pytest.fixture
def reference(tmp_path: Path, inputs: list[Path], fast, read_faces) -> pd.DataFrame:
    """The rows of one uninterrupted run."""
    out = tmp_path / "reference"
    summary = run_batch(inputs, out, chunk_size=1, **fast)
    assert (summary.done, summary.failed) == (8, 1)
    return read_faces(out)


def _assert_exactly_once(out: Path, reference: pd.DataFrame, read_faces) -> None:
    df = read_faces(out)
    assert not df.duplicated(["input_id", "frame", "face"]).any()
    pd.testing.assert_frame_equal(df, reference, check_exact=False, atol=2e-4)
    inputs = pd.read_parquet(out / "inputs")
    assert inputs["input_id"].is_unique and len(inputs) == 8


def test_rerun_skips_finished_inputs_and_retries_failed(tmp_path: Path, inputs, reference, fast, read_faces) -> None:
    out = tmp_path / "out"
    first = run_batch(inputs, out, **fast)
    assert (first.done, first.skipped, first.failed) == (8, 0, 1)
    seen = []
    again = run_batch(inputs, out, on_progress=seen.append, **fast)
    assert (again.done, again.skipped, again.failed) == (0, 8, 1)  # the corrupt file is tried again
    assert seen[0].stage == "planned" and seen[0].skipped == 8 and seen[0].total == 1
    assert (again.done_total, again.faces_total) == (8, first.faces)
    _assert_exactly_once(out, reference, read_faces)
    assert len((out / "failures.jsonl").read_text().splitlines()) == 1


def test_overwrite_starts_over(tmp_path: Path, inputs, reference, fast, read_faces) -> None:
    out = tmp_path / "out"
    run_batch(inputs, out, **fast)
    (out / "mine.txt").write_text("not ours: kept")
    again = run_batch(inputs, out, overwrite=True, **fast)
    assert (again.done, again.skipped) == (8, 0)
    _assert_exactly_once(out, reference, read_faces)
    assert (out / "mine.txt").read_text() == "not ours: kept"
    assert len({p.stem.rsplit("-", 1)[0] for p in (out / "_done").glob("*.json")}) == 1  # one run's commits only


def test_interrupted_in_process_then_resumed(tmp_path: Path, inputs, reference, fast, read_faces) -> None:
    out = tmp_path / "out"

    def stop_after_three(p) -> None:
        if p.completed >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, chunk_size=1, on_progress=stop_after_three, **{**fast, "commit_interval": 3600})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["done"] == 3  # the finished chunks were committed anyway
    resumed = run_batch(inputs, out, chunk_size=1, **fast)
    assert resumed.skipped == 3 and resumed.done == 5
    _assert_exactly_once(out, reference, read_faces)


@pytest.mark.parametrize(("mode", "n", "committed"), [("progress", 4, 3), ("record", 3, 2)])
def test_killed_process_then_resumed(tmp_path: Path, inputs, reference, mode, n, committed, read_faces) -> None:
    out = tmp_path / "out"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    r = subprocess.run(
        [sys.executable, script, out, mode, str(n), *map(str, inputs)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == -9, r.stderr
    records = list((out / "_done").glob("*.json"))
    assert len(records) == committed
    parts = {p.relative_to(out).as_posix() for p in out.rglob("part-*.parquet")}
    named = {part for rec in records for part in json.loads(rec.read_text())["parts"]}
    if mode == "record":  # killed between a commit's parts and its record: parts that no record names
        assert parts - named
    resumed = run_batch(inputs, out, detector="blazeface", chunk_size=1, commit_interval=0)
    assert resumed.skipped == committed and resumed.done == 8 - committed
    _assert_exactly_once(out, reference, read_faces)
    assert not list(out.rglob(".*.tmp"))


def test_changed_input_is_redone_without_duplicates(tmp_path: Path, inputs, photos, fast, read_faces) -> None:
    out = tmp_path / "out"
    run_batch(inputs, out, chunk_size=3, **fast)
    target = inputs[1]  # was landscape (0 faces); becomes the 25-face grid
    shutil.copy(photos[2], target)
    os.utime(target, ns=(1, 1_000_000_000))
    again = run_batch(inputs, out, chunk_size=3, **fast)
    assert (again.done, again.skipped) == (1, 7)
    fresh = tmp_path / "fresh"
    run_batch(inputs, fresh, chunk_size=3, **fast)
    _assert_exactly_once(out, read_faces(fresh), read_faces)
    counts = read_faces(out)["source"].value_counts()
    assert counts[str(target)] == counts[str(inputs[2])] > 0  # now a copy of the grid, as inputs[2] is


def test_other_options_need_overwrite(tmp_path: Path, inputs, fast) -> None:
    out = tmp_path / "out"
    run_batch(inputs[:2], out, **fast)
    with pytest.raises(ConfigError, match=r"other options \(detector 'blazeface', not 'yunet'\)"):
        run_batch(inputs[:2], out, commit_interval=0)
    run_batch(inputs[:2], out, workers=2, chunk_size=1, **fast)  # engine, workers and chunks may change


def test_one_run_per_folder(tmp_path: Path, inputs, fast) -> None:
    from emolens.batch.store import BatchStore

    out = tmp_path / "out"
    holder = BatchStore(out)
    holder.open({"detector": "blazeface"})
    try:
        with pytest.raises(ConfigError, match="another emolens batch run"):
            run_batch(inputs[:1], out, **fast)
    finally:
        holder.close()
    run_batch(inputs[:1], out, overwrite=True, **fast)
