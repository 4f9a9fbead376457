"""Turn command-line input arguments (files, folders, glob patterns) into a stream of image paths.

Rules
-----
- A file named explicitly is yielded whatever its extension (the loader reports it if it is not an image), except
  a video (:data:`VIDEO_EXTENSIONS`), which yields an :class:`InputItem` with ``error`` saying to use
  ``emolens video``.
- A folder is walked recursively; only files with an image extension (:data:`IMAGE_EXTENSIONS`, any case) are
  yielded. Hidden entries (names starting with ".") are skipped, as the shell and :mod:`glob` do, which also
  skips macOS ``._name.jpg`` resource forks. Symbolic links to folders are not followed (no cycles).
- A pattern with ``*``, ``?`` or ``[`` that is not an existing path is a glob (``**`` matches any depth).
  Matching files with an image extension are yielded; matching folders are walked as above.
- Order is deterministic: arguments in the order given; inside a folder or a glob, sorted by path components
  (code-point order), so ``a.jpg`` < ``b/x.jpg`` < ``c.jpg``.
- A file reached twice (same absolute path, e.g. ``a.jpg`` and ``./a.jpg``, or a file inside a folder also
  given) is yielded once, the first time.
- Only regular files are read: a named pipe, a device or a socket (even one named ``pipe.jpg``) yields an
  :class:`InputItem` with ``error`` set instead of being opened, since reading it could wait forever.
- Nothing raises mid-stream: a missing path, a glob that matches nothing, a folder with no images or an
  unreadable folder yields an :class:`InputItem` with ``error`` set, so a batch reports it and goes on.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "InputItem", "expand_inputs", "is_image_path", "not_a_regular_file"]

#: File extensions (lower case, with the dot) taken from folders and globs.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}
)

#: File extensions (lower case, with the dot) of videos: a video named where photos are expected is reported as
#: one (with the command that reads it) instead of failing in the image decoder.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".3gp"}
)
#: Why a video named where photos are expected yields no image.
NOT_A_PHOTO = "a video, not a photo: read videos with `emolens video` (Analyzer.analyze_video in Python)"

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class InputItem:
    """One input for a batch run: an image path, or the reason an argument gave none.

    Attributes
    ----------
    source : str
        The path as the user would recognise it (the argument, or the argument joined with the path below
        it); use it as the ``source`` of results and errors.
    path : pathlib.Path or None
        The file to load; ``None`` when ``error`` is set.
    error : str or None
        One line saying why this argument yielded no image (``None`` when fine).
    """

    source: str
    path: Path | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether this item is a file to load."""
        return self.error is None


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has one of the :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[InputItem]:
    """Expand files, folders and glob patterns into image inputs, lazily and in a deterministic order.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Command-line arguments: files, folders (walked recursively) and glob patterns (``**`` recursive).

    Yields
    ------
    InputItem
        One per image file found, without duplicates; or one with ``error`` set for an argument that is
        missing, matches nothing, holds no images or cannot be read. See the module docstring for the rules.
    """
    seen: set[str] = set()
    for arg in paths:
        yield from _expand_one(os.fspath(arg), seen)


def _expand_one(arg: str, seen: set[str]) -> Iterator[InputItem]:
    if not arg:
        yield InputItem(source=arg, error="empty path")
        return
    try:
        if os.path.isdir(arg):
            yield from _walk_folder(arg, seen)
        elif os.path.exists(arg):
            yield from _file_item(arg, seen)
        elif _GLOB_CHARS.intersection(arg):
            yield from _expand_glob(arg, seen)
        else:
            yield InputItem(source=arg, error="no such file or folder")
    except OSError as e:  # safety net; _walk already turns an unlistable folder into an error item
        yield InputItem(source=arg, error=f"cannot read: {e.strerror or e}")


def _file_item(path: str, seen: set[str]) -> Iterator[InputItem]:
    key = os.path.normcase(os.path.abspath(path))
    if key not in seen:
        seen.add(key)
        error = not_a_regular_file(path)
        if error is None and os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
            error = NOT_A_PHOTO
        yield InputItem(source=path, error=error) if error else InputItem(source=path, path=Path(path))


def not_a_regular_file(path: str) -> str | None:
    """Why ``path`` is not read (a named pipe, a device, a socket: reading it could wait forever), or ``None``.

    Follows symbolic links; a path that cannot be stat'ed is left to the loader, which says why.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = (
        "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a file"
    )
    return f"not a regular file ({kind}); skipped"


def _walk_folder(folder: str, seen: set[str]) -> Iterator[InputItem]:
    if not (yield from _walk_unseen(folder, seen)):
        yield InputItem(source=folder, error="no image files in this folder")


def _walk_unseen(folder: str, seen: set[str]) -> Generator[InputItem, None, bool]:
    """The items of :func:`_walk` not yet seen; returns whether the folder holds any image file."""
    found = False
    for item in _walk(folder):
        if item.ok:
            found = True
            yield from _file_item(item.source, seen)
        else:
            yield item
    return found


def _walk(folder: str) -> Iterator[InputItem]:
    """Image files under ``folder``, recursively (see :func:`walk_files`); an unlistable folder is an error item."""
    for path, error in walk_files(folder, is_image_path):
        yield InputItem(source=path, error=error) if error else InputItem(source=path, path=Path(path))


def walk_files(folder: str, accept: Callable[[str], bool]) -> Iterator[tuple[str, str | None]]:
    """``(path, None)`` for each file under ``folder`` whose name ``accept`` takes, recursively, sorted by path
    components, hidden entries and links to folders skipped; ``(folder, message)`` for a folder that cannot be
    listed, and ``(path, message)`` for a named pipe, device or socket (never opened); the walk goes on. Not
    deduplicated."""
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        yield folder, f"cannot list folder: {e.strerror or e}"
        return
    for entry in entries:
        path = os.path.join(folder, entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            yield from walk_files(path, accept)
        elif accept(entry.name):
            yield path, not_a_regular_file(path)


def _expand_glob(pattern: str, seen: set[str]) -> Iterator[InputItem]:
    matches = sorted(glob.glob(pattern, recursive=True), key=lambda p: Path(p).parts)
    found = False
    for match in matches:
        if os.path.isdir(match):
            found = (yield from _walk_unseen(match, seen)) or found
        elif is_image_path(match):
            found = True
            yield from _file_item(match, seen)
    if not found:
        yield InputItem(source=pattern, error="no image files match this pattern")
