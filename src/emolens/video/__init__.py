"""Video analysis: sources, the threaded pipeline, face tracking, temporal smoothing and the video writers.

The entry point is :meth:`emolens.Analyzer.analyze_video`; ``emolens video`` is its command.
"""

from emolens.video.pipeline import VideoRun, VideoStats
from emolens.video.smoothing import METHODS as SMOOTHING_METHODS
from emolens.video.smoothing import SmoothingConfig, TrackSmoother, count_label_changes
from emolens.video.sources import Frame, VideoSource, open_source
from emolens.video.tracker import TrackedDetection, Tracker, TrackerConfig

__all__ = [
    "SMOOTHING_METHODS",
    "Frame",
    "SmoothingConfig",
    "TrackSmoother",
    "TrackedDetection",
    "Tracker",
    "TrackerConfig",
    "VideoRun",
    "VideoSource",
    "VideoStats",
    "count_label_changes",
    "open_source",
]
