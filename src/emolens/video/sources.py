"""Video sources: a file, an image-sequence folder, a camera index or a stream URL, as a stream of RGB frames.

:func:`open_source` tells the kind from the argument:

- an ``int`` (or a string of digits that is not an existing path) is a camera index;
- an existing folder is an image sequence: its image files (not recursive, hidden names skipped) in natural
  order (``f2.png`` before ``f10.png``), stamped at ``sequence_fps``;
- an existing file is a video file, decoded with OpenCV's FFmpeg backend;
- a string with ``://`` (``rtsp://``, ``http://``, ...) is a stream URL;
- a :class:`VideoSource` is used as it is (e.g. a custom or simulated source).

Opening checks what it can at once, so a bad input fails before any work: a missing file, a file FFmpeg cannot
open or whose first frame cannot be decoded, "no camera at index 0", an unreachable stream all raise
:class:`~emolens.errors.VideoError` with one line for the user.

How a source ends:

- a video file that stops decoding well before the frame count in its header (a truncated or corrupt file)
  yields the frames it could decode and then raises ``VideoError`` ("the video ends early: ...");
- an image sequence yields the images it can read and then raises ``VideoError`` naming the first bad one;
- a camera or a stream that stops delivering frames (unplugged, dropped connection, end of a network file)
  just ends: the frames read so far are the result.

FFmpeg's own console messages are silenced (``OPENCV_FFMPEG_LOGLEVEL``, unless already set) so that the
library prints nothing; set ``OPENCV_FFMPEG_LOGLEVEL=24`` to see them.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from emolens.errors import ConfigError, EmolensError, VideoError
from emolens.io.inputs import is_image_path
from emolens.video.frames import Frame, PushSource, VideoSource

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET: FFmpeg must not write to the console

import cv2  # after the environment variable FFmpeg reads when it first opens a file

__all__ = [
    "CaptureSource",
    "Frame",
    "ImageSequenceSource",
    "PushSource",
    "VideoSource",
    "open_source",
]

#: URL schemes treated as live by default (frames come in real time; the pipeline may drop old ones).
LIVE_SCHEMES: frozenset[str] = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"})

#: A file whose decoding stops more than this share of its header's frame count early is reported as truncated.
TRUNCATION_TOLERANCE = 0.02


class CaptureSource(VideoSource):
    """A video file, camera or stream URL read with ``cv2.VideoCapture``; see :func:`open_source`."""

    def __init__(
        self,
        capture: Any,
        name: str,
        *,
        kind: str,
        live: bool,
    ) -> None:
        self._cap = capture
        self.name = name
        self.kind = kind  # "file", "camera" or "url"
        self.live = live
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps if 0 < fps < 1000 else None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and kind != "camera" and not live else None
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self._first: np.ndarray | None = None
        self._first_at = 0.0
        self._used = False
        if kind == "file":  # decode the first frame now, so an undecodable file fails at open time
            ok, bgr = capture.read()
            if not ok or bgr is None:
                self.close()
                raise VideoError("no frame could be decoded (corrupt, truncated or not a video)", name)
            self._first, self._first_at = bgr, time.perf_counter()

    def __iter__(self) -> Iterator[Frame]:
        if self._used:
            raise VideoError("this video source has already been read; open it again", self.name)
        self._used = True
        cap = self._cap
        index = 0
        t0: float | None = None
        pending, pending_at = self._first, self._first_at
        self._first = None
        while True:
            if pending is not None:
                bgr, at = pending, pending_at
                pending = None
            else:
                if cap is None or not cap.isOpened():
                    return
                try:
                    ok, bgr = cap.read()
                except cv2.error:  # a backend failure mid-stream ends the stream like a drop
                    ok, bgr = False, None
                at = time.perf_counter()
                if not ok or bgr is None:
                    break
            if self.live or self.kind == "camera":
                t0 = at if t0 is None else t0
                ts = at - t0
            else:
                ts = self._file_timestamp(index)
            yield Frame(index, ts, _to_rgb(bgr), at)
            index += 1
        if self.kind == "file" and self.frame_count is not None:
            missing = self.frame_count - index
            if missing > max(1, TRUNCATION_TOLERANCE * self.frame_count):
                raise VideoError(
                    f"the video ends early: decoded {index} of {self.frame_count} frames (truncated or corrupt file)",
                    self.name,
                )

    def _file_timestamp(self, index: int) -> float:
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) if self._cap is not None else -1
        if ms is not None and ms >= 0 and (ms > 0 or index == 0):
            return float(ms) / 1000.0
        return index / self.fps if self.fps else 0.0

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class ImageSequenceSource(VideoSource):
    """The image files of a folder as frames, in natural order, stamped at ``fps``; see :func:`open_source`."""

    def __init__(self, folder: str | os.PathLike[str], fps: float = 25.0) -> None:
        self.name = os.fspath(folder)
        if not fps or fps <= 0:
            raise ConfigError(f"sequence_fps must be positive, got {fps!r}")
        self.fps = float(fps)
        try:
            with os.scandir(folder) as it:
                names = [e.name for e in it if not e.name.startswith(".") and is_image_path(e.name) and e.is_file()]
        except OSError as e:
            raise VideoError(f"cannot list folder: {e.strerror or e}", self.name) from None
        if not names:
            raise VideoError("no image files in this folder", self.name)
        self.paths = [Path(folder) / n for n in sorted(names, key=_natural_key)]
        self.frame_count = len(self.paths)
        self._used = False

    def __iter__(self) -> Iterator[Frame]:
        from emolens.io.images import load_image

        if self._used:
            raise VideoError("this video source has already been read; open it again", self.name)
        self._used = True
        bad: list[str] = []
        for i, path in enumerate(self.paths):
            try:
                rgb = load_image(path).rgb
            except EmolensError as e:
                bad.append(f"{path.name}: {e.message}")
                continue
            if not self.width:
                self.height, self.width = rgb.shape[:2]
            yield Frame(i, i / self.fps, rgb, time.perf_counter())
        if bad:
            raise VideoError(f"{len(bad)} of {len(self.paths)} images could not be read (first: {bad[0]})", self.name)


def open_source(
    source: VideoSource | str | int | os.PathLike[str],
    *,
    live: bool | None = None,
    sequence_fps: float = 25.0,
    timeout_s: float = 10.0,
) -> VideoSource:
    """Open a video file, an image-sequence folder, a camera or a stream URL.

    Parameters
    ----------
    source : VideoSource, str, int or os.PathLike
        What to read; see the module docstring for how the kind is told. ``"0"`` is camera 0 unless a file
        named ``0`` exists.
    live : bool, optional
        Treat the source as live (frames may be dropped to keep up) or not (every frame is analysed). Default:
        cameras and ``rtsp``/``rtmp``/``udp``/``srt`` URLs are live; files, folders and ``http(s)`` URLs are not.
    sequence_fps : float, default 25
        Frame rate that stamps the frames of an image sequence.
    timeout_s : float, default 10
        For stream URLs: the longest wait to connect, and for each frame.

    Returns
    -------
    VideoSource
        An open source; iterate it once for :class:`Frame` objects, and close it.

    Raises
    ------
    VideoError
        The file is missing or cannot be decoded, there is no camera at that index, the stream cannot be
        reached, or the folder holds no images.
    ConfigError
        ``source`` is of a type that names no video.
    """
    if isinstance(source, VideoSource):
        if live is not None:
            source.live = live
        return source
    if isinstance(source, bool) or not isinstance(source, str | int | os.PathLike):
        raise ConfigError(f"cannot read video from a {type(source).__name__}; give a path, URL or camera index")
    if isinstance(source, int):
        return _open_camera(source, live)
    text = os.fspath(source)
    if os.path.isdir(text):
        src: VideoSource = ImageSequenceSource(text, sequence_fps)
        if live is not None:
            src.live = live
        return src
    if os.path.exists(text):
        return _open_file(text, live)
    if isinstance(source, str) and text.strip().isdigit():
        return _open_camera(int(text), live)
    if isinstance(source, str) and "://" in text:
        return _open_url(text, live, timeout_s)
    raise VideoError("file not found", text)


def _open_camera(index: int, live: bool | None) -> CaptureSource:
    name = f"camera {index}"
    if index < 0:
        raise VideoError(f"no camera at index {index}")
    if sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{index}"):
        raise VideoError(f"no camera at index {index}")  # checked first: OpenCV would only log a warning
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"no camera at index {index} (or it cannot be opened: in use, or no permission)")
    return CaptureSource(cap, name, kind="camera", live=True if live is None else live)


def _open_file(path: str, live: bool | None) -> CaptureSource:
    if is_image_path(path):  # OpenCV would open it as a one-frame video and give a meaningless timeline
        raise VideoError("a photo, not a video: read photos with `emolens analyze` (Analyzer.analyze in Python)", path)
    if not os.access(path, os.R_OK):
        raise VideoError("cannot read file: permission denied", path)
    with _quiet_opencv():
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError("cannot open as a video (not a video, an unsupported format, or a corrupt file)", path)
    return CaptureSource(cap, path, kind="file", live=bool(live))


def _open_url(url: str, live: bool | None, timeout_s: float) -> CaptureSource:
    name = redact_url(url)
    scheme = urlsplit(url).scheme.lower()
    ms = int(max(0.1, timeout_s) * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    try:
        with _quiet_opencv():
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    except cv2.error:
        cap = None
    if cap is None or not cap.isOpened():
        if cap is not None:
            cap.release()
        raise VideoError("cannot open the stream (unreachable, refused, timed out, or not a video)", name)
    return CaptureSource(cap, name, kind="url", live=(scheme in LIVE_SCHEMES) if live is None else live)


def redact_url(url: str) -> str:
    """``url`` without the password of its user part (``rtsp://user:***@host/path``), for messages and files."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Keep OpenCV's own warnings (e.g. "can't be used to capture by name") off the console while opening."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    old = logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(old)


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _natural_key(name: str) -> list[Any]:
    return [(0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t]
