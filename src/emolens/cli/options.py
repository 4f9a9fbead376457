"""Options that several commands share, declared once: ``--output``, ``--format``, ``--annotate``, ``--model``,
``--detector``, ``--quiet``, the gallery to recognise people with, the event log, and how annotated images and
videos are drawn (``--blur-unknown``, ``--landmarks``, ``--label-size``). A command declares
``output: OutputOpt = None`` and so on.

Options that go together are an option group: a frozen dataclass whose fields are such options (:class:`ReportOutput`,
:class:`Drawing`). A command decorated with :func:`option_groups` declares one parameter of the group's type; Typer
sees the group's options in its place (so ``--help`` lists them there), and the command gets them as one value with
the work they share (``report.destinations()``, ``drawing.draw(...)``).

The names, short flags and defaults follow :mod:`emolens.cli.vocabulary` (checked by tests/cli/test_vocabulary.py).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from emolens.cli.device import DeviceOpt, use_device
from emolens.cli.records import Format, ReportFormat, report_output

if TYPE_CHECKING:
    import numpy as np

    from emolens.attention import AttentionAnalyzer
    from emolens.types import Face

F = TypeVar("F", bound=Callable[..., Any])


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


# --------------------------------------------------------------------------------------------------- option groups


@dataclass(frozen=True)
class OptionGroup:
    """The base of an option group: a frozen dataclass whose fields are shared options (``name: SomeOpt = default``)."""


@dataclass(frozen=True)
class Running(OptionGroup):
    """``--device`` and ``--quiet``: the options every command that loads and runs a model has (the vocabulary's
    ``MODEL_RUNNING``)."""

    device: DeviceOpt = None
    quiet: QuietOpt = False

    def use_device(self) -> None:
        """Make ``--device`` the default for the models this process loads (:func:`emolens.cli.device.use_device`)."""
        use_device(self.device)


@dataclass(frozen=True)
class ReportOutput(OptionGroup):
    """``--format`` and ``--output`` of a command whose result is a report to read (evaluate, bench, verify,
    gallery budget)."""

    fmt: ReportFormatOpt = ReportFormat.auto
    output: OutputOpt = None

    def destinations(self) -> tuple[bool, str | None]:
        """Whether to print the table, and where the JSON goes (:func:`emolens.cli.records.report_output`)."""
        return report_output(self.fmt, self.output)


@dataclass(frozen=True)
class Drawing(OptionGroup):
    """How faces are drawn on annotated copies of photos: ``--blur-unknown``, ``--landmarks``, ``--label-size``."""

    blur_unknown: BlurUnknownOpt = False
    landmarks: LandmarksOpt = True
    label_size: LabelSizeOpt = None

    def draw(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """``rgb`` with ``faces`` drawn on it (unrecognised ones pixelated with ``--blur-unknown``)."""
        from emolens.draw import annotate, pixelate

        blur = {"blur": pixelate, "blur_if": _unknown} if self.blur_unknown else {}
        return annotate(rgb, faces, landmarks=self.landmarks, label_size=self.label_size, **blur)


def _unknown(face: Face) -> bool:
    return face.identity == "unknown"


@dataclass(frozen=True)
class VideoDrawing(Drawing):
    """How faces are drawn in ``annotated.mp4``: the options of :class:`Drawing`, said of the video."""

    blur_unknown: VideoBlurUnknownOpt = False
    landmarks: VideoLandmarksOpt = True
    label_size: VideoLabelSizeOpt = None


@dataclass(frozen=True)
class Attention(OptionGroup):
    """``--attention`` and what attending means: within ``--cone`` degrees of ``--target``."""

    enabled: Annotated[
        bool,
        typer.Option(
            "--attention",
            help="Also head pose, eyes (blinks, PERCLOS), gaze, mouth (yawns) and attention per face and track.",
        ),
    ] = False
    cone: Annotated[
        float, typer.Option(min=1.0, max=180.0, help="Attention: half-angle (degrees) around the target.")
    ] = 25.0
    target: Annotated[
        str,
        typer.Option(
            help="Attention target: 'camera', 'YAW,PITCH' in degrees, or 'calibrate:SECONDS' (the median head "
            "direction over the first SECONDS of video)."
        ),
    ] = "camera"

    def stage(self, threads: int) -> AttentionAnalyzer | None:
        """The session's attention stage (``None`` without ``--attention``); ``ConfigError`` for a bad ``--target``, or
        for ``--cone`` or ``--target`` given without ``--attention``."""
        from emolens.session import attention_stage

        self.check()
        return attention_stage(self.cone, self.target, threads) if self.enabled else None

    def check(self) -> None:
        """``ConfigError`` for ``--cone`` or ``--target`` given without ``--attention`` (they would do nothing)."""
        from emolens.errors import ConfigError

        if not self.enabled and (self.cone != Attention.cone or self.target != Attention.target):
            raise ConfigError("--cone and --target apply with --attention")


def option_groups(command: F) -> F:
    """``command`` as Typer should see it: each parameter whose type is an :class:`OptionGroup` replaced, in its
    place, by the group's options; the command is called with the group built from them."""
    hints = typing.get_type_hints(command, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[OptionGroup], list[str]]] = {}
    for p in inspect.signature(command).parameters.values():
        kind = hints.get(p.name)
        if not (isinstance(kind, type) and issubclass(kind, OptionGroup)):
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=kind or p.annotation))
            continue
        field_hints = typing.get_type_hints(kind, include_extras=True)
        names = [f.name for f in dataclasses.fields(kind)]
        groups[p.name] = (kind, names)
        for f in dataclasses.fields(kind):
            params.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=field_hints[f.name]
                )
            )
    if len({p.name for p in params}) != len(params):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter's name")  # a programming error

    @functools.wraps(command)
    def with_groups(**kwargs: Any) -> Any:
        for name, (kind, names) in groups.items():
            kwargs[name] = kind(**{n: kwargs.pop(n) for n in names})
        return command(**kwargs)

    returns = hints.get("return", inspect.Signature.empty)
    with_groups.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    with_groups.__annotations__ = {p.name: p.annotation for p in params}
    return typing.cast(F, with_groups)
