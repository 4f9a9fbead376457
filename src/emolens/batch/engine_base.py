"""What every batch engine shares: the :class:`Engine` interface, the :class:`Finished` chunk it hands back,
and :func:`available_cores`. The engines themselves are :mod:`.engines` (in-process, local processes) and
:mod:`.ray_engine` (Ray actors)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from emolens.batch.plan import Chunk
from emolens.batch.work import ChunkResult

__all__ = ["Engine", "Finished", "available_cores"]


@dataclass(frozen=True)
class Finished:
    """A chunk back from a worker: its ``result``, or ``crash`` (one line) when the worker died running it."""

    chunk: Chunk
    result: ChunkResult | None = None
    crash: str | None = None


class Engine(Protocol):
    name: str
    workers: int
    threads: int

    def start(self) -> None: ...

    @property
    def idle(self) -> int: ...

    def submit(self, chunk: Chunk) -> None: ...

    def wait(self) -> list[Finished]: ...

    def close(self) -> None: ...


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
