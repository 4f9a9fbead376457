"""Fixtures for the batch tests: real photos and a clip from ../shared/datasets, bad inputs, dataset readers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def photos(data_dir: Path) -> list[Path]:
    """Three real photos: 2 faces, no face, a 5x5 grid of faces."""
    paths = [data_dir / "photos" / n for n in ("couple.jpg", "landscape.jpg", "expression_grid.jpg")]
    for p in paths:
        if not p.is_file():
            pytest.fail(f"test photo not found: {p}", pytrace=False)
    return paths


@pytest.fixture(scope="session")
def clip(data_dir: Path) -> Path:
    """A short real clip (138 frames, a face in frames 0-46)."""
    path = data_dir / "videos" / "face_then_noface.mp4"
    if not path.is_file():
        pytest.fail(f"test clip not found: {path}", pytrace=False)
    return path


@pytest.fixture
def bad_inputs(tmp_path: Path, photos: list[Path]) -> dict[str, Path]:
    """A truncated JPEG and a text file named .jpg."""
    folder = tmp_path / "bad"
    folder.mkdir()
    corrupt = folder / "truncated.jpg"
    data = photos[0].read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    text = folder / "notes.jpg"
    text.write_text("not an image\n")
    return {"corrupt": corrupt, "text": text}


@pytest.fixture
def photo_folder(tmp_path: Path, photos: list[Path]) -> Path:
    """The three photos copied into a folder tree (one in a subfolder), plus a hidden file and a non-media file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    shutil.copy(photos[0], root / "a.jpg")
    shutil.copy(photos[1], root / "sub" / "b.JPG")
    shutil.copy(photos[2], root / "c.png")  # a JPEG named .png: the loader reads the content
    shutil.copy(photos[0], root / ".hidden.jpg")
    (root / "notes.txt").write_text("a text file inside a folder is not a file list\n")
    return root


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    """A local Ray instance for the module (2 CPUs, no dashboard), shut down afterwards."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


def _read_faces(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "faces")
    df["kind"] = df["kind"].astype(str)
    return df.sort_values(["input_id", "frame", "face"], na_position="first").reset_index(drop=True)


@pytest.fixture(scope="session")
def read_faces() -> Callable[[Path], pd.DataFrame]:
    """Reads the faces dataset of a batch output folder, sorted by input, frame and face."""
    return _read_faces


@pytest.fixture(scope="session")
def fast() -> dict[str, object]:
    """Fast settings for most runs: BlazeFace (a few ms a photo), and every chunk committed at once."""
    return {"detector": "blazeface", "commit_interval": 0}
