"""``--device auto|cpu|cuda|tensorrt``: the option every model-loading command shares, and its notice line.

A command takes it with ``--quiet`` as the option group ``running: Running = Running()`` (:mod:`emolens.cli.options`)
and calls ``running.use_device()`` first, or (where ``--help`` lists the two apart) adds ``device: DeviceOpt = None``
and calls :func:`use_device`; the models it then loads run there (:mod:`emolens.device`). Left out,
``EMOLENS_DEVICE`` or ``auto`` applies.
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from typing import Annotated

import typer

from emolens.cli.console import err
from emolens.device import DeviceFallbackWarning, set_default_device


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    tensorrt = "tensorrt"


DeviceOpt = Annotated[
    Device | None,
    typer.Option(
        "--device",
        help="Where the models run: auto (CUDA if onnxruntime-gpu is installed, else CPU), cpu, cuda or tensorrt "
        "[default: EMOLENS_DEVICE, else auto].",
        show_default=False,
    ),
]


def use_device(device: Device | str | None) -> None:
    """Make ``device`` the default for this process (``None`` keeps ``EMOLENS_DEVICE``/auto) and show fallbacks
    as one ``note:`` line on standard error."""
    set_default_device(None if device is None else str(device))
    previous = warnings.showwarning
    if getattr(previous, "_emolens_notes", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DeviceFallbackWarning):
            err.print(f"[yellow]note:[/yellow] {message}", highlight=False, soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    show._emolens_notes = True  # type: ignore[attr-defined]
    warnings.showwarning = show
