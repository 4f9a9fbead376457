"""Planning: folders, file lists, globs, missing inputs, stable ids, chunks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from emolens.batch.plan import input_id, make_chunks, plan_inputs


def test_folder_recursive_media_only(photo_folder: Path, clip: Path) -> None:
    shutil.copy(clip, photo_folder / "sub" / "clip.MP4")
    plan = plan_inputs([photo_folder])
    names = [Path(it.source).relative_to(photo_folder).as_posix() for it in plan.items]
    assert names == ["a.jpg", "c.png", "sub/b.JPG", "sub/clip.MP4"]  # sorted; hidden and .txt skipped
    assert [it.kind for it in plan.items] == ["photo", "photo", "photo", "video"]
    assert plan.photos == 3 and plan.videos == 1 and plan.errors == ()
    a = plan.items[0]
    assert a.path == os.path.abspath(photo_folder / "a.jpg")
    assert a.size == (photo_folder / "a.jpg").stat().st_size
    assert a.key == f"{a.size}:{(photo_folder / 'a.jpg').stat().st_mtime_ns}"


def test_ids_are_stable_and_inputs_deduplicated(photo_folder: Path, monkeypatch) -> None:
    first = plan_inputs([photo_folder])
    monkeypatch.chdir(photo_folder)
    again = plan_inputs(["a.jpg", "./a.jpg", ".", "sub"])  # relative, twice, and inside folders given too
    assert [it.source for it in again.items] == ["a.jpg", "./c.png", "./sub/b.JPG"]
    assert {it.id for it in again.items} == {it.id for it in first.items}
    assert again.items[0].id == input_id(str(photo_folder / "a.jpg"))


def test_file_list_relative_to_list_comments_and_errors(tmp_path: Path, photo_folder: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "nested.txt").write_text("../in/a.jpg\n")
    (lists / "batch.txt").write_text(
        "# photos for the run\n"
        "\n"
        "../in/a.jpg\n"
        f"{photo_folder / 'sub'}\n"  # absolute, a folder
        "  ../in/c.png  \n"  # surrounding spaces trimmed
        "../in/missing.jpg\n"
        "nested.txt\n"
    )
    plan = plan_inputs([lists / "batch.txt"])
    assert [Path(it.path).name for it in plan.items] == ["a.jpg", "b.JPG", "c.png"]
    errors = {Path(e.source).name: e.error for e in plan.errors}
    assert errors == {"missing.jpg": "file not found", "nested.txt": "a file list named inside a file list is not read"}
    (lists / "empty.txt").write_text("# nothing\n\n")
    assert plan_inputs([lists / "empty.txt"]).errors[0].error == "the file list names no files"


def test_missing_empty_and_unmatched_inputs_are_errors_not_exceptions(tmp_path: Path, photo_folder: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    plan = plan_inputs([tmp_path / "nope.jpg", empty, "", str(tmp_path / "*.gif"), photo_folder / "a.jpg"])
    assert [it.source for it in plan.items] == [str(photo_folder / "a.jpg")]
    assert [e.error for e in plan.errors] == [
        "file not found",
        "no image or video files in this folder",
        "empty path",
        "no image or video files match this pattern",
    ]
    assert plan.errors[0].id == input_id(str(tmp_path / "nope.jpg"))


def test_glob_and_explicit_non_media_file(photo_folder: Path) -> None:
    plan = plan_inputs([str(photo_folder / "**" / "*.[jJ][pP]*")])
    assert sorted(Path(it.source).name for it in plan.items) == ["a.jpg", "b.JPG"]
    named = plan_inputs([photo_folder / "notes.txt"])  # named explicitly, a .txt is a list: its line is a path
    assert named.items == ()
    assert [(Path(e.source).parent, e.error) for e in named.errors] == [(photo_folder, "file not found")]
    text = photo_folder / "data.csv"
    text.write_text("1,2\n")
    assert plan_inputs([text]).items[0].kind == "photo"  # named explicitly: the loader will report it


def test_chunks_put_each_video_alone_and_first(photo_folder: Path, clip: Path) -> None:
    shutil.copy(clip, photo_folder / "v1.mp4")
    shutil.copy(clip, photo_folder / "v2.mkv")
    plan = plan_inputs([photo_folder])
    chunks = make_chunks(plan.items, 2)
    assert [[it.kind for it in c.items] for c in chunks] == [["video"], ["video"], ["photo", "photo"], ["photo"]]
    assert sorted(it.id for c in chunks for it in c.items) == sorted(it.id for it in plan.items)
