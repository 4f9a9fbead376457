"""The Ray engine: one actor per worker loads the models once and runs chunks; the driver writes the output.

- ``address=None`` starts a private local Ray instance (``num_cpus``: ``workers x threads`` or the machine's
  cores; no dashboard) and shuts it down at the end; an address joins an existing cluster (``ray start
  --head`` prints it; ``"auto"`` finds the one this machine belongs to) and leaves it running. If Ray is
  already initialised in this process (a notebook, a test fixture), that instance is used and left running.
- Each actor reserves ``threads`` CPUs and runs ONNX Runtime with that many threads; there are ``workers``
  actors, or as many as the cluster's CPUs allow. An actor runs one chunk at a time, so when it dies (a node
  lost, out of memory, a native crash) the chunk it ran is known: it comes back with ``crash`` set, and a new
  actor takes the dead one's place.
- Results (outcomes and Arrow tables of face rows, a few kB per photo) come back through Ray's object store;
  workers never write to the output folder, so only the inputs need to be on storage that every node sees.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any

from emolens.batch.engine_base import Finished, available_cores
from emolens.batch.plan import Chunk
from emolens.batch.work import ChunkResult, ChunkWorker, WorkerOptions, error_payload, rebuild_error
from emolens.errors import ConfigError, EmolensError, MissingExtraError

__all__ = ["RayEngine", "import_ray"]


def import_ray() -> Any:
    """The ``ray`` module, or ``MissingExtraError`` naming the ``batch`` extra."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise MissingExtraError("ray", "batch") from None


class _RayWorker:
    """The actor: a :class:`ChunkWorker`, or the typed error that kept it from starting."""

    def __init__(self, options: WorkerOptions, name: str) -> None:
        self.error: tuple[str, str, str | None] | None = None
        self.worker: ChunkWorker | None = None
        try:
            self.worker = ChunkWorker(options, name)
        except EmolensError as e:
            self.error = error_payload(e)
        except Exception as e:
            self.error = ("EmolensError", f"Ray worker {name} could not start: {type(e).__name__}: {e}", None)

    def ready(self) -> tuple[str, str, str | None] | None:
        return self.error

    def run(self, chunk: Chunk) -> ChunkResult:
        if self.worker is None:
            raise rebuild_error(self.error or ("EmolensError", "worker not started", None))
        return self.worker.run(chunk)


class RayEngine:
    """Chunks on Ray actors; see the module docstring."""

    name = "ray"

    def __init__(self, options: WorkerOptions, workers: int | None = None, address: str | None = None) -> None:
        self.options = options
        self.threads = max(1, options.threads)
        self.requested = workers
        self.address = address
        self.workers = 0
        self.init_seconds = 0.0
        self._ray: Any = None
        self._owns_ray = False
        self._actor_cls: Any = None
        self._actors: list[Any] = []
        self._running: dict[Any, tuple[int, Chunk]] = {}  # object ref -> (actor slot, chunk)
        self._spawned = 0

    def start(self) -> None:
        import time

        ray = self._ray = import_ray()
        if not ray.is_initialized():
            t0 = time.perf_counter()
            common = {"include_dashboard": False, "log_to_driver": False}
            try:
                if self.address:
                    ray.init(address=self.address, logging_level=logging.WARNING, **common)
                else:
                    cpus = self.requested * self.threads if self.requested else available_cores()
                    ray.init(num_cpus=cpus, logging_level=logging.ERROR, **common)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise ConfigError(f"cannot start or join {where}: {' '.join(str(e).split())}") from None
            self._owns_ray = True
            self.init_seconds = time.perf_counter() - t0
        cpus = int(ray.cluster_resources().get("CPU", 0))
        fit = max(1, cpus // self.threads)
        self.workers = min(self.requested, fit) if self.requested else fit
        self._actor_cls = ray.remote(num_cpus=self.threads, max_restarts=0, max_task_retries=0)(_RayWorker)
        self._actors = [self._new_actor() for _ in range(self.workers)]
        self._check_ready(self._actors)

    def _new_actor(self) -> Any:
        actor = self._actor_cls.remote(self.options, f"ray-{self._spawned}")
        self._spawned += 1
        return actor

    def _check_ready(self, actors: list[Any]) -> None:
        for payload in self._ray.get([a.ready.remote() for a in actors]):
            if payload is not None:
                raise rebuild_error(payload)

    @property
    def idle(self) -> int:
        return self.workers - len(self._running)

    def submit(self, chunk: Chunk) -> None:
        busy = {slot for slot, _ in self._running.values()}
        slot = next(i for i in range(self.workers) if i not in busy)
        ref = self._actors[slot].run.remote(chunk)
        self._running[ref] = (slot, chunk)

    def wait(self) -> list[Finished]:
        ray = self._ray
        if not self._running:
            return []
        refs = list(self._running)
        ready, _ = ray.wait(refs, num_returns=1)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0) if len(refs) > 1 else (ready, None)
        out = []
        for ref in ready:
            slot, chunk = self._running.pop(ref)
            try:
                out.append(Finished(chunk, ray.get(ref)))
            except ray.exceptions.RayActorError as e:  # the actor (its process or node) died
                out.append(Finished(chunk, crash=f"Ray worker died: {_first_line(e)}"))
                self._replace(slot)
            except ray.exceptions.RayError as e:  # an exception escaped the worker, an object was lost: go on
                out.append(Finished(chunk, crash=f"Ray task failed: {_first_line(getattr(e, 'cause', None) or e)}"))
        return out

    def _replace(self, slot: int) -> None:
        self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._new_actor()
        self._check_ready([self._actors[slot]])

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)
        self._actors, self._running = [], {}
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(e).__name__
