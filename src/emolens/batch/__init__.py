"""Batch runs at scale: many photos and videos into partitioned Parquet, resumable, on local processes or Ray.

>>> from emolens.batch import run_batch
>>> summary = run_batch(["photos/", "clips.txt"], "out/", engine="local", workers=2)  # doctest: +SKIP
>>> summary.done, summary.failed, summary.faces  # doctest: +SKIP

Modules: :mod:`.plan` (inputs to work items), :mod:`.work` (what a worker does), :mod:`.engines` and
:mod:`.ray_engine` (where workers run), :mod:`.tables` (the Arrow schemas), :mod:`.store` (the output folder,
atomic writes and the resume manifest), :mod:`.runner` (:func:`run_batch`). The library never prints:
progress goes to an ``on_progress`` callback. See docs/batch.md.
"""

from emolens.batch.plan import VIDEO_EXTENSIONS, InputError, Plan, WorkItem, plan_inputs
from emolens.batch.runner import BatchProgress, BatchSummary, Failure, run_batch
from emolens.batch.tables import face_columns

__all__ = [
    "VIDEO_EXTENSIONS",
    "BatchProgress",
    "BatchSummary",
    "Failure",
    "InputError",
    "Plan",
    "WorkItem",
    "face_columns",
    "plan_inputs",
    "run_batch",
]
