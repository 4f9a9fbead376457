"""Options that several commands share, declared once: ``--output``, ``--format``, ``--annotate``, ``--model``,
``--detector``, ``--quiet``, the gallery to recognise people with, the event log, and how annotated images and
videos are drawn (``--blur-unknown``, ``--landmarks``, ``--label-size``). A command declares
``output: OutputOpt = None`` and so on.

The names, short flags and defaults follow :mod:`emolens.cli.vocabulary` (checked by tests/cli/test_vocabulary.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emolens.cli.records import Format, ReportFormat


def _blur_unknown(where: str) -> Any:
    return typer.Option(help=f"Pixelate unrecognised faces in {where}.")


def _landmarks(where: str) -> Any:
    return typer.Option("--landmarks/--no-landmarks", help=f"Landmark dots in {where}.")


def _label_size(where: str) -> Any:
    return typer.Option("--label-size", min=4, help=f"Tag text height in pixels in {where} [default: scaled].")


OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Output file ('-' or left out: standard output).")
]
#: The output folder of a command that writes several files (required).
OutputDirOpt = Annotated[Path, typer.Option("--output", "-o", help="Output folder (created if missing).")]
FormatHelp = "auto: by the --output file's suffix; on standard output a table on a terminal, JSON Lines when piped."
ReportFormatHelp = "auto: the table on standard output, and JSON to an --output file; json: JSON only."
#: ``--format`` of a command that writes records, and of one that prints a report.
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help=FormatHelp)]
ReportFormatOpt = Annotated[ReportFormat, typer.Option("--format", "-f", help=ReportFormatHelp)]
#: Where the annotated copies of photos go (analyze, identify).
AnnotateOpt = Annotated[
    Path | None, typer.Option("--annotate", metavar="DIR", help="Write annotated copies of the images into DIR.")
]
#: The emotion model of a command that analyses faces.
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Emotion model name or manifest path.")]
DetectorOpt = Annotated[
    str,
    typer.Option(
        "--detector",
        help="Face detector: yunet (fast, the default), retinaface (thorough: crowds of tiny faces), blazeface "
        "(fastest, large faces).",
    ),
]
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
