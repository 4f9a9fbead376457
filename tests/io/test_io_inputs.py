"""expand_inputs: folders, globs, explicit files, missing paths, order and duplicates."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emolens.io import InputItem, expand_inputs, is_image_path


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder tree, created in reverse name order (so creation order is not the expected order)."""
    files = [
        "root/z.gif",
        "root/sub/deeper/d.TIF",
        "root/sub/c.jpeg",
        "root/notes.txt",
        "root/b.PNG",
        "root/a.jpg",
        "root/a.json",
        "root/.hidden/e.jpg",
        "root/._resource.jpg",
        "root/sub2/f.webp",
        "root/sub2/g.bmp",
        "root/sub2/h.pgm",
        "root/sub2/i.ppm",
        "root/sub2/j.tiff",
        "root/sub2/k.JPG",
    ]
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (tmp_path / "root/empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other/readme.md").write_text("no images here")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sources(items: Iterator[InputItem] | list[InputItem]) -> list[str]:
    return [i.source if i.ok else f"ERROR {i.source}: {i.error}" for i in items]


def p(path: str) -> str:
    return path.replace("/", os.sep)


ALL_ROOT = [
    "root/a.jpg",
    "root/b.PNG",
    "root/sub/c.jpeg",
    "root/sub/deeper/d.TIF",
    "root/sub2/f.webp",
    "root/sub2/g.bmp",
    "root/sub2/h.pgm",
    "root/sub2/i.ppm",
    "root/sub2/j.tiff",
    "root/sub2/k.JPG",
    "root/z.gif",
]


def test_folder_is_walked_recursively_sorted_images_only(tree: Path) -> None:
    items = list(expand_inputs(["root"]))
    assert all(i.ok for i in items)  # an empty subfolder is no error; only a folder given without images is
    assert sources(items) == [p(s) for s in ALL_ROOT]
    assert items[0].path == Path("root/a.jpg")
    # Deterministic: the same again.
    assert sources(expand_inputs(["root"])) == sources(items)


def test_explicit_file_is_kept_whatever_its_extension(tree: Path) -> None:
    items = list(expand_inputs(["root/notes.txt", "root/z.gif"]))
    assert sources(items) == ["root/notes.txt", "root/z.gif"]
    assert items[0].path == Path("root/notes.txt") and items[0].ok


def test_missing_path_yields_an_error_and_the_stream_goes_on(tree: Path) -> None:
    it = expand_inputs(["root/a.jpg", "missing.jpg", "root/b.PNG"])
    first = next(it)
    assert first.ok
    missing = next(it)
    assert not missing.ok and missing.path is None
    assert missing.source == "missing.jpg" and missing.error == "no such file or folder"
    assert next(it).source == p("root/b.PNG")
    assert list(it) == []


def test_globs(tree: Path) -> None:
    assert sources(expand_inputs(["root/*.jpg"])) == [p("root/a.jpg")]
    assert sources(expand_inputs(["root/**/*.jp*g"])) == [p("root/a.jpg"), p("root/sub/c.jpeg")]
    # A glob keeps only images from the files it matches, and walks the folders it matches.
    assert sources(expand_inputs(["root/s*"])) == [p(s) for s in ALL_ROOT if s.startswith(("root/sub/", "root/sub2/"))]
    assert sources(expand_inputs(["root/a.*"])) == [p("root/a.jpg")]
    nothing = list(expand_inputs(["root/*.heic"]))
    assert len(nothing) == 1 and nothing[0].error == "no image files match this pattern"
    assert nothing[0].source == "root/*.heic"


def test_recursive_glob_and_folder_give_the_same_files(tree: Path) -> None:
    via_glob = sources(expand_inputs(["root/**"]))
    via_folder = sources(expand_inputs(["root"]))
    assert via_glob == via_folder


def test_no_duplicates(tree: Path) -> None:
    items = list(expand_inputs(["root/a.jpg", "./root/a.jpg", "root", str(tree / "root/a.jpg"), "root/*.jpg"]))
    assert sources(items).count(p("root/a.jpg")) == 1
    assert "./root/a.jpg" not in sources(items)
    assert len(items) == len(ALL_ROOT)
    # The first occurrence wins its place in the order.
    assert sources(items)[0] == "root/a.jpg"


def test_folder_without_images_and_empty_argument(tree: Path) -> None:
    items = list(expand_inputs(["other", ""]))
    assert [(i.source, i.error) for i in items] == [
        ("other", "no image files in this folder"),
        ("", "empty path"),
    ]


def test_is_lazy(tree: Path) -> None:
    it = expand_inputs(["missing", "root"])
    assert iter(it) is it  # a generator, not a list
    assert not next(it).ok


def test_accepts_path_objects(tree: Path) -> None:
    assert sources(expand_inputs([Path("root/sub")])) == [p("root/sub/c.jpeg"), p("root/sub/deeper/d.TIF")]


def test_is_image_path() -> None:
    assert is_image_path("a/B.JPEG") and is_image_path(Path("x.tiff")) and is_image_path("x.pgm")
    assert not is_image_path("x.txt") and not is_image_path("jpg") and not is_image_path("x.jpg.bak")


def test_real_photo_folder(photos_dir: Path) -> None:
    items = list(expand_inputs([photos_dir]))
    assert all(i.ok for i in items)
    names = [i.path.name for i in items if i.path is not None]
    assert "couple.jpg" in names and "0_Parade_marchingband_1_234.jpg" in names
    assert len(names) == 6 + 12  # six photos at the top, twelve in voc_boxes/
    assert all(n.endswith(".jpg") for n in names)  # no README.md, prepare.py, .json, .xml or .csv
    assert [i.source for i in items] == sorted((i.source for i in items), key=lambda s: Path(s).parts)
