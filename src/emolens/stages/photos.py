"""Photos through the stages: load, detect and crop (in worker threads), then classify in batches, in order.

With ``workers > 1`` the photos are decoded, detected and cropped ahead in that many threads while the calling
thread runs the emotion model on the faces of the photos already prepared (ONNX Runtime, OpenCV and Pillow
release the GIL, so the threads use several cores). At most ``2 * workers + batch_size`` photos are held at
once, and a batch goes to the emotion model as soon as the next photo is not ready yet.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from emolens.errors import EmolensError, ImageError
from emolens.io.images import load_image
from emolens.io.inputs import InputItem
from emolens.stages.bundle import Prepared, Stages
from emolens.types import Detection, ImageResult

__all__ = ["ImageInput", "PhotoRun"]

#: What a photo may be: a path, encoded bytes, a NumPy array (with ``color_order``), a PIL image, or an
#: :class:`~emolens.io.inputs.InputItem` from ``expand_inputs``.
ImageInput = str | os.PathLike[str] | bytes | np.ndarray | Image.Image | InputItem
#: A photo and the source name to report it under (None: its path, or a description).
SourcedImage = tuple[ImageInput, str | None]


@dataclass
class _Photo:
    source: str
    error: str | None
    prepared: Prepared


class PhotoRun:
    """Runs photos through ``stages``; ``detect`` finds the faces of one RGB image (``stages.detect`` by default)."""

    def __init__(
        self, stages: Stages, workers: int = 1, detect: Callable[[np.ndarray], list[Detection]] | None = None
    ) -> None:
        self.stages = stages
        self.workers = workers
        self.detect = detect or stages.detect

    def __call__(
        self, pairs: Iterable[SourcedImage], color_order: str | None, raise_errors: bool, batch_size: int
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """``(ImageResult, rgb or None)`` per photo, in input order; an unreadable photo has ``error`` set (or
        raises :class:`~emolens.errors.ImageError` with ``raise_errors``)."""
        if self.workers > 1:
            yield from self._threaded(pairs, color_order, raise_errors, batch_size)
            return
        batch: list[_Photo] = []
        for img, src in pairs:
            batch.append(self._prepare(img, src, color_order, raise_errors))
            if len(batch) == batch_size:
                yield from self._finish(batch)
                batch = []
        if batch:
            yield from self._finish(batch)

    def _threaded(
        self, pairs: Iterable[SourcedImage], color_order: str | None, raise_errors: bool, batch_size: int
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """Producer/consumer: ``workers`` threads load, detect and crop; this thread classifies, in input order."""
        _ = (self.stages.detector, self.stages.emotion)  # load once, here, before the threads start
        ahead = 2 * self.workers  # photos being prepared beyond the batch being filled: bounds memory
        pending: deque[Future[_Photo]] = deque()
        source = iter(pairs)
        exhausted = False
        with ThreadPoolExecutor(self.workers, thread_name_prefix="emolens-photo") as pool:
            try:
                batch: list[_Photo] = []
                while True:
                    while not exhausted and len(pending) + len(batch) < ahead + batch_size:
                        try:
                            img, src = next(source)
                        except StopIteration:
                            exhausted = True
                            break
                        pending.append(pool.submit(self._prepare, img, src, color_order, raise_errors))
                    if not pending:
                        break
                    batch.append(pending.popleft().result())
                    if len(batch) >= batch_size or not pending or not pending[0].done():
                        yield from self._finish(batch)
                        batch = []
                if batch:
                    yield from self._finish(batch)
            finally:
                for f in pending:
                    f.cancel()

    def _prepare(self, img: ImageInput, src: str | None, color_order: str | None, raise_errors: bool) -> _Photo:
        """Load, detect and crop one photo (thread-safe: the worker threads call it)."""
        source, rgb, error = load(img, src, color_order, raise_errors)
        return _Photo(source, error, self.stages.prepare(rgb, self.detect(rgb) if rgb is not None else []))

    def _finish(self, photos: list[_Photo]) -> list[tuple[ImageResult, np.ndarray | None]]:
        """One emotion-model call for all faces of the photos (identity and attention too), then the results."""
        faces = self.stages.finish([p.prepared for p in photos])
        out: list[tuple[ImageResult, np.ndarray | None]] = []
        for p, fs in zip(photos, faces, strict=True):
            rgb = p.prepared.rgb
            h, w = rgb.shape[:2] if rgb is not None else (0, 0)
            out.append((ImageResult(p.source, w, h, tuple(fs), p.error), rgb))
        return out


def load(
    img: ImageInput, src: str | None, color_order: str | None, raise_errors: bool
) -> tuple[str, np.ndarray | None, str | None]:
    """``(source, RGB pixels, None)`` of a photo, or ``(source, None, error)`` when it cannot be read."""
    if isinstance(img, InputItem):
        if img.error is not None or img.path is None:
            error = img.error or "nothing to read"
            if raise_errors:
                raise ImageError(error, img.source)
            return (img.source, None, error)
        src, img = img.source, img.path
    try:
        li = load_image(img, color_order=color_order if isinstance(img, np.ndarray) else None, source=src)
    except EmolensError as e:
        if raise_errors:
            raise
        return (e.source or src or _describe(img), None, e.message)
    return (li.source, li.rgb, None)


def _describe(img: object) -> str:
    if isinstance(img, str):
        return img
    return f"<{type(img).__name__}>"
