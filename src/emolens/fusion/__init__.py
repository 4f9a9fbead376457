"""Fusion of face, voice and text emotion on the face labels: rules, a learned fuser, and time alignment."""

from emolens.fusion.rules import RULES, LearnedFusion, fuse, reliability
from emolens.fusion.timeline import (
    Cue,
    FaceTimeline,
    Segment,
    align,
    face_segments,
    frame_segments,
    fuse_timeline,
    read_transcript,
    text_segments,
    voice_segments,
)

__all__ = [
    "RULES",
    "Cue",
    "FaceTimeline",
    "LearnedFusion",
    "Segment",
    "align",
    "face_segments",
    "frame_segments",
    "fuse",
    "fuse_timeline",
    "read_transcript",
    "reliability",
    "text_segments",
    "voice_segments",
]
