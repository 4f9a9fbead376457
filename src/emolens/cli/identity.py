"""``emolens enroll``, ``emolens gallery``, ``emolens identify`` and ``emolens verify``: who the faces are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fail
from emolens.cli.options import (
    AnnotateOpt,
    Drawing,
    FormatOpt,
    LogEventsOpt,
    OutputOpt,
    ReportOutput,
    Running,
    option_groups,
)
from emolens.cli.progress import progress_bar
from emolens.cli.records import Format, RecordWriter, simple_table, write_json
from emolens.errors import ConfigError, EmolensError

out = Console()

GalleryOpt = Annotated[
    Path | None,
    typer.Option(
        "--gallery", "-g", help="Gallery database (default: $EMOLENS_GALLERY or ~/.local/share/emolens/gallery.db)."
    ),
]
ThresholdOpt = Annotated[
    float | None, typer.Option(help="Cosine similarity from which faces match (default: the embedding model's).")
]


#: The columns of the `identify` table (JSON, JSON Lines and CSV also carry each face's box).
IDENTIFY_COLUMNS = ("source", "face", "identity", "similarity", "emotion", "emotion_score")


def _open(gallery: Path | None, threshold: float | None = None, **kw: Any):
    from emolens.identity import Gallery

    return Gallery(gallery, threshold=threshold, **kw)


# --------------------------------------------------------------------------------------------------- enroll


@option_groups
def enroll(
    name: Annotated[str | None, typer.Argument(help="The person's name.")] = None,
    images: Annotated[list[str] | None, typer.Argument(help="Photos of the person (files, folders or globs).")] = None,
    from_folder: Annotated[
        Path | None, typer.Option("--from-folder", help="Enrol everyone in DIR: one sub-folder of photos per person.")
    ] = None,
    gallery: GalleryOpt = None,
    replace: Annotated[bool, typer.Option(help="Replace the person's embeddings instead of adding to them.")] = False,
    keep_images: Annotated[
        bool, typer.Option(help="Also store the aligned face crops (off: embeddings only).")
    ] = False,
    running: Running = Running(),
) -> None:
    """Enrol a person from photos (one face each), or everyone in a folder of per-person sub-folders."""
    running.use_device()
    from emolens.identity.names import check_name
    from emolens.io.inputs import expand_inputs

    if (from_folder is None) == (name is None):
        err.print("[red]error:[/red] give NAME IMAGES... or --from-folder DIR (not both)")
        raise typer.Exit(EXIT_USAGE)
    if from_folder is not None and images:
        err.print("[red]error:[/red] --from-folder takes no image arguments")
        raise typer.Exit(EXIT_USAGE)
    try:
        g = _open(gallery, keep_images=keep_images)
        if from_folder is not None:
            if not from_folder.is_dir():
                raise ConfigError(f"{from_folder} is not a folder")
            people = [(d.name, [str(d)]) for d in sorted(from_folder.iterdir()) if d.is_dir()]
            if not people:
                raise ConfigError(f"{from_folder} has no sub-folders (one per person)")
        else:
            if not images:
                raise ConfigError("give at least one photo of the person")
            people = [(check_name(name), images)]
        failures = 0
        with progress_bar(len(people), running.quiet or len(people) <= 1, "enrolling") as advance:
            for person, paths in people:
                try:
                    person = check_name(person)
                except ConfigError as e:
                    failures += 1
                    err.print(f"[yellow]not enrolled[/yellow] {person!r}: {e.message}", highlight=False)
                    advance()
                    continue
                items = list(expand_inputs(paths))
                bad = [(i.source, i.error) for i in items if i.error]
                report = g.enroll(person, [i.path for i in items if not i.error], replace=replace)
                for src, msg in [*bad, *report.failures]:
                    failures += 1
                    err.print(f"[yellow]skipped[/yellow] {src}: {msg}", highlight=False)
                if report.added == 0:
                    err.print(f"[yellow]not enrolled[/yellow] {person}: no usable photo", highlight=False)
                elif not running.quiet:
                    err.print(f"{person}: +{report.added} embedding(s), {report.total} in all", highlight=False)
                advance()
    except EmolensError as e:
        raise fail(e) from None
    raise typer.Exit(EXIT_PARTIAL if failures else EXIT_OK)


# --------------------------------------------------------------------------------------------------- gallery

gallery_app = typer.Typer(help="List, remove, export, import or recover enrolled people.", no_args_is_help=True)


@gallery_app.command("list")
def gallery_list(gallery: GalleryOpt = None, fmt: FormatOpt = Format.auto, output: OutputOpt = None) -> None:
    """Enrolled people and their number of embeddings."""
    import datetime as dt

    try:
        g = _open(gallery)
        people = g.people()
        with RecordWriter(fmt, output, simple_table(("name", "embeddings", "enrolled"))) as w:
            if w.fmt is not Format.table:
                w.write(*[p.to_dict() for p in people])
                return
            stamp = {p.name: dt.datetime.fromtimestamp(p.created).strftime("%Y-%m-%d %H:%M") for p in people}
            w.write(*[{"name": p.name, "embeddings": p.embeddings, "enrolled": stamp[p.name]} for p in people])
    except EmolensError as e:
        raise fail(e) from None


@gallery_app.command("remove")
def gallery_remove(name: Annotated[str, typer.Argument()], gallery: GalleryOpt = None) -> None:
    """Delete a person: their embeddings, events and alerts."""
    try:
        removed = _open(gallery).remove(name)
    except EmolensError as e:
        raise fail(e) from None
    if not removed:
        err.print(f"[red]error:[/red] no one named {name!r} is enrolled", highlight=False)
        raise typer.Exit(EXIT_PARTIAL)
    err.print(f"removed {name} (embeddings, events and alerts)", highlight=False)


@gallery_app.command("export")
def gallery_export(
    gallery: GalleryOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="JSON file (default: standard output).")] = "-",
) -> None:
    """Everyone's embeddings as JSON (model, threshold, people); no images."""
    try:
        data = json.dumps(_open(gallery).export())
    except EmolensError as e:
        raise fail(e) from None
    if output == "-":
        typer.echo(data)
    else:
        Path(output).write_text(data)
        err.print(f"→ {output}")


@gallery_app.command("import")
def gallery_import(
    file: Annotated[Path, typer.Argument(help="A file written by `emolens gallery export`.")],
    gallery: GalleryOpt = None,
    replace: Annotated[bool, typer.Option(help="Replace people already enrolled instead of adding.")] = False,
) -> None:
    """Enrol everyone from an export made with the same embedding model."""
    from emolens.identity.gallery import load_export

    try:
        n = _open(gallery).import_(load_export(file), replace=replace)
    except EmolensError as e:
        raise fail(e) from None
    err.print(f"imported {n} people")


@gallery_app.command("recover")
def gallery_recover(gallery: GalleryOpt = None) -> None:
    """Rebuild a damaged gallery from what can still be read; the damaged file is kept beside it."""
    from emolens.identity.gallery import default_gallery_path
    from emolens.identity.recovery import recover

    path = gallery or default_gallery_path()
    try:
        damaged, report = recover(path)
    except EmolensError as e:
        raise fail(e) from None
    err.print(f"recovered into {path}: {report.summary()}; the damaged file is {damaged}", highlight=False)
    if report.dropped_persons:
        err.print(f"not kept (no readable embedding): {', '.join(report.dropped_persons)}", highlight=False)


# --------------------------------------------------------------------------------------------------- identify


@option_groups
def identify(
    paths: Annotated[list[str], typer.Argument(help="Images, folders or globs.")],
    gallery: GalleryOpt = None,
    threshold: ThresholdOpt = None,
    fmt: FormatOpt = Format.auto,
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    drawing: Drawing = Drawing(),
    log_events: LogEventsOpt = False,
    running: Running = Running(),
) -> None:
    """Who is in each face (with the similarity), or "unknown"; emotions too."""
    running.use_device()
    from emolens.analyzer import Analyzer
    from emolens.cli.analyze import _unique_name
    from emolens.draw import save_image
    from emolens.events import EventLogger
    from emolens.io.inputs import expand_inputs

    rows: list[dict[str, Any]] = []
    errors = 0
    try:
        g = _open(gallery, threshold)
        if len(g) == 0 and not running.quiet:
            err.print("[yellow]the gallery is empty: every face will be unknown[/yellow]")
        analyzer = Analyzer(threads=g.threads, identity=g)  # finds faces; the gallery's embedder recognises
        logger = EventLogger(g.store) if log_events else None
        items = list(expand_inputs(paths))
        if annotate is not None:
            annotate.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        with progress_bar(len(items), running.quiet or len(items) <= 3, "identifying") as advance:
            for result, rgb in analyzer.iter_analyze(items, with_images=True):
                advance()
                if not result.ok:
                    errors += 1
                    err.print(f"[yellow]skipped[/yellow] {result.source}: {result.error}", highlight=False)
                    continue
                if logger is not None:
                    logger.log_image(result)
                for f in result.faces:
                    rows.append(
                        {
                            "source": result.source,
                            "face": f.index,
                            "box": f.box.to_list(),
                            "identity": f.identity,
                            "similarity": None if f.identity_score is None else round(f.identity_score, 4),
                            "emotion": f.label,
                            "emotion_score": round(f.emotions.confidence, 4),
                        }
                    )
                if annotate is not None and rgb is not None:
                    save_image(drawing.draw(rgb, result.faces), annotate / _unique_name(result.source, used))
        if logger is not None:
            logger.close()
    except EmolensError as e:
        raise fail(e) from None
    try:
        with RecordWriter(fmt, output, simple_table(IDENTIFY_COLUMNS)) as w:
            w.write(*rows)
    except EmolensError as e:
        raise fail(e) from None
    raise typer.Exit(EXIT_PARTIAL if errors else EXIT_OK)


# --------------------------------------------------------------------------------------------------- verify


@option_groups
def verify(
    a: Annotated[str | None, typer.Argument(help="First photo.")] = None,
    b: Annotated[str | None, typer.Argument(help="Second photo.")] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(help="Evaluate a pairs file instead: LFW layout, or a CSV of a,b,same (paths under --images)."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Folder of <Person>/<Person>_NNNN.jpg for --pairs (a CSV: the folder its paths start in)."),
    ] = None,
    threshold_pairs: Annotated[
        Path | None,
        typer.Option(help="Choose the threshold on this pairs file (e.g. LFW pairsDevTrain), then test on --pairs."),
    ] = None,
    threshold: ThresholdOpt = None,
    ext: Annotated[str, typer.Option(help="Image file extension in --images.")] = "jpg",
    report_to: ReportOutput = ReportOutput(),
    running: Running = Running(),
) -> None:
    """Are two photos the same person? Or, with --pairs, verification accuracy on a pairs list."""
    running.use_device()
    from emolens.identity import Gallery

    try:
        show, json_to = report_to.destinations()
    except EmolensError as e:
        raise fail(e) from None
    if pairs is None:
        if a is None or b is None:
            err.print("[red]error:[/red] give two photos, or --pairs FILE --images DIR")
            raise typer.Exit(EXIT_USAGE)
        try:
            g = Gallery(":memory:", threshold=threshold)
            v = g.verify(a, b)
        except EmolensError as e:
            raise fail(e) from None
        verdict = "same person" if v.same else "different people"
        prob = g.embedder.same_probability(v.score)
        p_txt = "" if prob is None else f", P(same) {prob:.3f}"
        if show:
            out.print(
                f"{verdict}: similarity {v.score:.3f} (threshold {v.threshold:.3f}{p_txt}, {g.model})", highlight=False
            )
        record = {**v.to_dict(), "probability": None if prob is None else round(prob, 4)}
        write_json({**record, "a": a, "b": b, "model": g.model}, json_to)
        return
    if images is None and pairs.suffix.lower() != ".csv":
        err.print("[red]error:[/red] --pairs needs --images DIR (only a .csv of pairs may do without)")
        raise typer.Exit(EXIT_USAGE)
    figures = _evaluate_pairs(pairs, images, threshold_pairs, threshold, ext, running.quiet)
    if show:
        _print_figures(figures)
    write_json(figures, json_to)
    raise typer.Exit(EXIT_PARTIAL if figures["failed_images"] else EXIT_OK)


def _evaluate_pairs(
    pairs: Path, images: Path | None, threshold_pairs: Path | None, threshold: float | None, ext: str, quiet: bool
) -> dict[str, Any]:
    from emolens.identity import Gallery
    from emolens.identity.evaluation import (
        best_threshold,
        evaluate_pairs,
        expected_calibration_error,
        read_pairs,
        score_pairs,
    )

    try:
        g = Gallery(":memory:", threshold=threshold)
        test = read_pairs(pairs, images, ext)
        lists = [("threshold", read_pairs(threshold_pairs, images, ext))] if threshold_pairs else []
        lists.append(("test", test))
        scored = {}
        for role, pl in lists:
            n_images = len({p for x, y, _ in pl.pairs for p in (x, y)})
            with progress_bar(n_images, quiet, f"embedding ({role})") as advance:
                scored[role] = score_pairs(pl, lambda p: g.embedding(p, pick="center"), lambda k, n: advance())
        thr: float | None = g.threshold
        if threshold_pairs is not None and threshold is None:
            thr = best_threshold(scored["threshold"].scores, scored["threshold"].same)
        elif threshold is None and test.folds > 1:
            thr = None  # the fold protocol: each fold's threshold is chosen on the other folds
        figures = evaluate_pairs(scored["test"], test.folds, thr)
        prob = g.embedder.same_probabilities(scored["test"].scores)
        if prob is not None:
            figures["probability_ece"] = expected_calibration_error(prob, scored["test"].same)
    except EmolensError as e:
        raise fail(e) from None
    for path, msg in sorted(scored["test"].failed.items()):
        err.print(f"[yellow]no embedding[/yellow] {path}: {msg}", highlight=False)
    figures.update(
        pairs_file=str(pairs),
        threshold_pairs_file=str(threshold_pairs) if threshold_pairs else None,
        threshold_source=(
            "--threshold"
            if threshold is not None
            else f"best on {threshold_pairs}"
            if threshold_pairs
            else "folds"
            if test.folds > 1
            else f"{g.model} default"
        ),
        model=g.model,
        failed=scored["test"].failed,
    )
    return figures


def _print_figures(f: dict[str, Any]) -> None:
    lines = [f"{f['pairs']} pairs ({f['same']} same, {f['different']} different), model {f['model']}"]
    if "accuracy" not in f:
        lines.append(f"accuracy {100 * f['accuracy_mean']:.2f}% ± {100 * f['accuracy_std']:.2f} ({f['protocol']})")
    else:
        lines.append(f"accuracy {100 * f['accuracy']:.2f}% at threshold {f['threshold']:.3f} ({f['threshold_source']})")
    if "accuracy" in f and "accuracy_mean" in f:
        lines.append(f"per fold at that threshold: {100 * f['accuracy_mean']:.2f}% ± {100 * f['accuracy_std']:.2f}")
    lines.append(f"ROC AUC {f['roc_auc']:.4f}; TAR {100 * f['tar_at_far_1e-3']:.2f}% at FAR 1e-3")
    if "probability_ece" in f:
        lines.append(f"same-person probability: ECE {f['probability_ece']:.3f}")
    lines.append(
        f"{f['failed_images']} image(s) without a face ({f['pairs_with_failed_image']} pairs counted as errors)"
    )
    for ln in lines:
        out.print(ln, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("enroll")(enroll)
    app.add_typer(gallery_app, name="gallery")
    app.command("identify")(identify)
    app.command("verify")(verify)
