"""Options that several commands share, declared once: ``--output``, ``--quiet``, the gallery to recognise people
with, the event log, and how annotated images and videos are drawn (``--blur-unknown``, ``--landmarks``,
``--label-size``). A command declares ``output: OutputOpt = None`` and so on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _blur_unknown(where: str) -> Any:
    return typer.Option(help=f"Pixelate unrecognised faces in {where}.")


def _landmarks(where: str) -> Any:
    return typer.Option("--landmarks/--no-landmarks", help=f"Landmark dots in {where}.")


def _label_size(where: str) -> Any:
    return typer.Option("--label-size", min=4, help=f"Tag text height in pixels in {where} [default: scaled].")


OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="Output file (default: standard output).")]
ModelOpt = Annotated[str, typer.Option(help="Emotion model name or manifest path.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
#: The gallery of a command that analyses faces (recognition is off without one).
RecogniseOpt = Annotated[
    Path | None, typer.Option("--gallery", "-g", help="Recognise enrolled people (a gallery database).")
]
LogEventsOpt = Annotated[bool, typer.Option(help="Append each face to the gallery's event log.")]

# annotated copies of photos (analyze, identify)
BlurUnknownOpt = Annotated[bool, _blur_unknown("annotated copies")]
LandmarksOpt = Annotated[bool, _landmarks("annotated copies")]
LabelSizeOpt = Annotated[float | None, _label_size("annotated copies")]
# the annotated video (video)
VideoBlurUnknownOpt = Annotated[bool, _blur_unknown("annotated.mp4")]
VideoLandmarksOpt = Annotated[bool, _landmarks("annotated.mp4")]
VideoLabelSizeOpt = Annotated[float | None, _label_size("annotated.mp4")]
