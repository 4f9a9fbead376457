"""Video outputs, written as the frames arrive: the per-face table, the per-track summary, timelines, annotated video.

The names stay importable from here.

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

The code: the per-face table is :mod:`emolens.io.frames` over the record schema of
:mod:`emolens.types.records`; the rest is :mod:`emolens.video.outputs`.

Memory stays flat: the table writers keep at most one row group, and each timeline keeps at most
``max_points`` points (older points are merged in pairs when it is full).
"""

from __future__ import annotations

from emolens.io.frames import TABLE_FORMATS, FrameTableWriter, open_table_writer
from emolens.types.records import ATTENTION_COLUMNS, frame_records, table_columns
from emolens.types.tables import frames_to_dataframe
from emolens.video.outputs import (
    H264_ENCODERS,
    THUMBNAIL_SIZE,
    AnnotatedVideoWriter,
    TrackSummary,
    VideoOutputWriter,
    display_face,
    face_thumbnail,
    plot_timeline,
    thumbnail_quality,
)

__all__ = [
    "ATTENTION_COLUMNS",
    "H264_ENCODERS",
    "TABLE_FORMATS",
    "THUMBNAIL_SIZE",
    "AnnotatedVideoWriter",
    "FrameTableWriter",
    "TrackSummary",
    "VideoOutputWriter",
    "display_face",
    "face_thumbnail",
    "frame_records",
    "frames_to_dataframe",
    "open_table_writer",
    "plot_timeline",
    "table_columns",
    "thumbnail_quality",
]
