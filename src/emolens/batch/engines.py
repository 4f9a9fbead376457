"""Engines run chunks on workers: in this process, in local worker processes, or on Ray (:mod:`.ray_engine`).

Every engine has the same small interface (:class:`Engine`): ``start()`` (workers load their models; a model
that cannot be loaded raises here), ``idle`` (how many more chunks it takes now), ``submit(chunk)``, ``wait()``
(blocks until at least one chunk is finished) and ``close()``. A worker that dies while it runs a chunk (killed,
out of memory, a crash in native code) gives a :class:`Finished` with ``crash`` set and is replaced; the run
goes on.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import signal
from collections import deque
from dataclasses import replace
from typing import Any

from emolens.batch.engine_base import Engine, Finished, available_cores
from emolens.batch.plan import Chunk
from emolens.batch.work import ChunkWorker, WorkerOptions, error_payload, rebuild_error
from emolens.errors import ConfigError, EmolensError

__all__ = ["ENGINES", "Engine", "Finished", "InProcessEngine", "ProcessEngine", "available_cores", "create_engine"]

#: Engine names, the default first.
ENGINES: tuple[str, ...] = ("local", "ray")


def create_engine(
    name: str,
    options: WorkerOptions,
    *,
    workers: int | None = None,
    threads: int = 0,
    address: str | None = None,
) -> Engine:
    """The engine called ``name`` (:data:`ENGINES`).

    Parameters
    ----------
    name : {"local", "ray"}
    options : WorkerOptions
        Its ``threads`` is replaced by the one chosen here.
    workers : int, optional
        Worker processes (Ray actors). Default: ``local`` runs one worker in this process; ``ray`` starts one
        actor per ``threads`` CPUs of the cluster.
    threads : int, default 0
        ONNX Runtime threads per model in each worker; 0: the cores divided among the workers (``local``), 1
        (``ray``, where each actor reserves this many CPUs).
    address : str, optional
        ``ray`` only: the address of an existing Ray cluster (``ray start --head`` prints it; ``"auto"`` finds
        the cluster this machine belongs to). Default: a private local Ray instance.

    Raises
    ------
    ConfigError
        An unknown engine, a bad number, or ``address`` with the local engine.
    MissingExtraError
        ``ray`` without Ray installed (on :meth:`Engine.start`).
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"threads must be 0 (automatic) or a positive integer, got {threads!r}")
    if name == "local":
        if address is not None:
            raise ConfigError("--address needs --engine ray")
        n = workers or 1
        per = threads or max(1, available_cores() // n)
        opts = _with_threads(options, per)
        return InProcessEngine(opts) if n == 1 else ProcessEngine(opts, n)
    if name == "ray":
        from emolens.batch.ray_engine import RayEngine

        return RayEngine(_with_threads(options, threads or 1), workers=workers, address=address)
    raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def _with_threads(options: WorkerOptions, threads: int) -> WorkerOptions:
    return replace(options, threads=threads)


class InProcessEngine:
    """One worker in the calling process: no start-up cost, no isolation (a crash ends the run)."""

    name = "local"
    workers = 1

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.threads = options.threads
        self._worker: ChunkWorker | None = None
        self._queue: deque[Chunk] = deque()

    def start(self) -> None:
        self._worker = ChunkWorker(self.options, "local-0")

    @property
    def idle(self) -> int:
        return 0 if self._queue else 1

    def submit(self, chunk: Chunk) -> None:
        self._queue.append(chunk)

    def wait(self) -> list[Finished]:
        assert self._worker is not None, "start() first"
        chunk = self._queue.popleft()
        return [Finished(chunk, self._worker.run(chunk))]

    def close(self) -> None:
        self._worker = None
        self._queue.clear()


class _Proc:
    """A worker process and the pipe to it; ``chunk`` is what it is running (``None``: idle)."""

    def __init__(self, ctx: Any, options: WorkerOptions, name: str) -> None:
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, options, name), name=f"emolens-{name}", daemon=True)
        self.proc.start()
        child.close()
        self.chunk: Chunk | None = None

    def ready(self) -> None:
        """Wait for the worker's models; raise its typed error when they cannot be loaded."""
        try:
            status, payload = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            raise EmolensError(
                f"batch worker {self.name} exited while starting ({_exit(self.proc.exitcode)})"
            ) from None
        if status == "error":
            raise rebuild_error(payload)

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout)
        self.conn.close()


class ProcessEngine:
    """``workers`` local processes (``spawn``: a clean interpreter each); each loads the models once.

    A worker that dies is reported for the chunk it ran and replaced by a new one.
    """

    name = "local"

    def __init__(self, options: WorkerOptions, workers: int) -> None:
        self.options = options
        self.workers = workers
        self.threads = options.threads
        self._ctx = mp.get_context("spawn")
        self._procs: list[_Proc] = []
        self._spawned = 0

    def _spawn(self) -> _Proc:
        p = _Proc(self._ctx, self.options, f"local-{self._spawned}")
        self._spawned += 1
        return p

    def start(self) -> None:
        self._procs = [self._spawn() for _ in range(self.workers)]  # all load their models at the same time
        for p in self._procs:
            p.ready()

    @property
    def idle(self) -> int:
        return sum(1 for p in self._procs if p.chunk is None)

    def submit(self, chunk: Chunk) -> None:
        p = next(p for p in self._procs if p.chunk is None)
        p.chunk = chunk
        p.conn.send(chunk)

    def wait(self) -> list[Finished]:
        busy = [p for p in self._procs if p.chunk is not None]
        if not busy:
            return []
        ready = set(multiprocessing.connection.wait([p.conn for p in busy] + [p.proc.sentinel for p in busy]))
        out = []
        for p in busy:
            if p.conn not in ready and p.proc.sentinel not in ready:
                continue
            chunk, p.chunk = p.chunk, None
            assert chunk is not None
            try:
                status, payload = p.conn.recv()
            except (EOFError, OSError):
                status, payload = "crash", None
            if status == "done":
                out.append(Finished(chunk, payload))
                continue
            p.proc.join(5)
            out.append(Finished(chunk, crash=f"worker process {p.name} died ({_exit(p.proc.exitcode)})"))
            self._replace(p)
        return out

    def _replace(self, dead: _Proc) -> None:
        dead.stop(timeout=1.0)
        new = self._spawn()
        self._procs[self._procs.index(dead)] = new
        new.ready()

    def close(self) -> None:
        for p in self._procs:
            if p.chunk is not None:  # interrupted mid-chunk: its result would be thrown away anyway
                p.proc.terminate()
            p.stop()
        self._procs = []


def _exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn: Any, options: WorkerOptions, name: str) -> None:
    """A local worker process: load the models, then run chunks until told to stop (``None``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    try:
        worker = ChunkWorker(options, name)
    except EmolensError as e:
        conn.send(("error", error_payload(e)))
        return
    except Exception as e:
        conn.send(("error", ("EmolensError", f"batch worker {name} could not start: {type(e).__name__}: {e}", None)))
        return
    conn.send(("ready", None))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        conn.send(("done", worker.run(chunk)))
