"""The annotated video (``annotated.mp4``): the analysed frames with boxes, landmarks and "#id: label NN%" tags.

H.264 (x264 "superfast", CRF 23) through PyAV (plays in browsers), or OpenCV ``mp4v`` without PyAV.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emolens.draw import annotate, pixelate
from emolens.errors import ConfigError, MissingExtraError, VideoError
from emolens.io.sinks import Closing
from emolens.types import EmotionScores, Face, FrameResult

__all__ = ["H264_ENCODERS", "AnnotatedVideoWriter", "display_face"]


#: Video encoders tried for ``annotated.mp4``, best first: H.264 plays in every browser. PyAV's wheels bundle
#: FFmpeg with libx264 (and openh264 on some builds); OpenCV's ``mp4v`` (MPEG-4 Part 2, which browsers refuse)
#: is the last resort when PyAV is not installed.
H264_ENCODERS: tuple[str, ...] = ("libx264", "libopenh264", "h264")


class AnnotatedVideoWriter(Closing):
    """Writes annotated frames to an MP4 file: boxes, landmarks and "#id: label NN%" tags.

    The video is H.264 (yuv420p, ``faststart``) through PyAV, so it plays in browsers; without PyAV
    (``pip install 'emolens[av]'``) OpenCV writes MPEG-4 Part 2 (``mp4v``), which desktop players read but
    browsers do not. :attr:`codec` says which was written. The tag shows the smoothed label and its smoothed
    probability; frames that differ in size from the first are resized to it (odd sizes are padded by one pixel,
    as H.264 in yuv420p needs even ones).

    Parameters
    ----------
    path : str or pathlib.Path
        Output file, normally ``.mp4``.
    fps : float
        Frame rate of the output (the analysed frames per second of video).
    blur_unknown : bool, default False
        Pixelate the faces that a gallery did not recognise (``identity == "unknown"``).
    codec : str, optional
        ``"h264"`` (needs PyAV) or ``"mp4v"``; default H.264 when PyAV is installed, else ``mp4v``.
    landmarks : bool, default True
        Draw landmark dots (see :func:`emolens.draw.draw_faces`).
    label_size : float, optional
        Tag text height in pixels (default: scaled with the frame).

    Raises
    ------
    ConfigError
        A frame rate that is not a positive number, or an unknown ``codec``.
    MissingExtraError
        ``codec="h264"`` without PyAV.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        blur_unknown: bool = False,
        codec: str | None = None,
        *,
        landmarks: bool = True,
        label_size: float | None = None,
    ) -> None:
        if _bad_fps(fps):
            raise ConfigError(f"the annotated video needs a positive frame rate, got {fps!r}")
        if codec is None:
            codec = "h264" if _has_pyav() else "mp4v"
        if codec not in ("h264", "mp4v"):
            raise ConfigError(f"unknown video codec {codec!r}; choose h264 or mp4v")
        if codec == "h264" and not _has_pyav():
            raise MissingExtraError("av", "av")
        self.path = Path(path)
        self.blur_unknown = blur_unknown
        self.fps = float(fps)
        self.codec = codec
        self.encoder: str | None = None
        self.landmarks = landmarks
        self.label_size = label_size
        self.frames_written = 0
        self._writer: Any = None
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None

    def write(self, result: FrameResult, rgb: np.ndarray) -> None:
        """Draw the faces of ``result`` on ``rgb`` (not modified) and append the frame."""
        import cv2

        blur = {"blur": pixelate, "blur_if": _unknown} if self.blur_unknown else {}
        img = annotate(
            rgb,
            [display_face(f) for f in result.faces],
            landmarks=self.landmarks,
            label_size=self.label_size,
            **blur,
        )
        h, w = img.shape[:2]
        if self._size is None:
            self._size = (w + w % 2, h + h % 2) if self.codec == "h264" else (w, h)
            self._open(*self._size)
        tw, th = self._size
        if (w, h) != (tw, th):
            if (w + w % 2, h + h % 2) == (tw, th):  # an odd size: repeat the last row / column
                img = cv2.copyMakeBorder(img, 0, th - h, 0, tw - w, cv2.BORDER_REPLICATE)
            else:
                img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        if self.codec == "h264":
            import av

            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = self.frames_written
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        else:
            self._writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def _open(self, w: int, h: int) -> None:
        if self.codec == "mp4v":
            import cv2

            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise VideoError(
                    "cannot write the annotated video (codec mp4v unavailable or bad path)", str(self.path)
                )
            self.encoder = "mp4v"
            return
        import av

        rate = Fraction(self.fps).limit_denominator(1001)
        try:
            self._container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        except (OSError, av.FFmpegError) as e:
            raise VideoError(f"cannot write the annotated video ({e})", str(self.path)) from None
        available = av.codecs_available
        for name in H264_ENCODERS:
            if name not in available:
                continue
            try:
                stream = self._container.add_stream(name, rate=rate)
            except (ValueError, av.FFmpegError):
                continue
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.time_base = 1 / rate
            if name == "libx264":
                stream.options = {"preset": "superfast", "crf": "23"}  # as fast as mp4v, half its size
            self._stream, self.encoder = stream, name
            return
        self._container.close()
        self._container = None
        raise VideoError("cannot write the annotated video: this PyAV build has no H.264 encoder", str(self.path))

    def close(self) -> None:
        """Finish the file. Idempotent."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._container is not None:
            container, self._container = self._container, None
            try:
                for packet in self._stream.encode(None):  # flush the encoder
                    container.mux(packet)
            finally:
                container.close()


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _unknown(face: Face) -> bool:
    return face.identity is not None and face.identity.endswith(" unknown")


def display_face(face: Face) -> Face:
    """A copy of a tracked face for :func:`emolens.draw.annotate`: tagged ``#id: smoothed_label NN%``."""
    if face.track_id is None:
        return face
    scores = face.smoothed or face.emotions
    label = face.smoothed_label or scores.top
    conf = scores[label] if label in scores.labels else scores.confidence
    tag = f"#{face.track_id} {face.identity}" if face.identity else f"#{face.track_id}"
    return replace(face, emotions=EmotionScores((label,), (conf,)), identity=tag, identity_score=None)


def _bad_fps(fps: object) -> bool:
    return isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or fps <= 0
