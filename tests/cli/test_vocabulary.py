"""One vocabulary across commands: every command's parameters, read through Click's introspection, against the
table declared once in :mod:`emolens.cli.vocabulary` (and shown verbatim in docs/cli.md); then the behaviour of
``--version``, ``--format auto`` and the deprecated spellings."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from emolens.cli.main import app
from emolens.cli.records import choose_format, report_output
from emolens.cli.vocabulary import (
    RENAMED,
    TERMS,
    VOCABULARY,
    renamed_markdown,
    rewrite_deprecated,
    vocabulary_markdown,
)
from emolens.errors import ConfigError
from emolens.registry import DEFAULT_DETECTOR

REPO = Path(__file__).resolve().parents[2]
EMOLENS = str(Path(sys.executable).with_name("emolens"))


def walk(command: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every command and sub-command by its path (``""``: the program itself, ``"gallery list"``); a group with
    its own options (``train``) counts as a command too."""
    found = {" ".join(path): command}
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        found.update(walk(sub, (*path, name)))
    return found


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def _choices(p: Any) -> list[str]:
    """The values an option accepts: Click's ``type.choices``, or the members of Typer's Enum annotation."""
    if hasattr(p, "type") and hasattr(p.type, "choices"):
        return [str(c) for c in p.type.choices]
    annotation = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(m.value) for m in annotation]
    return []


def deviations(root: Any, vocabulary=VOCABULARY, renamed=RENAMED, detector: str = DEFAULT_DETECTOR) -> list[str]:
    """Every way the commands under ``root`` depart from ``vocabulary``, one line each."""
    commands = walk(root)
    problems: list[str] = []
    old_names = {r.old for r in renamed}
    for term in vocabulary:
        for where in term.commands:
            if where not in commands:
                problems.append(f"vocabulary: {term.name} lists {where!r}, which is no command")
    for where, command in commands.items():
        label = where or "emolens"
        for p in _options(command):
            opts = set(p.opts) | set(p.secondary_opts)
            if not p.hidden and opts & old_names:
                problems.append(f"{label}: visible option spells a deprecated name {sorted(opts & old_names)}")
            if "--model" in opts and "-m" not in opts:
                problems.append(f"{label}: --model without -m")
            for term in vocabulary:
                has_name = term.name in opts
                if term.short and term.short in opts and not has_name:
                    problems.append(f"{label}: {term.short} means {p.opts[0]}, not {term.name}")
                if not has_name:
                    continue
                if where not in term.commands:
                    problems.append(f"{label}: has {term.name}, which the vocabulary does not list for it")
                if term.short and term.short not in opts:
                    problems.append(f"{label}: {term.name} without {term.short}")
                if bool(term.value) == bool(p.is_flag):
                    kind = "takes a value" if term.value else "is an on/off flag"
                    problems.append(f"{label}: {term.name} should be an option that {kind}")
            if "--detector" in opts and p.default != detector:
                problems.append(f"{label}: --detector defaults to {p.default!r}, not the registry's {detector!r}")
            if "--format" in opts:
                choices = _choices(p)
                if "auto" not in choices or str(p.default) != "auto":
                    problems.append(f"{label}: --format default {p.default!r}, choices {choices} (want auto)")
        for term in vocabulary:
            if where in term.commands and not any(term.name in (*p.opts, *p.secondary_opts) for p in _options(command)):
                problems.append(f"{label}: lacks {term.name}" + (f"/{term.short}" if term.short else ""))
    return problems


def test_every_command_follows_the_vocabulary():
    problems = deviations(get_command(app))
    assert not problems, "\n".join(problems)


def test_the_checker_finds_each_kind_of_deviation():
    """The same check on a small app with one deviation of each kind: it must name every one."""
    bad = typer.Typer()

    @bad.command("analyze")
    def analyze(
        out: Annotated[str, typer.Option("--out", "-o")] = "x",  # deprecated name, -o on another name
        fmt: Annotated[str, typer.Option("--format", "-f")] = "jsonl",  # not auto
        model: Annotated[str, typer.Option("--model")] = "m",  # no -m
        detector: Annotated[str, typer.Option("--detector")] = "retinaface",  # not the registry's
        annotate: Annotated[bool, typer.Option("--annotate")] = False,  # a flag, not DIR
    ) -> None:
        pass

    @bad.command("identify")
    def identify(quiet: Annotated[bool, typer.Option("--quiet")] = False) -> None:  # no -q
        pass

    problems = "\n".join(deviations(get_command(bad)))
    for expected in (
        "analyze: visible option spells a deprecated name ['--out']",
        "analyze: -o means --out, not --output",
        "analyze: --format default 'jsonl'",
        "analyze: --model without -m",
        "analyze: --detector defaults to 'retinaface'",
        "analyze: --annotate should be an option that takes a value",
        "analyze: lacks --output/-o",
        "analyze: lacks --device",
        "identify: --quiet without -q",
        "vocabulary: --output lists 'video', which is no command",
    ):
        assert expected in problems, f"not found: {expected}\n{problems}"


def test_docs_show_the_vocabulary_and_the_renamed_options():
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "## Vocabulary" in text
    assert vocabulary_markdown() in text, "docs/cli.md's vocabulary table differs from emolens.cli.vocabulary"
    assert renamed_markdown() in text, "docs/cli.md's table of renamed options differs from emolens.cli.vocabulary"


def test_docs_and_readme_use_no_old_spelling():
    """Every `emolens ...` command line in README.md and docs/ uses the new names."""
    bad = []
    commands = walk(get_command(app))
    renamed_rows = set(renamed_markdown().splitlines())  # the table of old spellings names them on purpose
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line in renamed_rows:
                continue
            for cmd in line.split("emolens ")[1:]:
                words = cmd.split("`")[0].split()
                if not words or words[0] not in commands:
                    continue
                for r in RENAMED:
                    if words[0] in r.commands and r.old in words:
                        bad.append(f"{path.name}:{n}: {r.old} in `emolens {' '.join(words[:6])} ...`")
                if words[0] == "video" and "--annotate" in words:
                    i = words.index("--annotate")
                    if i + 1 == len(words) or words[i + 1].startswith(("-", "#")):
                        bad.append(f"{path.name}:{n}: video --annotate without a folder")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------------- behaviour


def test_version_long_and_short():
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        r = CliRunner().invoke(app, [flag])
        assert r.exit_code == 0, r.output
        assert r.stdout.strip() == f"emolens {version('emolens')}"


def test_format_auto_by_suffix_and_terminal(monkeypatch):
    allowed = ["table", "json", "jsonl", "csv"]
    assert choose_format("auto", "faces.csv", allowed) == "csv"
    assert choose_format("auto", "faces.JSON", allowed) == "json"
    assert choose_format("auto", "faces.out", allowed) == "jsonl"
    assert choose_format("csv", "faces.json", allowed) == "csv"  # an explicit format wins
    with pytest.raises(ConfigError, match="parquet"):
        choose_format("auto", "faces.parquet", allowed)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert choose_format("auto", None, allowed) == "table"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert choose_format("auto", "-", allowed) == "jsonl"
    # a report: its table on standard output, JSON to a file
    assert report_output("auto", None) == (True, None)
    assert report_output("auto", "r.json") == (True, "r.json")
    assert report_output("json", None) == (False, "-")
    with pytest.raises(ConfigError):
        report_output("table", "r.txt")


def _run_on_terminal(args: list[str], timeout: float = 240) -> str:
    """Run emolens with its standard output on a pseudo-terminal; what it printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([EMOLENS, *args], stdout=follower, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_text_output_follows_format_auto(tmp_path):
    """The same command gives a table on a terminal, JSON Lines through a pipe and CSV to a .csv file."""
    words = ["text", "what a wonderful surprise", "this is terrible"]
    piped = subprocess.run([EMOLENS, *words], capture_output=True, text=True, timeout=240)
    assert piped.returncode == 0, piped.stderr
    rows = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [r["text"] for r in rows] == words[1:]
    terminal = _run_on_terminal(words)
    assert "label" in terminal and "wonderful" in terminal and not terminal.lstrip().startswith("{")
    assert any(c in terminal for c in "┃│|"), terminal
    out = tmp_path / "texts.csv"
    r = subprocess.run([EMOLENS, *words, "-o", str(out)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("source,")


def test_rewrite_of_old_spellings():
    notes: list[str] = []
    assert rewrite_deprecated("video", ["clip.mp4", "--out", "o", "-q"], notes.append) == [
        "clip.mp4", "--output", "o", "-q",
    ]  # fmt: skip
    assert rewrite_deprecated("batch", ["--out=o"], notes.append) == ["--output", "o"]
    assert rewrite_deprecated("evaluate", ["--json", "r.json"], notes.append) == [
        "--format", "json", "--output", "r.json",
    ]  # fmt: skip
    assert rewrite_deprecated("gallery list", ["--json"], notes.append) == ["--format", "json"]
    assert rewrite_deprecated("analyze", ["--out", "x"], notes.append) == ["--out", "x"]  # never an option there
    assert rewrite_deprecated("batch", ["--", "--out"], notes.append) == ["--", "--out"]
    assert len(notes) == 4 and all("deprecated" in n for n in notes)
    with pytest.raises(ValueError, match="--annotate now takes a folder"):
        rewrite_deprecated("video", ["clip.mp4", "--annotate", "-o", "out"], notes.append)


def test_deprecated_alias_works_with_a_note(tmp_path):
    db = tmp_path / "g.db"
    r = CliRunner().invoke(app, ["gallery", "list", "--json", "-g", str(db)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == []
    assert r.stderr.count("\n") == 1 and "note:" in r.stderr and "--format json" in r.stderr
    new = CliRunner().invoke(app, ["gallery", "list", "--format", "json", "-g", str(db)])
    assert new.exit_code == 0 and json.loads(new.stdout) == [] and "note:" not in new.stderr
    # the bare video flag cannot be kept: a usage error that says what to write instead
    r = CliRunner().invoke(app, ["video", "clip.mp4", "--annotate", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--annotate OUTDIR" in r.output
    # and none of the old names shows in help
    help_text = CliRunner().invoke(app, ["batch", "--help"]).stdout
    assert "--output" in help_text and "--out " not in help_text
    assert TERMS["--output"].short == "-o"


def test_analyze_has_a_table_and_keeps_json_lines_through_a_pipe(tmp_path):
    photo = REPO / "src" / "emolens" / "examples" / "astronaut.jpg"
    r = CliRunner().invoke(app, ["analyze", str(photo), "-q"])  # CliRunner's output is not a terminal
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["label"]
    r = CliRunner().invoke(app, ["analyze", str(photo), "-f", "table", "-o", str(tmp_path / "t.txt"), "-q"])
    assert r.exit_code == 0, r.output
    header = (tmp_path / "t.txt").read_text(encoding="utf-8").splitlines()[1]
    assert all(c in header for c in ("file", "face", "box", "label", "confidence")) and "identity" not in header
