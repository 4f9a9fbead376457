"""The record schemas, declared once: the flat rows of photo faces and of video-frame faces, with their types.

Every output that writes a table reads its columns from here: ``emolens analyze --format csv|parquet`` and
``ImageResult.to_pandas()`` (:func:`photo_columns`, rows from :func:`records`), ``frames.csv`` /
``frames.parquet`` of ``emolens video`` and ``FrameResult.to_pandas()`` (:func:`frame_columns`, rows from
:func:`frame_records`), and the faces table of ``emolens batch`` (:func:`batch_face_columns`, both kinds in one
schema). ``docs/outputs.md`` lists the same columns and a test checks it against this module and against what
the commands write.

A :class:`Column` carries its name, its type (one of :data:`DTYPES`: the Parquet / Arrow type; CSV writes the
value as text, an empty cell for a missing one) and what it holds. The label-dependent columns are made from
the emotion label set: ``p_<label>`` (raw probability) and ``s_<label>`` (smoothed probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from emolens.errors import ConfigError
from emolens.types.faces import LANDMARK_NAMES, EmotionScores, Face, _r

__all__ = [
    "ATTENTION_COLUMNS",
    "DTYPES",
    "LANDMARK_COLUMNS",
    "Column",
    "batch_face_columns",
    "column_names",
    "columns",
    "frame_columns",
    "frame_records",
    "json_records",
    "photo_columns",
    "record_columns",
    "records",
    "table_columns",
    "utf8_text",
]

#: The column types: Arrow / Parquet type names.
DTYPES: tuple[str, ...] = ("string", "int32", "int64", "float64", "bool")


@dataclass(frozen=True)
class Column:
    """One declared column: its name, type (:data:`DTYPES`) and meaning."""

    name: str
    dtype: str
    doc: str


def columns(table: str) -> tuple[Column, ...]:
    """Columns from a table, one per line: name, type, then the meaning (the rest of the line)."""
    out = []
    for line in table.strip().splitlines():
        name, dtype, doc = line.split(maxsplit=2)
        if dtype not in DTYPES:
            raise ValueError(f"column {name}: unknown type {dtype!r}")
        out.append(Column(name, dtype, doc))
    return tuple(out)


#: Flat landmark columns, in the order of ``emolens.types.LANDMARK_NAMES``.
LANDMARK_COLUMNS: tuple[str, ...] = ("le_x", "le_y", "re_x", "re_y", "n_x", "n_y", "ml_x", "ml_y", "mr_x", "mr_y")

_BOX = columns(
    """
    x1              float64  box left, pixels (0.1)
    y1              float64  box top, pixels (0.1)
    x2              float64  box right, pixels (0.1)
    y2              float64  box bottom, pixels (0.1)
    score           float64  detector score (1e-4)
    """
)
_LANDMARKS = tuple(
    Column(column, "float64", f"{point.replace('_', ' ')} {column[-1]}, pixels (empty where not located)")
    for column, point in zip(LANDMARK_COLUMNS, [p for p in LANDMARK_NAMES for _ in "xy"], strict=True)
)
_IDENTITY = columns(
    """
    identity        string   gallery identity (with a gallery)
    identity_score  float64  identity match score (1e-4)
    """
)

#: The attention columns of the frame table (``emolens video --attention``).
_ATTENTION = columns(
    """
    yaw             float64  head yaw, degrees
    pitch           float64  head pitch, degrees
    roll            float64  head roll, degrees
    eye_left        float64  eye aspect ratio of the eye on the image left
    eye_right       float64  eye aspect ratio of the eye on the image right
    eyes_closed     bool     both eyes closed
    blink           bool     a blink ended at this frame
    gaze_yaw        float64  eye-in-head gaze yaw, degrees
    gaze_pitch      float64  eye-in-head gaze pitch, degrees
    mouth_opening   float64  inner-lip gap over face height
    yawn            bool     a yawn (in video: held long enough)
    attending       bool     head (and gaze) within the cone around the target
    off_target      float64  angle between where the face looks and the target, degrees
    focus_s         float64  length of the current focus spell, seconds
    perclos         float64  share of the last minute with the eyes closed
    blink_rate      float64  blinks per minute over the last minute
    """
)
ATTENTION_COLUMNS: tuple[str, ...] = tuple(c.name for c in _ATTENTION)
#: What a photo has of them (``emolens analyze --attention``): no blinks, spells or rates without time.
_PHOTO_ATTENTION = tuple(c for c in _ATTENTION if c.name not in {"blink", "focus_s", "perclos", "blink_rate"})
PHOTO_ATTENTION_COLUMNS: tuple[str, ...] = tuple(c.name for c in _PHOTO_ATTENTION)


_PHOTO_HEAD = columns(
    """
    file            string   the input as given (UTF-8; undecodable bytes as \\udcXX escapes)
    width           int32    image width, pixels
    height          int32    image height, pixels
    face            int32    face number in the image (empty: no face, or an error)
    """
)
_FRAME_HEAD = columns(
    """
    frame           int64    0-based frame number in decode order
    timestamp       float64  seconds from the start of the video (1e-4)
    track_id        int64    track, stable across frames
    face            int32    face number in the frame
    """
)


def _probs(prefix: str, labels: Sequence[str], what: str) -> tuple[Column, ...]:
    return tuple(Column(f"{prefix}{label}", "float64", f"{what} probability of {label} (1e-4)") for label in labels)


def photo_columns(labels: Sequence[str], attention: bool = False) -> tuple[Column, ...]:
    """The columns of a photo-face row (:func:`records`) for an emotion label set, in output order; ``attention``
    adds the 12 of :data:`PHOTO_ATTENTION_COLUMNS` before ``error``."""
    return (
        *_PHOTO_HEAD,
        *_BOX,
        *_LANDMARKS,
        *_probs("p_", labels, "raw"),
        Column("label", "string", "top emotion"),
        *_IDENTITY,
        *(_PHOTO_ATTENTION if attention else ()),
        Column("error", "string", "why the input failed (the other columns are then empty)"),
    )


def frame_columns(labels: Sequence[str], attention: bool = False) -> tuple[Column, ...]:
    """The columns of a frame-face row (:func:`frame_records`), in output order; ``attention`` adds 16."""
    return (
        *_FRAME_HEAD,
        *_BOX,
        *_LANDMARKS,
        *_probs("p_", labels, "raw"),
        *_probs("s_", labels, "smoothed"),
        Column("label", "string", "top raw emotion"),
        Column("smoothed_label", "string", "label from the smoothed probabilities (may be 'uncertain')"),
        *_IDENTITY,
        *(_ATTENTION if attention else ()),
    )


def batch_face_columns(labels: Sequence[str], attention: bool = False) -> tuple[Column, ...]:
    """The faces table of ``emolens batch``: photo and frame faces in one schema (frame columns null for photos);
    ``attention`` adds the :data:`ATTENTION_COLUMNS` (blinks, focus spells and rates null for photos)."""
    frame = {c.name: c for c in frame_columns(labels)}
    photo = {c.name: c for c in photo_columns(labels)}
    return (
        Column("input_id", "string", "16 hex digits of the SHA-1 of the input's absolute path"),
        Column("source", "string", "the input as given"),
        frame["frame"],
        frame["timestamp"],
        frame["track_id"],
        frame["face"],
        photo["width"],
        photo["height"],
        *_BOX,
        *_LANDMARKS,
        *_probs("p_", labels, "raw"),
        *_probs("s_", labels, "smoothed (video only)"),
        Column("label", "string", "top raw emotion"),
        Column("smoothed_label", "string", "label from the smoothed probabilities (video only)"),
        *(_ATTENTION if attention else ()),
    )


def column_names(columns: Sequence[Column]) -> list[str]:
    """The names of declared columns, in order."""
    return [c.name for c in columns]


def record_columns(labels: Sequence[str], attention: bool = False) -> list[str]:
    """The flat column names of photo-face rows for an emotion label set, in output order.

    ``file, width, height, face, x1, y1, x2, y2, score``, the landmark columns (:data:`LANDMARK_COLUMNS`),
    ``p_<label>`` for each label, then ``label, identity, identity_score``, with ``attention`` the
    :data:`PHOTO_ATTENTION_COLUMNS`, and ``error``.
    """
    return column_names(photo_columns(labels, attention))


def table_columns(labels: Sequence[str], attention: bool = False) -> list[str]:
    """The flat column names of frame-face rows (``frames.csv``), in output order."""
    return column_names(frame_columns(labels, attention))


# ---------------------------------------------------------------------------------------------------- rows


class _FacesLike(Protocol):
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def faces(self) -> tuple[Face, ...]: ...


class PhotoResultLike(_FacesLike, Protocol):
    """What :func:`records` reads of an ``ImageResult``."""

    @property
    def source(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class FrameResultLike(_FacesLike, Protocol):
    """What :func:`frame_records` reads of a ``FrameResult``."""

    @property
    def index(self) -> int: ...
    @property
    def timestamp(self) -> float: ...


def records(
    result: PhotoResultLike, labels: Sequence[str] | None = None, attention: bool = False
) -> list[dict[str, Any]]:
    """Flatten one image result into rows: one per face, or one with empty face columns when there is none.

    Values are rounded as in ``ImageResult.to_dict()`` (pixels to 0.1, scores and probabilities to 1e-4);
    missing values (no landmarks, no identity, no face) are ``None``. ``labels`` defaults to the label set of
    the result's first face; a label a face lacks gives ``None``. ``attention`` adds the
    :data:`PHOTO_ATTENTION_COLUMNS` (empty for a face without attention measures).

    Raises
    ------
    ConfigError
        A face has an emotion label that is not in ``labels``.
    """
    if labels is None:
        labels = result.faces[0].emotions.labels if result.faces else ()
    columns = record_columns(labels, attention)
    base = {
        "file": utf8_text(result.source),
        "width": result.width,
        "height": result.height,
        "error": utf8_text(result.error),
    }
    if not result.faces:
        return [{c: base.get(c) for c in columns}]
    label_set = set(labels)
    rows = []
    for face in result.faces:
        probs = face.emotions.to_dict()
        extra = [k for k in probs if k not in label_set]
        if extra:
            raise ConfigError(
                f"face {face.index} has emotion labels {extra} that are not among the output columns {list(labels)}",
                result.source,
            )
        row = dict.fromkeys(columns)
        row.update(base)
        _put_face(row, face)
        for label, p in probs.items():
            row[f"p_{label}"] = p
        row["identity"] = utf8_text(face.identity)
        if attention:
            _put_attention(row, face)
        rows.append(row)
    return rows


def frame_records(result: FrameResultLike, labels: Sequence[str], attention: bool = False) -> list[dict[str, Any]]:
    """Flatten one analysed frame into rows, one per face (none for a frame without faces).

    Rows are keyed by :func:`table_columns`; pixels rounded to 0.1, probabilities to 1e-4, missing values
    ``None``; ``attention`` adds the :data:`ATTENTION_COLUMNS` (empty for a face without attention measures).
    """
    columns = table_columns(labels, attention)
    rows = []
    for face in result.faces:
        row: dict[str, Any] = dict.fromkeys(columns)
        row["frame"] = result.index
        row["timestamp"] = round(float(result.timestamp), 4)
        row["track_id"] = face.track_id
        _put_face(row, face)
        _put_probs(row, "p_", face.emotions, labels, result)
        if face.smoothed is not None:
            _put_probs(row, "s_", face.smoothed, labels, result)
        row["smoothed_label"] = face.smoothed_label
        if attention:
            _put_attention(row, face)
        rows.append(row)
    return rows


def _put_face(row: dict[str, Any], face: Face) -> None:
    """The columns photo and frame rows share: face number, box, score, landmarks, label and identity."""
    row["face"] = face.index
    row["x1"], row["y1"], row["x2"], row["y2"] = face.box.to_list()
    row["score"] = round(float(face.score), 4)
    if face.landmarks is not None:
        flat = [v for point in face.landmarks.to_list() for v in point]
        row.update(zip(LANDMARK_COLUMNS, flat, strict=True))
    row["label"] = face.label
    row["identity"] = face.identity
    row["identity_score"] = None if face.identity_score is None else round(float(face.identity_score), 4)


def _put_attention(row: dict[str, Any], face: Face) -> None:
    """The attention columns the row has (a photo row has no blinks, spells or rates)."""
    row.update((k, v) for k, v in _attention_values(face).items() if k in row)


def _attention_values(face: Face) -> dict[str, Any]:
    """Every attention column the face has a value for."""
    row: dict[str, Any] = {}
    if face.pose is not None:
        row["yaw"], row["pitch"], row["roll"] = _r(face.pose.yaw, 1), _r(face.pose.pitch, 1), _r(face.pose.roll, 1)
    if face.eyes is not None:
        e = face.eyes
        row["eye_left"], row["eye_right"] = _r(e.left, 3), _r(e.right, 3)
        row["eyes_closed"], row["blink"] = e.closed, e.blink
        row["gaze_yaw"], row["gaze_pitch"] = _r(e.gaze_yaw, 1), _r(e.gaze_pitch, 1)
    if face.mouth is not None:
        row["mouth_opening"], row["yawn"] = _r(face.mouth.opening, 3), face.mouth.yawn
    if face.attention is not None:
        a = face.attention
        row["attending"], row["off_target"] = a.attending, _r(a.off_target, 1)
        row["focus_s"], row["perclos"], row["blink_rate"] = _r(a.focus_s, 3), _r(a.perclos, 4), _r(a.blink_rate, 2)
    return row


def _put_probs(
    row: dict[str, Any], prefix: str, scores: EmotionScores, labels: Sequence[str], r: FrameResultLike
) -> None:
    for label, p in scores.to_dict().items():
        key = prefix + label
        if key not in row:
            raise ConfigError(f"frame {r.index}: emotion label {label!r} is not among the columns {list(labels)}")
        row[key] = p


def json_records(result: PhotoResultLike) -> list[dict[str, Any]]:
    """One nested record per face (``file``, ``width``, ``height`` then ``Face.to_dict()``); an image with no
    face gives one record with ``face`` null, a failed one a record with ``error``."""
    head: dict[str, Any] = {"file": result.source, "width": result.width, "height": result.height}
    if result.error is not None:
        return [{**head, "face": None, "error": result.error}]
    if not result.faces:
        return [{**head, "face": None}]
    return [{**head, **face.to_dict()} for face in result.faces]


def utf8_text(value: str | None) -> str | None:
    """``value`` as valid UTF-8 text: an undecodable file name (lone surrogates) gets ``\\udcXX`` escapes."""
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
