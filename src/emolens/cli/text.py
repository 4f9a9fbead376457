"""``emolens text``: emotion of texts (arguments, a file of lines, a CSV column), English or Chinese."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import EXIT_OK, EXIT_PARTIAL, err, fail
from emolens.cli.options import FormatOpt, OutputOpt, Running, option_groups
from emolens.cli.records import Format, RecordWriter
from emolens.errors import ConfigError, EmolensError, TextError

out = Console()

#: The model each evaluation uses unless --model says otherwise.
EVAL_MODELS = {
    "goemotions": "text-en-goemotions",
    "dair": "text-en-dair",
    "smp": "text-zh-smp",
    "smp-virus": "text-zh-smp",
}


class Language(StrEnum):
    auto = "auto"
    en = "en"
    zh = "zh"


def _open_text(path: str):
    p = Path(path)
    if not p.is_file():
        raise TextError("no such file", path)
    try:
        return open(p, encoding="utf-8-sig", newline="")
    except OSError as e:
        raise TextError(f"cannot read ({e.strerror})", path) from None


def _read_lines(path: str) -> Iterator[tuple[str, str]]:
    """(id, text) per non-blank line of a UTF-8 file (``-``: standard input), read as a stream."""
    f = sys.stdin if path == "-" else _open_text(path)
    found = False
    try:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                found = True
                yield f"{path}:{n}", line
    except UnicodeDecodeError:
        raise TextError("not UTF-8 text", path) from None
    finally:
        if f is not sys.stdin:
            f.close()
    if not found:
        raise TextError("the file has no text", path)


def _read_csv(path: str, column: str) -> Iterator[tuple[str, str]]:
    """(id, text) per row of a CSV file's ``column``; an empty cell is passed on (and reported as bad)."""
    with _open_text(path) as f:
        try:
            reader = csv.DictReader(f)
            if not reader.fieldnames or column not in reader.fieldnames:
                have = ", ".join(reader.fieldnames or []) or "none"
                raise TextError(f"no column {column!r} (columns: {have})", path)
            n = 0
            for n, row in enumerate(reader, 1):
                yield f"{path}:row {n}", row.get(column) or ""
        except UnicodeDecodeError:
            raise TextError("not UTF-8 text", path) from None
        except csv.Error as e:
            raise TextError(f"not a readable CSV file ({e})", path) from None
    if n == 0:
        raise TextError("the CSV file has no rows", path)


def _record(source: str, r: Any) -> dict[str, Any]:
    d = r.to_dict()
    return {"source": source, **d}


def _flat(rec: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in rec.items() if k not in ("probabilities", "labels")}
    flat["labels"] = ";".join(rec["labels"])
    flat.update({f"p_{k}": v for k, v in rec["probabilities"].items()})
    return flat


@option_groups
def text(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify (quote each).")] = None,
    file: Annotated[str | None, typer.Option("--file", help="A UTF-8 file, one text per line ('-': stdin).")] = None,
    csv_path: Annotated[str | None, typer.Option("--csv", help="A CSV file (with a header row).")] = None,
    column: Annotated[str, typer.Option(help="The CSV column holding the texts.")] = "text",
    fmt: FormatOpt = Format.auto,
    output: OutputOpt = None,
    language: Annotated[Language, typer.Option(help="Language (auto: by CJK share).")] = Language.auto,
    model_en: Annotated[
        str | None, typer.Option(help="English model (default text-en-goemotions; text-en-all: every corpus).")
    ] = None,
    model_zh: Annotated[
        str | None, typer.Option(help="Chinese model (default text-zh-smp; text-zh-all: both domains).")
    ] = None,
    evaluate: Annotated[
        str | None, typer.Option(help="Instead: evaluate on a dataset's test split (goemotions, dair, smp, smp-virus).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="With --evaluate: the model (default: the dataset's).")
    ] = None,
    split: Annotated[str, typer.Option(help="With --evaluate: the split.")] = "test",
    running: Running = Running(),
) -> None:
    """Emotion of texts: probabilities over angry, disgust, fear, happy, sad, surprise, neutral."""
    running.use_device()
    if evaluate is not None:
        _evaluate(evaluate, model, split, output)
        return
    from emolens.text.analyzer import TextAnalyzer

    sources = sum(x is not None and x != [] for x in (texts, file, csv_path))
    try:
        if sources != 1:
            raise ConfigError("give texts, --file or --csv (exactly one of them)")
        models = {k: v for k, v in (("en", model_en), ("zh", model_zh)) if v}
        analyzer = TextAnalyzer(language.value, models)
        if texts:
            items: Iterator[tuple[str, str]] = iter([(f"arg {i}", t) for i, t in enumerate(texts, 1)])
        elif file is not None:
            items = _read_lines(file)
        else:
            assert csv_path is not None
            items = _read_csv(csv_path, column)
        n_bad = n_done = 0
        pending: list[tuple[str, str]] = []
        with RecordWriter(fmt, output, _text_table) as sink:

            def flush() -> None:
                nonlocal n_bad, n_done
                for (src, _), r in zip(pending, analyzer.iter_analyze([t for _, t in pending]), strict=True):
                    if isinstance(r, TextError):
                        n_bad += 1
                        err.print(f"[yellow]skipped[/yellow] {src}: {r.message}", highlight=False, soft_wrap=True)
                    else:
                        rec = _record(src, r)
                        n_done += 1
                        sink.write(_flat(rec) if sink.fmt is Format.csv else rec)
                pending.clear()

            for item in items:
                pending.append(item)
                if len(pending) >= 512:
                    flush()
            flush()
    except EmolensError as e:
        raise fail(e) from None
    if not running.quiet and output not in (None, "-"):
        err.print(f"{n_done} text(s), {n_bad} skipped → {output}", highlight=False)
    raise typer.Exit(EXIT_PARTIAL if n_bad else EXIT_OK)


def _text_table(records: list[dict[str, Any]]) -> Table:
    t = Table()
    for col in ("source", "lang", "label", "conf", "labels", "text"):
        t.add_column(col, overflow="fold")
    for r in records:
        conf, labels = f"{r['confidence']:.2f}", ",".join(r["labels"])
        t.add_row(r["source"], r["language"], r["label"], conf, labels, r["text"][:80])
    return t


def _evaluate(dataset: str, model: str | None, split: str, output: str | None) -> None:
    from emolens.text.evaluate import DATASETS, evaluate_text_model
    from emolens.text.model import load_text_model

    try:
        if dataset not in DATASETS:
            raise ConfigError(f"unknown text dataset {dataset!r} (known: {', '.join(DATASETS)})")
        m = load_text_model(model or EVAL_MODELS[dataset])
        res = {"model": m.name, "dataset": dataset, **evaluate_text_model(m, dataset, split)}
    except EmolensError as e:
        raise fail(e) from None
    t = Table(title=f"{m.name} on {dataset} {split} ({res['n']} texts)")
    t.add_column("label")
    t.add_column("F1", justify="right")
    for lab, f in res["per_class_f1"].items():
        t.add_row(lab, f"{f:.3f}")
    out.print(t)
    head = f"macro-F1 {res['macro_f1']:.4f}"
    if "accuracy" in res:
        head += f", accuracy {res['accuracy']:.4f}"
    if "single_label" in res:
        s = res["single_label"]
        head += f" ({res['metric']}); single-label texts: accuracy {s['accuracy']:.4f}, macro-F1 {s['macro_f1']:.4f}"
    out.print(head, highlight=False)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("text")(text)
