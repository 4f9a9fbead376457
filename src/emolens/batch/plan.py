"""Expand batch inputs (files, folders, file lists, globs) into photo and video work items with stable ids.

Rules
-----
- A folder is walked recursively for files with an image (:data:`emolens.io.inputs.IMAGE_EXTENSIONS`) or video
  (:data:`VIDEO_EXTENSIONS`) extension, any case; hidden entries (names starting with ".") are skipped and
  symbolic links to folders are not followed, as in :func:`emolens.io.inputs.expand_inputs`.
- A file named explicitly is a video if it has a video extension and a photo otherwise (the image loader then
  reports a file that is not an image), except that a ``.txt`` file is a **file list**: one path per line
  (files, folders or globs), blank lines and lines starting with ``#`` skipped, relative paths taken from the
  list's own folder. A list named inside a list is reported, not read.
- A pattern with ``*``, ``?`` or ``[`` that is not an existing path is a glob (``**`` matches any depth).
- Order is deterministic (arguments in order; inside a folder or glob, sorted by path components), and a file
  reached twice (same absolute path) is planned once.
- Nothing raises: an argument that is missing, matches nothing, holds no media or cannot be read becomes an
  :class:`InputError`, reported as a failure while the rest runs.

Ids
---
:attr:`WorkItem.id` is derived from the absolute path only, so it is the same in every run; :attr:`WorkItem.key`
adds the size and modification time, so a resumed run redoes an input that changed since it was done.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from emolens.io.inputs import is_image_path, walk_files

__all__ = [
    "LIST_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Chunk",
    "InputError",
    "Plan",
    "WorkItem",
    "make_chunks",
    "plan_inputs",
]

#: File extensions (lower case, with the dot) taken as videos, in folders, globs and named files.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".3gp"}
)

#: Extensions of file lists (one path per line) when named as an argument.
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt"})

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One input file of a batch run.

    Attributes
    ----------
    id : str
        16 hex digits from the absolute path: stable across runs, the key of the rows in every output table.
    source : str
        The path as the user gave it (or the argument joined with the path below it).
    path : str
        The absolute path that workers open (on a cluster every node must see it at this path).
    kind : {"photo", "video"}
    size : int
        Bytes, when planned.
    mtime_ns : int
        Modification time in nanoseconds, when planned.
    """

    id: str
    source: str
    path: str
    kind: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """``size:mtime_ns``: a done input whose key differs has changed and is done again."""
        return f"{self.size}:{self.mtime_ns}"


@dataclass(frozen=True, slots=True)
class InputError:
    """An argument (or list entry) that gave no input, with the reason in one line."""

    source: str
    error: str

    @property
    def id(self) -> str:
        return input_id(self.source)


@dataclass(frozen=True)
class Plan:
    """The expanded inputs of a run: work items in order, and the arguments that gave none."""

    items: tuple[WorkItem, ...]
    errors: tuple[InputError, ...]

    @property
    def photos(self) -> int:
        """How many of the inputs are photos."""
        return self.count("photo")

    @property
    def videos(self) -> int:
        """How many of the inputs are videos."""
        return self.count("video")

    def count(self, kind: str) -> int:
        """How many of the inputs are of ``kind`` (``"photo"`` or ``"video"``)."""
        return sum(1 for it in self.items if it.kind == kind)


@dataclass(frozen=True)
class Chunk:
    """Inputs sent to one worker call: several photos, or one video."""

    items: tuple[WorkItem, ...]


def input_id(path: str) -> str:
    """The stable id of an input: 16 hex digits of the SHA-1 of its absolute path."""
    text = os.path.normcase(os.path.abspath(path))
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has one of the :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def plan_inputs(inputs: Iterable[str | os.PathLike[str]]) -> Plan:
    """Expand files, folders, file lists (``.txt``) and globs into work items; see the module docstring.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        The command-line arguments.

    Returns
    -------
    Plan
        The items (photos and videos, deduplicated, in a deterministic order) and the input errors.
    """
    seen: set[str] = set()
    items: list[WorkItem] = []
    errors: list[InputError] = []
    for arg in inputs:
        for entry in _expand(os.fspath(arg), seen, in_list=False):
            if isinstance(entry, WorkItem):
                items.append(entry)
            else:
                errors.append(entry)
    return Plan(tuple(items), tuple(errors))


def make_chunks(items: Iterable[WorkItem], chunk_size: int) -> list[Chunk]:
    """Group items for the workers: each video alone (first: the longest jobs start early), photos by ``chunk_size``."""
    items = list(items)
    videos = [Chunk((it,)) for it in items if it.kind == "video"]
    photos = [it for it in items if it.kind != "video"]
    step = max(1, chunk_size)
    return videos + [Chunk(tuple(photos[i : i + step])) for i in range(0, len(photos), step)]


def _expand(arg: str, seen: set[str], in_list: bool) -> Iterator[WorkItem | InputError]:
    if not arg:
        yield InputError(arg, "empty path")
        return
    try:
        if os.path.isdir(arg):
            reported = False  # a file, or an error (an unlistable folder) that says why there is none
            for entry in _walk(arg):
                reported = True
                yield from _unseen(entry, seen)
            if not reported:
                yield InputError(arg, "no image or video files in this folder")
        elif os.path.exists(arg):
            if os.path.splitext(arg)[1].lower() in LIST_EXTENSIONS:
                if in_list:
                    yield InputError(arg, "a file list named inside a file list is not read")
                else:
                    yield from _read_list(arg, seen)
            else:
                yield from _unseen(_item(arg), seen)
        elif _GLOB_CHARS.intersection(arg):
            yield from _expand_glob(arg, seen)
        else:
            yield InputError(arg, "file not found")
    except OSError as e:
        yield InputError(arg, f"cannot read: {e.strerror or e}")


def _read_list(path: str, seen: set[str]) -> Iterator[WorkItem | InputError]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = [line.strip() for line in f]
    except OSError as e:
        yield InputError(path, f"cannot read file list: {e.strerror or e}")
        return
    base = os.path.dirname(path)
    entries = [line for line in lines if line and not line.startswith("#")]
    if not entries:
        yield InputError(path, "the file list names no files")
    for entry in entries:
        yield from _expand(os.path.join(base, entry), seen, in_list=True)


def _expand_glob(pattern: str, seen: set[str]) -> Iterator[WorkItem | InputError]:
    found = False
    for match in sorted(glob.glob(pattern, recursive=True), key=lambda p: p.split(os.sep)):
        if os.path.isdir(match):
            for entry in _walk(match):
                found = found or isinstance(entry, WorkItem)
                yield from _unseen(entry, seen)
        elif is_image_path(match) or is_video_path(match):
            found = True
            yield from _unseen(_item(match), seen)
    if not found:
        yield InputError(pattern, "no image or video files match this pattern")


def _walk(folder: str) -> Iterator[WorkItem | InputError]:
    """Media files under ``folder`` (:func:`emolens.io.inputs.walk_files`); an unlistable folder is an error."""
    for path, error in walk_files(folder, lambda name: is_image_path(name) or is_video_path(name)):
        yield InputError(path, error) if error else _item(path)


def _item(path: str) -> WorkItem | InputError:
    try:
        st = os.stat(path)
    except OSError as e:
        return InputError(path, f"cannot read: {e.strerror or e}")
    if not os.path.isfile(path):
        return InputError(path, "not a regular file")
    kind = "video" if is_video_path(path) else "photo"
    return WorkItem(input_id(path), path, os.path.abspath(path), kind, int(st.st_size), int(st.st_mtime_ns))


def _unseen(entry: WorkItem | InputError, seen: set[str]) -> Iterator[WorkItem | InputError]:
    if isinstance(entry, InputError):
        yield entry
    elif entry.id not in seen:
        seen.add(entry.id)
        yield entry
