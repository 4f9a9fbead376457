"""Where the ONNX models run: the choice of ONNX Runtime execution providers, made in one place.

Every shipped ONNX model (detectors, emotion models, the face embedder, the voice model and the voice activity
detector) is loaded by :func:`emolens.models.onnx_session`, which asks :func:`providers_for` which execution
providers to use.

Devices
-------
``auto`` (default)
    CUDA when ONNX Runtime has its CUDA provider (``pip install 'emolens[gpu]'``, which installs
    ``onnxruntime-gpu``), else the CPU, silently.
``cpu``
    The CPU only.
``cuda``
    CUDA; where it is missing (or fails to start), a one-line :class:`DeviceFallbackWarning` and the CPU.
``tensorrt``
    TensorRT, then CUDA, then the CPU. Opt-in rather than part of ``auto``: TensorRT builds an engine for every
    new input shape on first use (minutes), so it pays off only for long runs at fixed sizes. Its engines are
    cached under ``$EMOLENS_TRT_CACHE`` (default ``~/.cache/emolens/tensorrt``).

The device comes from the ``device`` argument, else :func:`set_default_device`, else the ``EMOLENS_DEVICE``
environment variable, else ``auto``.

The library does not print: a fallback is reported with :func:`warnings.warn` (category
:class:`DeviceFallbackWarning`, once per distinct message); the CLI shows it as one ``note:`` line.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from emolens.errors import ConfigError

__all__ = [
    "DEVICES",
    "DeviceFallbackWarning",
    "available_providers",
    "default_device",
    "providers_for",
    "resolve_device",
    "set_default_device",
]

#: The device names ``--device`` and ``EMOLENS_DEVICE`` accept.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt")
ENV_VAR = "EMOLENS_DEVICE"

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_default: str | None = None
_warned: set[str] = set()


class DeviceFallbackWarning(UserWarning):
    """A GPU was asked for but the models run on the CPU (or on CUDA instead of TensorRT)."""


def set_default_device(device: str | None) -> None:
    """Set the device for models loaded from now on in this process (``None``: back to ``EMOLENS_DEVICE``/auto).

    Raises
    ------
    ConfigError
        ``device`` is not one of :data:`DEVICES`.
    """
    global _default
    _default = None if device is None else _check(device, "device")


def default_device() -> str:
    """The device in force when none is passed: :func:`set_default_device`, else ``EMOLENS_DEVICE``, else auto."""
    if _default is not None:
        return _default
    env = os.environ.get(ENV_VAR, "").strip()
    return _check(env, ENV_VAR) if env else "auto"


def resolve_device(device: str | None = None) -> str:
    """``device`` checked, or :func:`default_device` when it is ``None``."""
    return default_device() if device is None else _check(device, "device")


def available_providers() -> list[str]:
    """The execution providers this ONNX Runtime build has (``onnxruntime.get_available_providers()``)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def providers_for(
    device: str | None = None, available: Iterable[str] | None = None
) -> tuple[list[str | tuple[str, dict[str, Any]]], str | None]:
    """The ONNX Runtime providers for a device, and the fallback notice (``None`` when there is none).

    Parameters
    ----------
    device : str, optional
        One of :data:`DEVICES`; ``None`` means :func:`default_device`.
    available : iterable of str, optional
        The providers this ONNX Runtime has; default :func:`available_providers`.

    Returns
    -------
    (list, str or None)
        Providers in order of preference, always ending with the CPU (entries are names, or ``(name, options)``
        for TensorRT), and a one-line notice when a device that was asked for is missing.

    Raises
    ------
    ConfigError
        An unknown device name.
    """
    dev = resolve_device(device)
    have = set(available_providers() if available is None else available)
    if dev == "cpu":
        return [CPU], None
    chain: list[str | tuple[str, dict[str, Any]]] = []
    notice = None
    if dev == "tensorrt":
        if TENSORRT in have:
            chain.append((TENSORRT, _tensorrt_options()))
        else:
            notice = "TensorRT was asked for but this ONNX Runtime has no TensorRT provider"
    if CUDA in have:
        chain.append(CUDA)
    elif dev in ("cuda", "tensorrt"):
        asked = "TensorRT" if dev == "tensorrt" else "CUDA"
        notice = f"{asked} was asked for but this ONNX Runtime has no CUDA provider"
    if notice is not None:
        fallback = "CUDA" if chain else "the CPU"
        notice += f" ({_install_hint()}); running on {fallback}"
    return [*chain, CPU], notice


def _install_hint() -> str:
    """What to do when the GPU providers are missing: install the extra, or undo the CPU package's shadowing."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> bool:
        try:
            version(name)
        except PackageNotFoundError:
            return False
        return True

    if installed("onnxruntime-gpu") and installed("onnxruntime"):
        return (
            "onnxruntime and onnxruntime-gpu are both installed and share one module: pip uninstall -y onnxruntime "
            "onnxruntime-gpu && pip install onnxruntime-gpu"
        )
    return "pip install 'emolens[gpu]'"


def warn_fallback(message: str) -> None:
    """Issue a :class:`DeviceFallbackWarning` once per distinct message per process."""
    if message in _warned:
        return
    _warned.add(message)
    warnings.warn(message, DeviceFallbackWarning, stacklevel=3)


def provider_names(providers: Sequence[str | tuple[str, dict[str, Any]]]) -> list[str]:
    """The names in a provider list as :func:`providers_for` returns it."""
    return [p if isinstance(p, str) else p[0] for p in providers]


def _tensorrt_options() -> dict[str, Any]:
    cache = Path(os.environ.get("EMOLENS_TRT_CACHE") or Path.home() / ".cache" / "emolens" / "tensorrt")
    return {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}


def _check(device: str, what: str) -> str:
    name = str(device).strip().lower()
    if name not in DEVICES:
        raise ConfigError(f"unknown {what} {device!r}; choose one of {', '.join(DEVICES)}")
    return name
