"""``emolens prune``: remove whole channels from an exported `cnn`, fine-tune it, export ONNX (and INT8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from emolens.cli.console import EXIT_OK, fail
from emolens.errors import EmolensError, MissingExtraError

out = Console()


def prune(
    model: Annotated[str, typer.Argument(help="A shipped `cnn` emotion model's name, or an ONNX export of one.")],
    ratio: Annotated[float, typer.Option(help="Fraction of each convolution's channels to remove.")] = 0.3,
    finetune: Annotated[
        int, typer.Option(help="Fine-tuning epochs after pruning (0: none), of the recipe's epoch size.")
    ] = 2,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the fine-tuning (cosine).")] = 0.01,
    name: Annotated[str | None, typer.Option(help="Name of the pruned model (default MODEL-pruned-PERCENT).")] = None,
    out_dir: Annotated[
        Path, typer.Option("--output", "-o", help="Folder where NAME.onnx and NAME.json are written.")
    ] = Path("."),
    run_dir: Annotated[Path | None, typer.Option(help="Checkpoints (default runs/NAME).")] = None,
    int8: Annotated[bool, typer.Option(help="Also write a static INT8 copy NAME-int8.onnx.")] = True,
    limit_train: Annotated[int, typer.Option(help="Fine-tune on the first N training rows only (0: all).")] = 0,
    threads: Annotated[int, typer.Option(help="Training threads.")] = 2,
    distill: Annotated[
        float, typer.Option(help="Weight of distillation from the unpruned model during fine-tuning (0: off).")
    ] = 0.5,
    data: Annotated[
        Path | None, typer.Option(help="Dataset root (default: EMOLENS_DATA or ../shared/datasets).")
    ] = None,
    importance: Annotated[
        str, typer.Option(help="How channels are ranked: l2, l1 (weight norms), bn (batch-norm scale), lamp or fpgm.")
    ] = "l2",
    global_pruning: Annotated[
        bool, typer.Option("--global/--uniform", help="Rank channels across all layers, or remove RATIO of each.")
    ] = False,
    keep_first: Annotated[bool, typer.Option(help="Leave the first convolution's channels whole.")] = False,
    recalibrate: Annotated[
        int, typer.Option(help="Training rows that re-estimate the batch norms after pruning (0: none).")
    ] = 2048,
    round_to: Annotated[int, typer.Option(help="Channels kept a multiple of N per convolution (1: any).")] = 8,
    recipe: Annotated[
        str | None, typer.Option(help="Training preset to fine-tune with (default: the model's).")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a fine-tuning config field: key=value (JSON), e.g. ema_decay=0.999, ferplus_soft=0.5.",
        ),
    ] = None,
) -> None:
    """Structured pruning with Torch-Pruning: the shapes shrink (fewer channels), unlike a mask."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise fail(MissingExtraError("torch", "train")) from None
    from emolens.cli.train import _parse_sets
    from emolens.datasets import data_root
    from emolens.train.export import export_run
    from emolens.train.prune import FineTuning, PruneMethod, attach_record, private_test_accuracy, prune_model

    name = name or f"{Path(model).stem}-pruned-{round(ratio * 100)}"
    run = run_dir or Path("runs") / name
    root = data or data_root()

    def show(r) -> None:
        out.print(
            f"fine-tune epoch {r.epoch + 1}/{finetune}  val acc {r.val_accuracy:.4f}  {r.seconds:.0f}s", highlight=False
        )

    try:
        method = PruneMethod(ratio, importance, global_pruning, keep_first, recalibrate, round_to)
        fine = FineTuning(finetune, lr, limit_train, distill, _parse_sets(sets or []), recipe)
        record = prune_model(model, method, fine, run, root, threads=threads, on_epoch=show)
        out.print(
            f"pruned {ratio:.0%} of the channels: widths {record['widths']}, parameters "
            f"{record['parameters_before']:,} -> {record['parameters_after']:,}, MACs {record['macs_before']:,} -> "
            f"{record['macs_after']:,}",
            highlight=False,
        )
        summary = export_run(run, name, out_dir, root, int8=int8)
        record = attach_record(out_dir / f"{name}.json", run)
        summary["private_test_accuracy"] = round(private_test_accuracy(out_dir / f"{name}.onnx", root), 4)
    except EmolensError as e:
        raise fail(e) from None
    out.print_json(json.dumps({**summary, "pruning": record}))
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("prune")(prune)
