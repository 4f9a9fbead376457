"""What one server process holds: its settings, guard, metrics and the models it loaded (once, when first needed).

Routes reach it through :func:`emolens.serve.deps.get_state` (``app.state.serve``), never through closures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from emolens.analyzer import Analyzer
from emolens.errors import GalleryError
from emolens.identity import Gallery
from emolens.registry import check_detector
from emolens.serve.config import ServeConfig
from emolens.serve.errors import UnavailableError
from emolens.serve.guard import Guard
from emolens.serve.metrics import Metrics
from emolens.serve.source import SourceHub

__all__ = ["ServeState"]

log = logging.getLogger("emolens.serve")
T = TypeVar("T")


class ServeState:
    """The settings, guard and metrics of one app, and its models, each loaded once and timed."""

    def __init__(self, cfg: ServeConfig, guard: Guard, metrics: Metrics) -> None:
        self.cfg, self.guard, self.metrics = cfg, guard, metrics
        self._loaded: dict[str, object] = {}
        self._lock = threading.RLock()  # the gallery's loader loads the analyzer
        #: The operator's ``--source``, shared by every ``WS /v1/source`` viewer; None without one.
        self.source_hub: SourceHub | None = None
        if cfg.source is not None:
            self.source_hub = SourceHub(
                cfg.source,
                self.source_analyzer,
                alerts=cfg.source_alerts,
                attention=cfg.source_attention,
                threads=cfg.threads,
                faces_counter=metrics.faces,
            )

    def _load(self, name: str, make: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._loaded:
                t = time.perf_counter()
                self._loaded[name] = make()
                self.metrics.load_time.labels(name).set(time.perf_counter() - t)
            return self._loaded[name]  # type: ignore[return-value]

    def models_loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._loaded)

    def analyzer(self, detector: str | None = None) -> Analyzer:
        """The photo analyzer with ``detector`` (the server's ``--detector`` by default); a name the registry
        does not know is a :class:`~emolens.errors.ConfigError` (the client's error, 400)."""
        name = check_detector(detector or self.cfg.detector)

        def make() -> Analyzer:
            options = self.cfg.detector_options if name == self.cfg.detector else {}
            a = Analyzer(name, threads=self.cfg.threads, detector_options=options)
            a.detector  # noqa: B018  (load now, timed)
            a.emotion  # noqa: B018
            return a

        return self._load(f"analyzer-{name}", make)

    def gallery(self) -> Gallery:
        """The server's gallery; one it cannot read is the server's fault (503, the details in its log)."""

        def make() -> Gallery:
            try:
                return Gallery(self.cfg.gallery, analyzer=self.analyzer(), threads=self.cfg.threads)
            except GalleryError as e:
                log.warning("gallery: %s", e)
                raise UnavailableError(
                    "the gallery cannot be read (a server-side fault; the server's log says why)"
                ) from None

        return self._load("gallery", make)

    def identifier(self) -> Analyzer:
        """The photo analyzer with the gallery: every face named."""
        return self._load("identify", lambda: self.analyzer().with_identity(self.gallery()))

    def stream_analyzer(self) -> Analyzer:
        """The live streams' analyzer (``--stream-detector``, fast)."""
        return self._load("stream-analyzer", lambda: Analyzer(self.cfg.stream_detector, threads=self.cfg.threads))

    def source_analyzer(self) -> Analyzer:
        """The stream's models, plus the gallery for identities and events."""
        return self._load("source-analyzer", lambda: self.stream_analyzer().with_identity(self.gallery()))
