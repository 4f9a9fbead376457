"""The settings of one ``emolens serve`` process (the detectors they may name are the registry's:
:func:`emolens.registry.check_detector`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.session import check_attention

__all__ = ["ServeConfig", "SourceAttention"]


@dataclass(frozen=True)
class SourceAttention:
    """Attention on the server source (``--attention``): attending within ``cone`` degrees of ``target``
    (``camera``, ``YAW,PITCH`` or ``calibrate:SECONDS``, see :func:`emolens.session.attention_target`); checked
    when made, so a bad setting fails at start-up and not when the first viewer connects.

    Raises
    ------
    ConfigError
        The cone is not a number of degrees in (0, 180], or the target cannot be read.
    """

    cone: float = 25.0
    target: str = "camera"

    def __post_init__(self) -> None:
        check_attention(self.cone, self.target)


@dataclass
class ServeConfig:
    """Settings of one server process."""

    gallery: Path | None = None
    keys: Path | None = None
    require_keys: bool | None = None  # None: as the key store's setting says (on once a key was created)
    host: str | None = None  # the bind address, when known: loopback names only are answered on loopback
    allow_keyless_network: bool = False  # keyless on a non-loopback bind is refused unless this is set
    trusted_proxies: list[str] = field(default_factory=list)  # addresses/networks whose X-Forwarded-For is read
    max_upload_bytes: int = 10 * 1024 * 1024
    max_enrol_images: int = 10
    max_pixels: int = 40_000_000
    rate_per_minute: int = 600
    cors_origins: list[str] = field(default_factory=list)
    threads: int = 1  # one ONNX Runtime thread per model: requests run side by side (docs/benchmarks.md)
    detector: str = "yunet"
    detector_options: dict[str, Any] = field(default_factory=dict)  # the library's defaults unless set
    stream_detector: str = "blazeface"
    source: str | None = None  # the operator's server-side source for WS /v1/source (file, camera index, URL)
    source_alerts: list[str] = field(default_factory=list)  # alert rules checked on the server source
    source_attention: SourceAttention | None = None  # head pose, eyes, mouth and attention on the server source
