"""``emolens evaluate``: accuracy, macro-F1, per-class figures, confusion, calibration and speed on a labelled set."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import EXIT_OK, err, fail
from emolens.cli.options import DetectorOpt, ReportOutput, Running, option_groups
from emolens.cli.progress import progress_bar
from emolens.cli.records import write_json
from emolens.errors import ConfigError, DataError, EmolensError
from emolens.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    import numpy as np

    from emolens.metrics import Report

out = Console()


class InputKind(StrEnum):
    auto = "auto"
    crops = "crops"
    photos = "photos"


@option_groups
def evaluate(
    npz: Annotated[
        Path | None, typer.Option("--npz", help="Labelled set: x uint8 [N,H,W] or [N,H,W,3], y int labels.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Labelled images: a folder tree DIR/<label>/*.jpg, or a CSV with columns file,label (optional "
            "x1,y1,x2,y2 face box and split); an .npz as --npz.",
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Only the CSV rows whose split column is this.")] = None,
    suite: Annotated[
        bool,
        typer.Option(
            "--suite",
            help="Score every labelled set found in the data folder (FER2013 PrivateTest, FER+ majority, each "
            "faces_extra dev split, the expression grid) and print one table. Default models: every shipped "
            "emotion model.",
        ),
    ] = False,
    data_root: Annotated[
        Path | None, typer.Option(help="Data folder for --suite (default: EMOLENS_DATA or ../shared/datasets).")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Emotion model(s); repeat to compare.")
    ] = None,
    input_kind: Annotated[
        InputKind,
        typer.Option(
            "--input",
            help="crops: already-cropped faces; photos: detect and align the largest face; auto: crops when ≤ 64 px.",
        ),
    ] = InputKind.auto,
    report_to: ReportOutput = ReportOutput(),
    plot: Annotated[Path | None, typer.Option("--plot", help="Confusion-matrix PNG (first model).")] = None,
    reliability: Annotated[Path | None, typer.Option("--reliability", help="Reliability-diagram PNG.")] = None,
    tta: Annotated[bool, typer.Option(help="Mirror test-time augmentation.")] = False,
    detector: DetectorOpt = DEFAULT_DETECTOR,
    threads: Annotated[int, typer.Option(help="Threads per model (0: ONNX Runtime's choice).")] = 0,
    limit: Annotated[int, typer.Option(help="Use only the first N samples (0: all).")] = 0,
    total: Annotated[
        int | None,
        typer.Option(
            help="Also report correct/TOTAL, counting rows absent from the file as errors (FER2013 PrivateTest: 3589)."
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="fer2013: the npz's y; ferplus: the FER+ majority of its ferplus_votes (rows without a majority "
            "left out); ferplus-all: each row's most-voted emotion (every row with an emotion vote). "
            "Default: ferplus for an 8-class model, else fer2013."
        ),
    ] = None,
    running: Running = Running(),
) -> None:
    """Score emotion model(s) on a labelled set (npz, image folder or CSV) and print accuracy, macro-F1, per-class
    figures and confusion; or, with --suite, every labelled set in the data folder in one table."""
    from emolens.analyzer import Analyzer
    from emolens.evaluate.runner import evaluate_npz, load_labelled_npz

    running.use_device()
    try:
        json_path = report_to.destinations()
    except EmolensError as e:
        raise fail(e) from None
    if suite:
        _suite(model, data_root, detector, threads, tta, json_path, running.quiet)
    if data is not None and npz is not None:
        raise fail(ConfigError("give --npz or --data, not both"))
    if data is not None and data.suffix.lower() == ".npz":
        npz, data = data, None
    if data is not None:
        _images(
            data, split, model, input_kind.value, detector, threads, tta, json_path, plot, reliability, running.quiet
        )
    if npz is None:
        raise fail(ConfigError("give a labelled set: --npz FILE, --data FOLDER|CSV, or --suite"))
    names = model or ["emotion-fer2013"]
    reports = []
    right: list[tuple[str, Any]] = []  # each model's label source and per-row correctness, for paired comparison
    truth: dict[str, Any] = {}  # the labels of the file under each label source, read once
    try:
        for name in names:
            analyzer = Analyzer(detector, name, threads=threads, tta=tta)
            source = labels or ("ferplus" if len(analyzer.emotion.labels) == 8 else "fer2013")
            if source not in truth:
                truth[source] = load_labelled_npz(npz, source)[1]
            n = min(len(truth[source]), limit) if limit else len(truth[source])
            with progress_bar(n, running.quiet, description=f"evaluating {name}") as advance:
                report, probs = evaluate_npz(
                    analyzer,
                    npz,
                    input_kind.value,
                    limit,
                    on_progress=lambda k, a=advance: [a() for _ in range(k)],
                    labels=source,
                )
            if total:
                correct = round(report.accuracy * report.n)
                report.extra.update(
                    {"total": total, "correct": correct, "accuracy_of_total": round(correct / total, 5)}
                )
            y = truth[source][: len(probs)]
            first = name == names[0]
            _keep(reports, right, report, probs, y, source, plot if first else None, reliability if first else None,
                  f"{name} on {npz.name}")  # fmt: skip
    except EmolensError as e:
        raise fail(e) from None

    _finish(reports, right, json_path)


def _print_report(r) -> None:
    e = r.extra
    out.print(
        f"[bold]{e['model']}[/bold] on {e['file']} ({e['input']}, labels {e.get('label_source', 'from the folders')}, "
        f"tta={'on' if e['tta'] else 'off'})"
    )
    out.print(
        f"accuracy {r.accuracy:.4f}  macro-F1 {r.macro_f1:.4f}  ECE {r.ece:.4f}  "
        f"mean confidence {r.confidence:.4f}  n {r.n}  "
        f"no face {r.errors}  {e['ms_per_face']:.3f} ms/face",
        highlight=False,
    )
    if "total" in e:
        out.print(f"counting absent rows as errors: {e['correct']}/{e['total']} = {e['accuracy_of_total']:.4f}")
    t = Table(show_edge=False)
    for col in ("class", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="right" if col != "class" else "left")
    for label, m in r.per_class.items():
        t.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(t)
    cm = Table(title="confusion (rows: true, columns: predicted)", show_edge=False)
    cm.add_column("")
    for label in r.labels:
        cm.add_column(label[:5], justify="right")
    for label, row in zip(r.labels, r.confusion, strict=True):
        cm.add_row(label, *[str(v) for v in row])
    out.print(cm)


def _pair_with_first(reports: list, right: list[tuple[str, Any]]) -> None:
    """Add each later model's paired comparison with the first (``extra["vs_first"]``) where both were scored
    on the same rows against the same labels."""
    from emolens.metrics import mcnemar

    source0, first = right[0]
    for r, (source, correct) in zip(reports[1:], right[1:], strict=True):
        if source == source0 and len(correct) == len(first):
            c = mcnemar(first, correct)
            r.extra["vs_first"] = {
                "model": reports[0].extra["model"],
                "accuracy_points": round(100 * (r.accuracy - reports[0].accuracy), 2),
                "only_first_right": c.only_a_right,
                "only_this_right": c.only_b_right,
                "mcnemar_p": round(c.p_value, 4),
            }


def _print_comparison(reports: list) -> None:
    t = Table(title="comparison: Δ, rows only one model gets right, and McNemar p against the first model")
    t.add_column("model", no_wrap=True)
    for col in ("accuracy", "Δ points", "only 1st / this", "p", "macro-F1", "ECE", "ms/face"):
        t.add_column(col, justify="right")
    for r in reports:
        v = r.extra.get("vs_first")
        paired = (
            [
                f"{v['accuracy_points']:+.2f}",
                f"{v['only_first_right']} / {v['only_this_right']}",
                f"{v['mcnemar_p']:.3f}",
            ]
            if v
            else ["", "", ""]
        )
        t.add_row(
            r.extra["model"],
            f"{r.accuracy:.4f}",
            *paired,
            f"{r.macro_f1:.4f}",
            f"{r.ece:.4f}",
            f"{r.extra['ms_per_face']:.3f}",
        )
    # Wider than Rich's 80 columns when the output goes to a file or pipe, so no column is cut.
    (out if out.is_terminal else Console(width=160)).print(t)


def _images(data, split, model, input_kind, detector, threads, tta, json_path, plot, reliability, quiet) -> None:
    """``--data`` with a folder tree or a CSV: each model scored on the same images (faces found once)."""
    from emolens.analyzer import Analyzer
    from emolens.evaluate.labelled import class_indices, detections_for, evaluate_images, read_labelled

    names = model or ["emotion-fer2013"]
    reports, right = [], []
    try:
        items = read_labelled(data, split)
        found = None
        for name in names:
            analyzer = Analyzer(detector, name, threads=threads, tta=tta)
            kind = input_kind
            if kind != "crops" and found is None:
                from emolens.io.images import load_image

                if kind == "auto":
                    first = load_image(items[0].path).rgb
                    kind = "crops" if max(first.shape[:2]) <= 64 else "photos"
                if kind == "photos":
                    with progress_bar(len(items), quiet, description="finding faces") as advance:
                        found = detections_for(analyzer, items, on_progress=lambda k, a=advance: a())
            elif found is not None:
                kind = "photos"
            report, probs = evaluate_images(analyzer, items, kind, str(data), found=found)
            if split:
                report.extra["split"] = split
            y = class_indices(items, analyzer.emotion.labels, str(data))
            first = name == names[0]
            _keep(reports, right, report, probs, y, "folder", plot if first else None, reliability if first else None,
                  f"{name} on {data.name}")  # fmt: skip
    except EmolensError as e:
        raise fail(e) from None
    _finish(reports, right, json_path)


def _keep(
    reports: list,
    right: list,
    report: Report,
    probs: np.ndarray,
    y: np.ndarray,
    tag: str,
    plot: Path | None,
    reliability: Path | None,
    title: str,
) -> None:
    """Keep one model's report and per-row correctness on a set; draw its plots when asked (first model only)."""
    from emolens.evaluate.plots import confusion_png, reliability_png
    from emolens.evaluate.runner import top_labels

    reports.append(report)
    pred = top_labels(probs)
    right.append((tag, pred == y))
    if plot:
        confusion_png(report.confusion, report.labels, plot, title=title)
    if reliability:
        found = pred >= 0
        reliability_png(probs[found], y[found], reliability, title=title)


def _finish(reports: list, right: list, json_path: tuple[bool, str | None]) -> None:
    show, json_to = json_path
    if len(reports) > 1:
        _pair_with_first(reports, right)
    if show:
        for r in reports:
            _print_report(r)
        if len(reports) > 1:
            _print_comparison(reports)
    payload = reports[0].to_dict() if len(reports) == 1 else {"models": [r.to_dict() for r in reports]}
    write_json(payload, json_to)
    if json_to not in (None, "-"):
        err.print(f"wrote {json_to}", highlight=False)
    raise typer.Exit(EXIT_OK)


def _suite(model, data_root, detector, threads, tta, json_path, quiet) -> None:
    from emolens.datasets import data_root as default_root
    from emolens.evaluate.suite import find_sets, run_suite
    from emolens.registry import model_names

    try:
        root = data_root or default_root()
        # Each shipped model before its INT8 copy.
        names = model or sorted(model_names("emotion"), key=lambda n: (n.removesuffix("-int8"), n.endswith("-int8")))
        sets = find_sets(root)
        if not sets:
            raise DataError("no labelled sets found", str(root))

        def show(set_name: str, name: str) -> None:
            if not quiet:
                err.print(f"{set_name}: {name}", highlight=False)

        rows = run_suite(names, root, detector, threads, sets, on_set=show, tta=tta)
    except EmolensError as e:
        raise fail(e) from None
    mirrored = "; mirror TTA" if tta else ""
    t = Table(title=f"cross-source suite ({detector}; photos: largest face{mirrored})", show_edge=False)
    for col in ("set", "model", "n", "accuracy", "macro-F1", "ECE", "no face"):
        t.add_column(col, justify="left" if col in ("set", "model") else "right")
    for r in rows:
        ece = "" if r["ece"] is None else f"{r['ece']:.4f}"
        t.add_row(
            r["set"], r["model"], str(r["n"]), f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}", ece, str(r["no_face"])
        )
    visible, json_to = json_path
    if visible:
        (out if out.is_terminal else Console(width=160)).print(t)
    write_json({"detector": detector, "tta": tta, "rows": rows}, json_to)
    if json_to not in (None, "-"):
        err.print(f"wrote {json_to}", highlight=False)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
