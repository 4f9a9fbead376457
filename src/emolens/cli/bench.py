"""``emolens bench``: emotion-model speed (ms per face, faces/s) by batch size and thread count."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import EXIT_OK, err, fail
from emolens.cli.options import ReportOutput, Running, option_groups
from emolens.cli.records import write_json
from emolens.errors import EmolensError

out = Console()


@option_groups
def bench(
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Model(s) to time (default: all emotion models).")
    ] = None,
    batch: Annotated[list[int] | None, typer.Option("--batch", help="Batch sizes (default 1, 32, 256).")] = None,
    threads: Annotated[list[int] | None, typer.Option("--threads", help="Thread counts (default 1, 2).")] = None,
    seconds: Annotated[float, typer.Option(help="Time spent measuring each setting.")] = 2.0,
    report_to: ReportOutput = ReportOutput(),
    running: Running = Running(),
) -> None:
    """Time the emotion models on random aligned crops: median ms per face and faces per second."""
    import onnxruntime as ort

    from emolens.emotion import EmotionModel
    from emolens.evaluate.timing import median_seconds
    from emolens.registry import model_names

    running.use_device()
    names = model or model_names("emotion")
    rows = []
    try:
        show, json_to = report_to.destinations()
        for name in names:
            for t in threads or [1, 2]:
                if not running.quiet:
                    err.print(f"timing {name} on {t} thread(s)", highlight=False)
                m = EmotionModel(name, threads=t)
                ran_on = m._session.get_providers()[0].removesuffix("ExecutionProvider")
                for b in batch or [1, 32, 256]:
                    crops = np.random.default_rng(0).integers(0, 256, (b, m.align_size, m.align_size), dtype=np.uint8)
                    med, runs = median_seconds(lambda: m.logits(crops), seconds=seconds)  # noqa: B023
                    rows.append(
                        {
                            "model": name,
                            "threads": t,
                            "batch": b,
                            "ms_per_face": med * 1000 / b,
                            "faces_per_s": b / med,
                            "runs": runs,
                            "provider": ran_on,
                        }
                    )
    except EmolensError as e:
        raise fail(e) from None
    ran = ", ".join(sorted({r["provider"] for r in rows})) or "CPU"
    table = Table(title=f"emotion models, ONNX Runtime {ort.__version__} ({ran}), median of timed runs")
    for col in ("model", "threads", "batch", "ms/face", "faces/s"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for r in rows:
        table.add_row(
            r["model"], str(r["threads"]), str(r["batch"]), f"{r['ms_per_face']:.3f}", f"{r['faces_per_s']:.0f}"
        )
    if show:
        out.print(table)
    write_json(rows, json_to)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
