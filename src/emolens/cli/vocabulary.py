"""The CLI's vocabulary, written once: each shared option's name, short flag, meaning, default and the commands
that have it, and the old spellings that still work for one release.

``docs/cli.md`` shows :func:`vocabulary_markdown` and :func:`renamed_markdown` verbatim, and
``tests/cli/test_vocabulary.py`` walks every command's parameters and fails on any deviation from this table.

A deprecated spelling is rewritten before Click parses the command line (:func:`rewrite_deprecated`), with a
one-line ``note:`` on standard error; it never shows in ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Commands that write results: each has ``--output/-o`` (a file, or a folder for those in OUTPUT_FOLDER).
OUTPUT_FILE = (
    "analyze", "identify", "voice", "text", "events", "fuse", "report", "evaluate", "bench", "verify",
    "gallery list", "gallery audit", "gallery budget", "gallery export", "train fusion",
)  # fmt: skip
OUTPUT_FOLDER = ("video", "batch", "export", "prune", "train text", "train voice")
#: Commands that load and run a model: each has ``--device`` and ``--quiet/-q``.
MODEL_RUNNING = (
    "analyze", "identify", "enroll", "verify", "video", "batch", "voice", "text", "evaluate", "bench", "serve", "fuse",
)  # fmt: skip
#: Commands that print progress or a summary: each has ``--quiet/-q`` (the model-running ones included).
QUIET = (*MODEL_RUNNING, "events", "report", "train")
#: Commands whose result is a report to read (a table on standard output whatever ``--format`` writes to a file).
REPORTS = ("evaluate", "bench", "verify", "gallery budget")
FORMAT = ("analyze", "identify", "voice", "text", "events", "evaluate", "bench", "verify",
          "gallery list", "gallery audit", "gallery budget")  # fmt: skip


@dataclass(frozen=True)
class Term:
    """One shared option: ``name`` (``--output``), ``short`` (``-o`` or ``None``), ``value`` (the metavar shown in
    the docs, ``""`` for an on/off flag), what it means, its default and the commands that have it."""

    name: str
    short: str | None
    value: str
    meaning: str
    default: str
    commands: tuple[str, ...]


VOCABULARY: tuple[Term, ...] = (
    Term("--output", "-o", "PATH",
         "where results go: a file for commands that write one table or report (`-`: standard output), a folder "
         "for those that write several files (" + ", ".join(OUTPUT_FOLDER) + ")",
         "standard output; a folder command: see the command", (*OUTPUT_FILE, *OUTPUT_FOLDER)),
    Term("--format", "-f", "FORMAT",
         "`auto`, `table`, `json`, `jsonl`, `csv` (analyze: also `parquet`; reports: `auto`, `table`, `json`). "
         "`auto`: by the `--output` file's suffix; on standard output a table on a terminal and JSON Lines when "
         "piped. Reports (" + ", ".join(REPORTS) + ") print their table unless `-f json` sends JSON to standard "
         "output; `--output FILE` gets JSON", "`auto`", FORMAT),
    Term("--annotate", None, "DIR",
         "write annotated copies of the inputs into DIR (video: `DIR/annotated.mp4`)", "off",
         ("analyze", "identify", "video")),
    Term("--model", "-m", "NAME",
         "the model to run: a shipped model's name or a manifest path (evaluate, bench: repeatable)",
         "the command's model", ("analyze", "video", "batch", "voice", "text", "evaluate", "bench", "fuse")),
    Term("--detector", None, "NAME",
         "face detector: `yunet`, `retinaface` (crowds of tiny faces), `blazeface` (fastest, large faces)",
         "the registry's default (`yunet`)", ("analyze", "video", "batch", "evaluate", "serve")),
    Term("--gallery", "-g", "PATH",
         "the gallery database of enrolled people (analyze, video: recognition is off without it)",
         "`$EMOLENS_GALLERY`, else `~/.local/share/emolens/gallery.db`",
         ("analyze", "video", "serve", "enroll", "identify", "events", "report", "gallery list", "gallery remove",
          "gallery export", "gallery import", "gallery recover", "gallery purge", "gallery budget",
          "gallery encrypt", "gallery audit")),
    Term("--quiet", "-q", "", "no progress bar or summary line (results, warnings and errors still show)", "off",
         QUIET),
    Term("--device", None, "DEVICE",
         "where the models run: `auto`, `cpu`, `cuda`, `tensorrt`", "`$EMOLENS_DEVICE`, else `auto`", MODEL_RUNNING),
    Term("--version", "-V", "", "print the package version and exit", "", ("",)),
)  # fmt: skip

TERMS = {t.name: t for t in VOCABULARY}


@dataclass(frozen=True)
class Renamed:
    """An old spelling kept for one release: ``old`` on ``commands`` is rewritten to ``new`` (``{}``: its value).
    ``takes_value``: the old option was followed by a value."""

    old: str
    new: tuple[str, ...]
    commands: tuple[str, ...]
    takes_value: bool


RENAMED: tuple[Renamed, ...] = (
    Renamed("--out", ("--output", "{}"), (*OUTPUT_FOLDER, "train fusion"), True),
    Renamed("--json", ("--format", "json", "--output", "{}"), ("evaluate", "bench", "verify"), True),
    Renamed("--json", ("--format", "json"), ("gallery list", "gallery audit", "gallery budget"), False),
)

#: Changes that no alias can carry: shown in docs/cli.md beside the renamed options.
NOT_KEPT = (
    ("`emolens video --annotate` (on/off)", "`--annotate DIR`: `--annotate OUTDIR` writes `OUTDIR/annotated.mp4` "
     "as before. The bare flag cannot be kept (it would swallow the next word); it stops with this hint"),
    ("`identify` column and key `score`", "`similarity` (the cosine similarity to the matched person)"),
    ("`evaluate --detector` default `retinaface`", "the registry's default (`yunet`); give `--detector retinaface` "
     "to reproduce earlier figures"),
    ("`analyze` default format `jsonl`", "`auto`: a table on a terminal, JSON Lines when piped or to a `.jsonl` file"),
    ("`identify`, `voice`, `text`, `events` default format `table`", "`auto`: JSON Lines when piped"),
)  # fmt: skip


def rewrite_deprecated(command: str, args: Sequence[str], note: Callable[[str], None]) -> list[str]:
    """``args`` of ``command`` (``"gallery list"``) with every old spelling replaced by the new one, calling
    ``note`` once per replacement. Both ``--old VALUE`` and ``--old=VALUE`` are understood; nothing after ``--``
    is touched. ``video --annotate`` without a folder raises :class:`ValueError` with a hint."""
    rules = {r.old: r for r in RENAMED if command in r.commands}
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        name, eq, inline = arg.partition("=")
        if command == "video" and name == "--annotate" and not eq:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or nxt.startswith("-"):
                raise ValueError("--annotate now takes a folder: `--annotate OUTDIR` writes OUTDIR/annotated.mp4")
        rule = rules.get(name)
        if rule is None:
            out.append(arg)
            i += 1
            continue
        value = None
        if rule.takes_value:
            if eq:
                value = inline
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 1
        new = [value if (p == "{}" and value is not None) else p for p in rule.new if p != "{}" or value is not None]
        shown = " ".join(p if p != "{}" else "…" for p in rule.new)
        note(f"{rule.old} is deprecated and will be removed in the next release: use {shown}")
        out.extend(new)
        i += 1
    return out


def vocabulary_markdown() -> str:
    """The vocabulary as the Markdown table docs/cli.md shows (the test checks that it is there verbatim)."""
    lines = ["| option | short | meaning | default | commands |", "|---|---|---|---|---|"]
    for t in VOCABULARY:
        name = f"`{t.name} {t.value}`" if t.value else f"`{t.name}`"
        short = f"`{t.short}`" if t.short else ""
        where = "`emolens`" if t.commands == ("",) else ", ".join(t.commands)
        lines.append(f"| {name} | {short} | {t.meaning} | {t.default} | {where} |")
    return "\n".join(lines)


def renamed_markdown() -> str:
    """Old spelling -> new spelling, as docs/cli.md shows it."""
    lines = ["| old | new | commands |", "|---|---|---|"]
    for r in RENAMED:
        old = f"`{r.old} VALUE`" if r.takes_value else f"`{r.old}`"
        new = "`" + " ".join("VALUE" if p == "{}" else p for p in r.new) + "`"
        lines.append(f"| {old} | {new} | {', '.join(r.commands)} |")
    lines += [f"| {old} | {new} | |" for old, new in NOT_KEPT]
    return "\n".join(lines)
