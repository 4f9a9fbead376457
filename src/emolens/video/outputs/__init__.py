"""What a video run writes besides its per-face table (:mod:`emolens.io.frames`): the per-track summary, timeline
plots, the annotated video, and :class:`VideoOutputWriter`, which writes them all into one folder."""

from emolens.video.outputs.annotated import H264_ENCODERS, AnnotatedVideoWriter, display_face
from emolens.video.outputs.folder import VideoOutputWriter
from emolens.video.outputs.summary import THUMBNAIL_SIZE, TrackSummary, face_thumbnail, thumbnail_quality
from emolens.video.outputs.timeline import plot_timeline

__all__ = [
    "H264_ENCODERS",
    "THUMBNAIL_SIZE",
    "AnnotatedVideoWriter",
    "TrackSummary",
    "VideoOutputWriter",
    "display_face",
    "face_thumbnail",
    "plot_timeline",
    "thumbnail_quality",
]
