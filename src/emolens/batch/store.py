"""The output folder of a batch run: partitioned Parquet, the done-manifest that makes runs resumable, failures.

Layout (``OUT`` is ``--output``)::

    OUT/faces/kind=photo/part-<commit>.parquet    one row per face (schema: emolens.batch.tables.face_schema)
    OUT/faces/kind=video/part-<commit>.parquet    one row per face per analysed frame, same schema
    OUT/inputs/kind=<kind>/part-<commit>.parquet  one row per input done (size, frames, faces, worker)
    OUT/_done/<commit>.json                       the commit record: its part files and the inputs they hold
    OUT/failures.jsonl                            the inputs of the latest run that failed, one line each
    OUT/summary.json                              counts of the latest run and totals, rewritten as it goes
    OUT/_batch.json                               the options that shape the results (checked on resume)
    OUT/_lock                                     held while a run writes (one run per folder at a time)

Every file is written under a hidden temporary name in its final folder, flushed to disk, then renamed, so a
file with its final name is always complete. A commit writes its Parquet parts first and its record last:
the record is the commit point. On start, part files that no record names (left by a run killed between
the two) and temporary files are deleted, so what a run redoes never appears twice. The names that start
with ``_`` or ``.`` are skipped by Parquet readers, so ``OUT/faces`` reads as one dataset, partitioned by
``kind``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from emolens.batch.tables import input_schema, require_pyarrow
from emolens.batch.work import ChunkResult
from emolens.errors import ConfigError
from emolens.io.sinks import write_parquet
from emolens.types.records import utf8_text

__all__ = ["FORMAT_VERSION", "BatchStore", "atomic_write"]

FORMAT_VERSION = 1
FACES, INPUTS, DONE = "faces", "inputs", "_done"
FAILURES, SUMMARY, SETTINGS, LOCK = "failures.jsonl", "summary.json", "_batch.json", "_lock"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through ``write(tmp)`` on a hidden temporary name beside it, sync it, then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_text(path: Path, content: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(content, encoding="utf-8"))


#: A setting missing from one side of a comparison.
_UNSET = object()


def _shown(settings: dict[str, Any], key: str) -> str:
    return repr(settings[key]) if key in settings else "not set"


class BatchStore:
    """The output folder of one run; :meth:`open` it (lock, overwrite, settings, resume state), then commit.

    Attributes
    ----------
    out : pathlib.Path
    run_id : str
        Names this run's commits (``<UTC time>-<random>``: unique, and in time order across runs).
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self._pa = require_pyarrow()
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self._pc, self._pq = pc, pq
        self._done: dict[str, tuple[str, str, int]] = {}  # input id -> (key, commit, faces)
        self._seq = 0
        self._lock: Any = None

    # ------------------------------------------------------------------------------------------------ opening

    def open(self, settings: dict[str, Any], overwrite: bool = False) -> None:
        """Create or take over the folder: lock it, clear it (``overwrite``), check the options, load the manifest.

        Raises
        ------
        ConfigError
            The folder cannot be created or written, another run holds it, or it holds results made with
            other options (without ``overwrite``).
        """
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            if overwrite:
                self._clear()
            self._check_settings(settings)
            (self.out / DONE).mkdir(exist_ok=True)
            self._load_done()
            self._remove_orphans()
        except OSError as e:
            self.close()
            raise ConfigError(f"cannot write to the output folder: {e.strerror or e}", str(self.out)) from None
        except BaseException:
            self.close()
            raise

    def _take_lock(self) -> None:
        self._lock = open(self.out / LOCK, "a+")  # held until close()
        try:
            import fcntl
        except ImportError:  # Windows: no lock
            return
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise ConfigError("another emolens batch run is writing to this folder", str(self.out)) from None

    def _clear(self) -> None:
        for name in (FACES, INPUTS, DONE):
            shutil.rmtree(self.out / name, ignore_errors=True)
        for name in (FAILURES, SUMMARY, SETTINGS):
            (self.out / name).unlink(missing_ok=True)

    def _check_settings(self, settings: dict[str, Any]) -> None:
        path = self.out / SETTINGS
        wanted = {"format": FORMAT_VERSION, "settings": settings}
        if path.is_file() and any((self.out / DONE).glob("*.json")):
            try:
                found = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found = None
            if found != json.loads(json.dumps(wanted)):
                old = (found or {}).get("settings", {}) if isinstance(found, dict) else {}
                new = json.loads(json.dumps(settings))
                diff = [
                    f"{k} {_shown(old, k)}, not {_shown(new, k)}"
                    for k in [*new, *(k for k in old if k not in new)]
                    if old.get(k, _UNSET) != new.get(k, _UNSET)
                ]
                raise ConfigError(
                    "this folder holds results made with other options ("
                    + ("; ".join(diff) or "another format version")
                    + "); use the same options, another --output, or --overwrite",
                    str(self.out),
                )
        _write_text(path, json.dumps(wanted, indent=2) + "\n")

    def _load_done(self) -> None:
        self._done = {}
        self._parts: set[str] = set()  # the part files the records name
        for path in sorted((self.out / DONE).glob("*.json")):
            record = self._read_record(path.stem)
            self._parts.update(record.get("parts", []))
            for it in record.get("items", []):
                self._done[it["id"]] = (it["key"], path.stem, int(it.get("faces", 0)))

    def _read_record(self, name: str) -> dict[str, Any]:
        path = self.out / DONE / f"{name}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:  # cannot happen by our writes (atomic); say which file
            raise ConfigError(f"unreadable resume record ({e}); delete it to redo its inputs", str(path)) from None
        return record if isinstance(record, dict) else {}

    def _remove_orphans(self) -> None:
        """Delete temporary files, and part files no commit record names (a run killed mid-commit)."""
        referenced = self._parts
        for root in (FACES, INPUTS, DONE):
            folder = self.out / root
            if not folder.is_dir():
                continue
            for path in folder.rglob("*"):
                if not path.is_file():
                    continue
                rel = path.relative_to(self.out).as_posix()
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    path.unlink()
                elif root != DONE and path.suffix == ".parquet" and rel not in referenced:
                    path.unlink()

    # ------------------------------------------------------------------------------------------------ resume

    def done_key(self, input_id: str) -> str | None:
        """The ``size:mtime`` key an input was done with, or ``None`` if it is not done."""
        entry = self._done.get(input_id)
        return entry[0] if entry else None

    @property
    def done_inputs(self) -> int:
        return len(self._done)

    @property
    def done_faces(self) -> int:
        return sum(faces for _, _, faces in self._done.values())

    def purge(self, input_ids: Iterable[str]) -> None:
        """Remove the rows and records of done inputs (ones that changed since): parts first, then records."""
        by_commit: dict[str, set[str]] = {}
        for i in input_ids:
            if i in self._done:
                by_commit.setdefault(self._done[i][1], set()).add(i)
        pq, pc = self._pq, self._pc
        for commit, ids in by_commit.items():
            record = self._read_record(commit)
            value_set = self._pa.array(sorted(ids), self._pa.string())
            for part in record.get("parts", []):
                path = self.out / part
                if not path.is_file():
                    continue
                table = pq.ParquetFile(path).read()
                kept = table.filter(pc.invert(pc.is_in(table["input_id"], value_set=value_set)))
                if kept.num_rows == table.num_rows:
                    continue
                if kept.num_rows == 0:
                    path.unlink()
                else:
                    atomic_write(path, lambda tmp, t=kept: write_parquet(t, tmp))
            record["items"] = [it for it in record.get("items", []) if it["id"] not in ids]
            record["parts"] = [p for p in record.get("parts", []) if (self.out / p).is_file()]
            path = self.out / DONE / f"{commit}.json"
            if record["items"]:
                _write_text(path, json.dumps(record, ensure_ascii=False) + "\n")
            else:
                for part in record["parts"]:  # rows of inputs this record no longer names cannot remain
                    (self.out / part).unlink(missing_ok=True)
                path.unlink(missing_ok=True)
            for i in ids:
                del self._done[i]

    # ------------------------------------------------------------------------------------------------ writing

    def commit(self, results: list[ChunkResult]) -> str | None:
        """Write the rows of finished chunks as one commit (its parts, then its record); ``None`` if none is ok."""
        pa = self._pa
        ok = [(o, r.worker) for r in results for o in r.outcomes if o.ok]
        if not ok:
            return None
        name = f"{self.run_id}-{self._seq:05d}"
        self._seq += 1
        tables: dict[tuple[str, str], Any] = {}
        for kind in sorted({k for r in results for k in r.tables}):
            parts = [r.tables[kind] for r in results if kind in r.tables]
            tables[(FACES, kind)] = pa.concat_tables(parts)
        rows: dict[str, list[dict[str, Any]]] = {}
        for o, worker in ok:
            it = o.item
            rows.setdefault(it.kind, []).append({
                "input_id": it.id, "source": utf8_text(it.source), "path": utf8_text(it.path), "bytes": it.size,
                "mtime_ns": it.mtime_ns, "width": o.width, "height": o.height, "frames_read": o.frames_read,
                "frames_analysed": o.frames_analysed, "faces": o.faces, "worker": worker,
            })  # fmt: skip
        for kind, kind_rows in rows.items():
            tables[(INPUTS, kind)] = pa.Table.from_pylist(kind_rows, schema=input_schema())
        written = []
        for (root, kind), table in sorted(tables.items()):
            folder = self.out / root / f"kind={kind}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{name}.parquet"
            atomic_write(path, lambda tmp, t=table: write_parquet(t, tmp))
            written.append(path.relative_to(self.out).as_posix())
        items = [{"id": o.item.id, "key": o.item.key, "kind": o.item.kind, "faces": o.faces,
                  "source": utf8_text(o.item.source)} for o, _ in ok]  # fmt: skip
        record = {"commit": name, "written": _now(), "parts": written, "items": items}
        _write_text(self.out / DONE / f"{name}.json", json.dumps(record, ensure_ascii=False) + "\n")
        for o, _ in ok:
            self._done[o.item.id] = (o.item.key, name, o.faces)
        return name

    def write_failures(self, failures: Iterable[dict[str, Any]]) -> None:
        """Rewrite ``failures.jsonl`` (one JSON object per line), atomically."""
        lines = "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures)
        _write_text(self.out / FAILURES, lines)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Rewrite ``summary.json``, atomically."""
        _write_text(self.out / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
