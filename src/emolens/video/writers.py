"""Video outputs, written as the frames arrive: the per-face table, the per-track summary, timelines, annotated video.

Files (all optional except the CSV table in :class:`VideoOutputWriter`):

``frames.csv`` / ``frames.parquet``
    One row per face per analysed frame (:func:`frame_records`; a frame without faces has no row; the summary
    counts analysed frames). Columns (:func:`table_columns`): ``frame, timestamp, track_id, face, x1, y1, x2,
    y2, score``, the landmark columns of :data:`emolens.io.writers.LANDMARK_COLUMNS` (empty where the detector
    does not locate a point), ``p_<label>`` raw probabilities, ``s_<label>`` smoothed probabilities, ``label``
    (top raw class) and ``smoothed_label``. CSV is flushed after every frame; Parquet is written in row groups
    (readable once closed, which also happens when the run fails).
With attention (``emolens video --attention``) the tables add :data:`ATTENTION_COLUMNS` (head yaw, pitch and
roll in degrees, each eye's aspect ratio, eyes closed, a blink ending, gaze, mouth opening, yawn, attending,
the angle off the target, the current focus spell's length, PERCLOS and blinks per minute), and
``thumbs/track_<id>.jpg`` keeps the largest view of each track's face (for ``emolens report``).
``tracks.json``
    :class:`TrackSummary`: per track the first and last frame and time it was seen, the frames seen, the
    dominant emotion and the share of frames in each emotion (smoothed labels), the mean smoothed probabilities,
    the mean valence (probabilities weighted by :data:`emolens.labels.VALENCE`, from -1 to 1) and the label
    changes per minute, raw and smoothed.
``timeline_track_<id>.png``
    Smoothed probabilities of one track over time (a stacked area plot; needs matplotlib, ``emolens[plot]``).
``annotated.mp4``
    The analysed frames with boxes, landmarks and "#id: label NN%" tags: H.264 (x264 "superfast", CRF 23) through
    PyAV (plays in browsers), or OpenCV ``mp4v`` without PyAV (:class:`AnnotatedVideoWriter`).

Memory stays flat: the table writers keep at most one row group, and each timeline keeps at most
``max_points`` points (older points are merged in pairs when it is full).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens.errors import ConfigError, MissingExtraError, VideoError
from emolens.io.writers import LANDMARK_COLUMNS, with_nullable_ints
from emolens.labels import VALENCE
from emolens.types import EmotionScores, Face, FrameResult
from emolens.video.smoothing import UNCERTAIN

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AnnotatedVideoWriter",
    "FrameTableWriter",
    "TrackSummary",
    "VideoOutputWriter",
    "frame_records",
    "frames_to_dataframe",
    "open_table_writer",
    "plot_timeline",
    "table_columns",
]

TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")
#: The per-face table's attention columns (``attention=True``); see the module docstring.
ATTENTION_COLUMNS: tuple[str, ...] = (
    "yaw", "pitch", "roll", "eye_left", "eye_right", "eyes_closed", "blink", "gaze_yaw", "gaze_pitch",
    "mouth_opening", "yawn", "attending", "off_target", "focus_s", "perclos", "blink_rate",
)  # fmt: skip
_ATTENTION_FLAGS = ("eyes_closed", "blink", "yawn", "attending")


# ------------------------------------------------------------------------------------------------------ rows


def table_columns(labels: Sequence[str], attention: bool = False) -> list[str]:
    """The per-face table's columns for an emotion label set, in order (see the module docstring)."""
    return [*_base_columns(labels), *(ATTENTION_COLUMNS if attention else ())]


def _base_columns(labels: Sequence[str]) -> list[str]:
    return [
        "frame", "timestamp", "track_id", "face", "x1", "y1", "x2", "y2", "score",
        *LANDMARK_COLUMNS,
        *(f"p_{label}" for label in labels),
        *(f"s_{label}" for label in labels),
        "label", "smoothed_label", "identity", "identity_score",
    ]  # fmt: skip


def frame_records(result: FrameResult, labels: Sequence[str], attention: bool = False) -> list[dict[str, Any]]:
    """Flatten one frame into rows, one per face (none for a frame without faces).

    Parameters
    ----------
    result : FrameResult
        One analysed frame.
    labels : sequence of str
        The label set of the ``p_`` and ``s_`` columns.
    attention : bool, default False
        Add the :data:`ATTENTION_COLUMNS` (empty for a face without attention measures).

    Returns
    -------
    list of dict
        Rows keyed by :func:`table_columns`; pixels rounded to 0.1, probabilities to 1e-4, missing values None.
    """
    columns = table_columns(labels, attention)
    rows = []
    for face in result.faces:
        row: dict[str, Any] = dict.fromkeys(columns)
        row["frame"] = result.index
        row["timestamp"] = round(float(result.timestamp), 4)
        row["track_id"] = face.track_id
        row["face"] = face.index
        row["x1"], row["y1"], row["x2"], row["y2"] = face.box.to_list()
        row["score"] = round(float(face.score), 4)
        if face.landmarks is not None:
            flat = [v for point in face.landmarks.to_list() for v in point]
            row.update(zip(LANDMARK_COLUMNS, flat, strict=True))
        _put_probs(row, "p_", face.emotions, labels, result)
        if face.smoothed is not None:
            _put_probs(row, "s_", face.smoothed, labels, result)
        row["label"] = face.label
        row["smoothed_label"] = face.smoothed_label
        row["identity"] = face.identity
        row["identity_score"] = None if face.identity_score is None else round(float(face.identity_score), 4)
        if attention:
            _put_attention(row, face)
        rows.append(row)
    return rows


def _put_attention(row: dict[str, Any], face: Face) -> None:
    def r(x: float | None, nd: int) -> float | None:
        return None if x is None or not math.isfinite(x) else round(float(x), nd)

    if face.pose is not None:
        row["yaw"], row["pitch"], row["roll"] = r(face.pose.yaw, 1), r(face.pose.pitch, 1), r(face.pose.roll, 1)
    if face.eyes is not None:
        e = face.eyes
        row["eye_left"], row["eye_right"], row["eyes_closed"], row["blink"] = (
            r(e.left, 3),
            r(e.right, 3),
            e.closed,
            e.blink,
        )
        row["gaze_yaw"], row["gaze_pitch"] = r(e.gaze_yaw, 1), r(e.gaze_pitch, 1)
    if face.mouth is not None:
        row["mouth_opening"], row["yawn"] = r(face.mouth.opening, 3), face.mouth.yawn
    if face.attention is not None:
        a = face.attention
        row["attending"], row["off_target"] = a.attending, r(a.off_target, 1)
        row["focus_s"], row["perclos"], row["blink_rate"] = r(a.focus_s, 3), r(a.perclos, 4), r(a.blink_rate, 2)


def _put_probs(row: dict[str, Any], prefix: str, scores: EmotionScores, labels: Sequence[str], r: FrameResult) -> None:
    for label, p in scores.to_dict().items():
        key = prefix + label
        if key not in row:
            raise ConfigError(f"frame {r.index}: emotion label {label!r} is not among the columns {list(labels)}")
        row[key] = p


def frames_to_dataframe(results: Iterable[FrameResult], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Collect video results into a pandas DataFrame: one row per face per analysed frame.

    Parameters
    ----------
    results : iterable of FrameResult
        E.g. an ``Analyzer.analyze_video(...)`` run (consumed; the rows are held in memory, as a DataFrame is).
    labels : sequence of str, optional
        Label set of the ``p_``/``s_`` columns; defaults to the labels of the first face.

    Returns
    -------
    pandas.DataFrame
        Columns :func:`table_columns`; ``frame``, ``track_id`` and ``face`` as nullable integers.

    Raises
    ------
    MissingExtraError
        pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("pandas", "pandas") from None
    lab = None if labels is None else tuple(labels)
    rows: list[dict[str, Any]] = []
    for r in results:
        if lab is None and r.faces:
            lab = r.faces[0].emotions.labels
        if r.faces:
            rows.extend(frame_records(r, lab or ()))
    df = pd.DataFrame.from_records(rows, columns=table_columns(lab or ()))
    return df.astype({"frame": "Int64", "track_id": "Int64", "face": "Int64"})


# ---------------------------------------------------------------------------------------------- table writers


class FrameTableWriter:
    """Writes :func:`frame_records` rows as they come: ``csv`` (flushed per frame) or ``parquet`` (row groups).

    Parameters
    ----------
    path : str or pathlib.Path
        The output file (its folder must exist).
    labels : sequence of str
        The emotion labels (``run.labels``).
    fmt : {"csv", "parquet"}, default "csv"
    row_group_size : int, default 1000
        Parquet rows per row group.
    """

    def __init__(
        self,
        path: str | Path,
        labels: Sequence[str],
        fmt: str = "csv",
        row_group_size: int = 1000,
        attention: bool = False,
    ) -> None:
        if fmt not in TABLE_FORMATS:
            raise ConfigError(f"unknown table format {fmt!r}; choose one of {', '.join(TABLE_FORMATS)}")
        if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
            raise ConfigError(f"row_group_size must be a positive integer, got {row_group_size!r}")
        self.path = Path(path)
        self.format = fmt
        self.labels = tuple(labels)
        self.attention = attention
        self.columns = table_columns(self.labels, attention)
        self.rows_written = 0
        self._closed = False
        self._row_group_size = row_group_size
        self._pending: list[dict[str, Any]] = []
        if fmt == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise MissingExtraError("pyarrow", "parquet") from None
            self._pa = pa
            ints = {"frame": pa.int64(), "track_id": pa.int64(), "face": pa.int32()}
            strings = {"label": pa.string(), "smoothed_label": pa.string(), "identity": pa.string()}
            strings.update(dict.fromkeys(_ATTENTION_FLAGS, pa.bool_()))
            schema = pa.schema([(c, ints.get(c) or strings.get(c) or pa.float64()) for c in self.columns])
            self._schema = with_nullable_ints(schema)
            self._file = _open(self.path, "wb")
            self._pq_writer = pq.ParquetWriter(self._file, self._schema)
        else:
            self._file = _open(self.path, "w")
            self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
            self._csv.writeheader()
            self._file.flush()

    def write(self, result: FrameResult) -> None:
        """Write the rows of one analysed frame."""
        if self._closed:
            raise ConfigError(f"this {self.format} writer is closed", str(self.path))
        rows = frame_records(result, self.labels, self.attention)
        self.rows_written += len(rows)
        if self.format == "csv":
            self._csv.writerows(rows)
            self._file.flush()
            return
        self._pending.extend(rows)
        while len(self._pending) >= self._row_group_size:
            self._write_group(self._pending[: self._row_group_size])
            self._pending = self._pending[self._row_group_size :]

    def _write_group(self, rows: list[dict[str, Any]]) -> None:
        self._pq_writer.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))
        self._file.flush()

    def close(self) -> None:
        """Finish the file (Parquet: the last row group and the footer). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.format == "parquet":
                if self._pending:
                    self._write_group(self._pending)
                    self._pending = []
                self._pq_writer.close()
        finally:
            self._file.close()

    def __enter__(self) -> FrameTableWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_table_writer(
    fmt: str, path: str | Path, labels: Sequence[str], row_group_size: int = 1000
) -> FrameTableWriter:
    """A :class:`FrameTableWriter` for ``fmt`` (``csv`` or ``parquet``)."""
    return FrameTableWriter(path, labels, fmt, row_group_size)


# --------------------------------------------------------------------------------------------------- summary


@dataclass
class _Series:
    """A bounded time series: when full, neighbouring points are merged in pairs (means), halving it."""

    max_points: int
    times: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    def add(self, t: float, p: np.ndarray) -> None:
        self.times.append(t)
        self.probs.append(p)
        self.weights.append(1)
        if len(self.times) > self.max_points:
            self._halve()

    def _halve(self) -> None:
        times, probs, weights = [], [], []
        for i in range(0, len(self.times) - 1, 2):
            w0, w1 = self.weights[i], self.weights[i + 1]
            w = w0 + w1
            times.append((self.times[i] * w0 + self.times[i + 1] * w1) / w)
            probs.append((self.probs[i] * w0 + self.probs[i + 1] * w1) / w)
            weights.append(w)
        if len(self.times) % 2:
            times.append(self.times[-1])
            probs.append(self.probs[-1])
            weights.append(self.weights[-1])
        self.times, self.probs, self.weights = times, probs, weights


@dataclass
class _TrackStats:
    first_frame: int
    first_seen: float
    last_frame: int = 0
    last_seen: float = 0.0
    frames: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    raw_counts: dict[str, int] = field(default_factory=dict)
    prob_sum: np.ndarray | None = None
    valence_sum: float = 0.0
    changes: int = 0
    raw_changes: int = 0
    last_label: str | None = None
    last_raw: str | None = None
    series: _Series | None = None
    identity: str | None = None
    thumb: np.ndarray | None = None
    thumb_quality: float = -1.0
    thumb_frame: int | None = None


class TrackSummary:
    """Accumulates per-track statistics frame by frame (constant memory per track); see the module docstring.

    Parameters
    ----------
    labels : sequence of str
        The emotion labels.
    source : str, optional
        The video's name, written in the summary.
    max_points : int, default 2000
        Most points kept per track for :meth:`plot`.
    """

    def __init__(self, labels: Sequence[str], source: str | None = None, max_points: int = 2000) -> None:
        self.labels = tuple(labels)
        self.source = source
        self.max_points = max_points
        self.frames_analysed = 0
        self.frames_with_faces = 0
        self.first_timestamp: float | None = None
        self.last_timestamp = 0.0
        self._valence = np.array([VALENCE.get(label, 0.0) for label in self.labels])
        self._tracks: dict[int, _TrackStats] = {}

    def update(self, result: FrameResult, rgb: np.ndarray | None = None) -> None:
        """Add one analysed frame; with its pixels (``rgb``), each track keeps a thumbnail of its best face."""
        self.frames_analysed += 1
        self.frames_with_faces += bool(result.faces)
        if self.first_timestamp is None:
            self.first_timestamp = result.timestamp
        self.last_timestamp = result.timestamp
        for face in result.faces:
            if face.track_id is None:
                continue
            st = self._tracks.get(face.track_id)
            if st is None:
                st = self._tracks[face.track_id] = _TrackStats(result.index, result.timestamp)
                st.series = _Series(self.max_points)
            scores = face.smoothed or face.emotions
            p = np.asarray(scores.probs, dtype=np.float64)
            label = face.smoothed_label or scores.top
            st.last_frame, st.last_seen = result.index, result.timestamp
            st.frames += 1
            st.counts[label] = st.counts.get(label, 0) + 1
            st.raw_counts[face.label] = st.raw_counts.get(face.label, 0) + 1
            st.prob_sum = p if st.prob_sum is None else st.prob_sum + p
            st.valence_sum += float(p @ self._valence) if len(p) == len(self._valence) else 0.0
            st.changes += st.last_label is not None and label != st.last_label
            st.raw_changes += st.last_raw is not None and face.label != st.last_raw
            st.last_label, st.last_raw = label, face.label
            assert st.series is not None
            st.series.add(result.timestamp, p)
            if face.identity is not None:
                st.identity = face.identity
            if rgb is not None:
                q = thumbnail_quality(face, result.width or rgb.shape[1], result.height or rgb.shape[0])
                if q > st.thumb_quality:
                    st.thumb, st.thumb_quality, st.thumb_frame = face_thumbnail(rgb, face), q, result.index

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    @property
    def frame_interval(self) -> float:
        """Mean seconds between analysed frames (0 with fewer than two)."""
        if self.first_timestamp is None or self.frames_analysed < 2:
            return 0.0
        return (self.last_timestamp - self.first_timestamp) / (self.frames_analysed - 1)

    def thumbnail(self, track_id: int) -> np.ndarray | None:
        """The track's best face (:func:`face_thumbnail`), or ``None`` when no frame pixels were given."""
        return self._tracks[track_id].thumb

    def series(self, track_id: int) -> tuple[list[float], np.ndarray]:
        """The track's timeline: times (s) and ``[n, len(labels)]`` smoothed probabilities (at most ``max_points``)."""
        st = self._tracks[track_id]
        assert st.series is not None
        return list(st.series.times), np.array(st.series.probs).reshape(len(st.series.times), len(self.labels))

    def track(self, track_id: int) -> dict[str, Any]:
        """The summary of one track (the objects in ``to_dict()["tracks"]``)."""
        st = self._tracks[track_id]
        n = st.frames
        share = {k: round(v / n, 4) for k, v in sorted(st.counts.items(), key=lambda kv: -kv[1])}
        emotional = {k: v for k, v in st.counts.items() if k != UNCERTAIN}
        dominant = max(emotional or st.counts, key=lambda k: (emotional or st.counts)[k])
        minutes = (st.last_seen - st.first_seen) / 60.0
        assert st.prob_sum is not None
        return {
            "track_id": track_id,
            "identity": st.identity,
            "first_frame": st.first_frame,
            "last_frame": st.last_frame,
            "first_seen_s": round(st.first_seen, 3),
            "last_seen_s": round(st.last_seen, 3),
            "frames": n,
            "dominant_emotion": dominant,
            "share": share,
            "share_raw": {k: round(v / n, 4) for k, v in sorted(st.raw_counts.items(), key=lambda kv: -kv[1])},
            "mean_probs": {k: round(float(v) / n, 4) for k, v in zip(self.labels, st.prob_sum, strict=False)},
            "mean_valence": round(st.valence_sum / n, 4),
            "label_changes": st.changes,
            "label_changes_raw": st.raw_changes,
            "label_changes_per_minute": round(st.changes / minutes, 2) if minutes > 0 else None,
            "label_changes_per_minute_raw": round(st.raw_changes / minutes, 2) if minutes > 0 else None,
            "seconds_on_screen": round(n * self.frame_interval, 3),
            "thumbnail_frame": st.thumb_frame,
        }

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        """The whole summary: run facts (plus ``extra``) and the list of tracks."""
        return {
            "source": self.source,
            "frames_analysed": self.frames_analysed,
            "frames_with_faces": self.frames_with_faces,
            "first_timestamp_s": None if self.first_timestamp is None else round(self.first_timestamp, 3),
            "last_timestamp_s": round(self.last_timestamp, 3),
            "labels": list(self.labels),
            **extra,
            "tracks": [self.track(t) for t in self.track_ids],
        }

    def write_json(self, path: str | Path, **extra: Any) -> None:
        """Write :meth:`to_dict` as JSON."""
        try:
            Path(path).write_text(json.dumps(self.to_dict(**extra), indent=2, ensure_ascii=False) + "\n")
        except OSError as e:
            raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None

    def plot(self, track_id: int, path: str | Path) -> None:
        """Write the timeline PNG of one track, with its best face when there is one (needs matplotlib)."""
        st = self._tracks[track_id]
        assert st.series is not None
        t = self.track(track_id)
        who = f" ({st.identity})" if st.identity else ""
        title = (
            f"track {track_id}{who}: mostly {t['dominant_emotion']}, "
            f"{t['seconds_on_screen']:.1f} s on screen ({t['first_seen_s']:.1f}-{t['last_seen_s']:.1f} s)"
        )
        plot_timeline(st.series.times, np.array(st.series.probs), self.labels, path, title=title, thumbnail=st.thumb)


#: Side of a track's thumbnail in pixels.
THUMBNAIL_SIZE = 112


def thumbnail_quality(face: Face, width: int, height: int) -> float:
    """How good a face is as its track's picture: detector score x size (up to the thumbnail's), halved when the
    box is cut by the frame's edge."""
    b = face.box
    inside = b.x1 >= 0 and b.y1 >= 0 and b.x2 <= width and b.y2 <= height
    return float(face.score) * min(1.0, b.size / THUMBNAIL_SIZE) * (1.0 if inside else 0.5)


def face_thumbnail(rgb: np.ndarray, face: Face, size: int = THUMBNAIL_SIZE, margin: float = 0.2) -> np.ndarray:
    """A square ``[size, size, 3]`` uint8 RGB crop around a face (its box plus ``margin`` each side; padding with
    black where that reaches outside the frame)."""
    import cv2

    b = face.box
    side = b.size * (1 + 2 * margin)
    cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    h, w = rgb.shape[:2]
    crop = np.zeros((s, s, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def plot_timeline(
    times: Sequence[float],
    probs: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
    thumbnail: np.ndarray | None = None,
) -> None:
    """Plot probabilities over time as a stacked area chart and save it as PNG.

    Parameters
    ----------
    times : sequence of float
        Seconds.
    probs : numpy.ndarray
        ``[len(times), len(labels)]`` probabilities.
    labels : sequence of str
        Emotion labels, coloured as in :data:`emolens.draw.EMOTION_COLORS`.
    path : str or pathlib.Path
        The PNG file.
    title : str, optional
    thumbnail : numpy.ndarray, optional
        The track's face (``uint8`` ``[h, w, 3]`` RGB), shown left of the plot.

    Raises
    ------
    MissingExtraError
        matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # headless
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    from emolens.draw import EMOTION_COLORS, OTHER_COLOR

    colors = [tuple(c / 255 for c in EMOTION_COLORS.get(label, OTHER_COLOR)) for label in labels]
    probs = np.asarray(probs, dtype=np.float64).reshape(len(times), len(labels))
    if thumbnail is None:
        fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    else:
        fig, (face_ax, ax) = plt.subplots(
            1, 2, figsize=(12, 3.2), dpi=100, gridspec_kw={"width_ratios": [1, 4.6]}, squeeze=True
        )
        face_ax.imshow(thumbnail, interpolation="lanczos")
        face_ax.set_axis_off()
    try:
        if len(times) == 1:  # one point: show it as a bar of width one frame
            times = [times[0], times[0] + 1e-3]
            probs = np.repeat(probs, 2, axis=0)
        ax.stackplot(times, probs.T, labels=labels, colors=colors, linewidth=0)
        ax.set_xlim(times[0], times[-1])
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("probability (smoothed)")
        if title:
            ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(path, format="png")
    except OSError as e:
        raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------------- annotated video


#: Video encoders tried for ``annotated.mp4``, best first: H.264 plays in every browser. PyAV's wheels bundle
#: FFmpeg with libx264 (and openh264 on some builds); OpenCV's ``mp4v`` (MPEG-4 Part 2, which browsers refuse)
#: is the last resort when PyAV is not installed.
H264_ENCODERS: tuple[str, ...] = ("libx264", "libopenh264", "h264")


class AnnotatedVideoWriter:
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

        from emolens.draw import annotate, pixelate

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

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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


# ----------------------------------------------------------------------------------------------- all outputs


class VideoOutputWriter:
    """Everything ``emolens video --out DIR`` writes, fed one analysed frame at a time.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder (created if missing).
    labels : sequence of str
        The emotion labels (``run.labels``).
    source : str, optional
        The video's name, for the summary.
    tables : sequence of str, default ("csv", "parquet")
        Table formats to write (``frames.csv``, ``frames.parquet``).
    plots : bool, default True
        Write ``timeline_track_<id>.png`` for each track on close (needs matplotlib).
    annotate_fps : float, optional
        Write ``annotated.mp4`` at this frame rate (``None``: no annotated video).
    blur_unknown : bool, default False
        Pixelate unrecognised faces in ``annotated.mp4``.
    landmarks : bool, default True
        Landmark dots in ``annotated.mp4``.
    label_size : float, optional
        Tag text height in pixels in ``annotated.mp4`` (default: scaled with the frame).
    summary : bool, default True
        Write the per-video summary sheet on close: ``summary.html`` (self-contained) and, with ``plots``,
        ``summary.png`` (:mod:`emolens.video.report`). Thumbnails need the frames passed to :meth:`write`.
    codec : str, optional
        ``annotated.mp4``'s codec (:class:`AnnotatedVideoWriter`); default H.264 when PyAV is installed.
    attention : bool, default False
        Add the attention columns, and keep each track's largest face view for ``thumbs/track_<id>.jpg``
        (when :meth:`write` gets the frames).

    Raises
    ------
    MissingExtraError
        Parquet was asked for without pyarrow, or plots without matplotlib.
    """

    def __init__(
        self,
        out_dir: str | Path,
        labels: Sequence[str],
        *,
        source: str | None = None,
        tables: Sequence[str] = TABLE_FORMATS,
        plots: bool = True,
        annotate_fps: float | None = None,
        blur_unknown: bool = False,
        landmarks: bool = True,
        label_size: float | None = None,
        summary: bool = True,
        codec: str | None = None,
        attention: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.attention = attention
        self._thumbs: dict[int, tuple[float, np.ndarray]] = {}
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the output folder: {e.strerror or e}", str(out_dir)) from None
        if plots:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise MissingExtraError("matplotlib", "plot") from None
        self.plots = plots
        self.summary_sheet = summary
        self.summary = TrackSummary(labels, source)
        self.tables: list[FrameTableWriter] = []
        self.annotated: AnnotatedVideoWriter | None = None
        self.files: list[Path] = []
        try:
            for fmt in tables:
                self.tables.append(FrameTableWriter(self.out_dir / f"frames.{fmt}", labels, fmt, attention=attention))
                self.files.append(self.out_dir / f"frames.{fmt}")
            if annotate_fps is not None:
                self.annotated = AnnotatedVideoWriter(
                    self.out_dir / "annotated.mp4",
                    annotate_fps,
                    blur_unknown,
                    codec,
                    landmarks=landmarks,
                    label_size=label_size,
                )
        except BaseException:
            self._close_writers()
            raise
        self._closed = False

    def write(self, result: FrameResult, rgb: np.ndarray | None = None) -> None:
        """Add one analysed frame (``rgb`` is needed when writing the annotated video)."""
        for t in self.tables:
            t.write(result)
        self.summary.update(result, rgb)
        if self.attention and rgb is not None:
            self._keep_thumbs(result, rgb)
        if self.annotated is not None:
            if rgb is None:
                raise ConfigError("the annotated video needs the frames: use analyze_video(..., with_frames=True)")
            self.annotated.write(result, rgb)

    def close(self, **extra: Any) -> list[Path]:
        """Finish the tables and the video, then write ``tracks.json`` (with ``extra`` facts) and the plots.

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        if self._closed:
            return self.files
        self._closed = True
        self._close_writers()
        if self.annotated is not None and self.annotated.frames_written:
            self.files.append(self.annotated.path)
        self.files += self._write_thumbs()
        path = self.out_dir / "tracks.json"
        self.summary.write_json(path, **extra)
        self.files.append(path)
        if self.plots:
            for tid in self.summary.track_ids:
                png = self.out_dir / f"timeline_track_{tid}.png"
                self.summary.plot(tid, png)
                self.files.append(png)
        if self.summary_sheet:
            from emolens.video.report import write_summary_html, write_summary_png

            facts = {k: v for k, v in extra.items() if k in ("fps", "detector", "model", "complete", "error")}
            html = self.out_dir / "summary.html"
            write_summary_html(self.summary, html, **facts)
            self.files.append(html)
            if self.plots:
                png = self.out_dir / "summary.png"
                write_summary_png(self.summary, png)
                self.files.append(png)
        return self.files

    def _keep_thumbs(self, result: FrameResult, rgb: np.ndarray) -> None:
        """Keep, per track, the crop of its largest frontal-enough view (one small image per track)."""
        h, w = rgb.shape[:2]
        for face in result.faces:
            if face.track_id is None:
                continue
            frontal = 1.0
            if face.pose is not None and math.isfinite(face.pose.yaw):
                frontal = max(0.1, math.cos(math.radians(min(abs(face.pose.yaw), 80))))
            score = face.box.area * frontal
            best = self._thumbs.get(face.track_id)
            if best is not None and best[0] >= score:
                continue
            b = face.box
            m = 0.25 * b.size
            x1, y1 = max(0, int(b.x1 - m)), max(0, int(b.y1 - m))
            x2, y2 = min(w, int(b.x2 + m)), min(h, int(b.y2 + m))
            if x2 - x1 < 4 or y2 - y1 < 4:
                continue
            import cv2

            crop = rgb[y1:y2, x1:x2]
            s = 160 / max(crop.shape[:2])
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))))
            self._thumbs[face.track_id] = (score, crop)

    def _write_thumbs(self) -> list[Path]:
        if not self._thumbs:
            return []
        import cv2

        folder = self.out_dir / "thumbs"
        folder.mkdir(exist_ok=True)
        files = []
        for tid, (_, crop) in sorted(self._thumbs.items()):
            path = folder / f"track_{tid}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            files.append(path)
        return files

    def _close_writers(self) -> None:
        for t in self.tables:
            t.close()
        if self.annotated is not None:
            self.annotated.close()


def _open(path: Path, mode: str) -> Any:
    try:
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding="utf-8", newline="")
    except OSError as e:
        raise ConfigError(f"cannot open output file for writing: {e.strerror or e}", str(path)) from None


def _bad_fps(fps: object) -> bool:
    return isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or fps <= 0
