"""Option groups: a command declares one typed parameter for options that go together, and Typer lists the group's
options in that parameter's place."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from emolens.cli.options import Drawing, OutputOpt, ReportOutput, option_groups


def _app(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: Typer keeps the command's name on the command line
    return app


def test_a_group_becomes_its_options_in_place_and_comes_back_as_one_value():
    seen = {}

    @option_groups
    def cmd(
        name: Annotated[str, typer.Argument()],
        report: ReportOutput = ReportOutput(),
        drawing: Drawing = Drawing(),
        last: Annotated[int, typer.Option()] = 0,
    ) -> None:
        seen.update(name=name, report=report, drawing=drawing, last=last)

    runner = CliRunner()
    r = runner.invoke(_app(cmd), ["cmd", "x", "-f", "json", "-o", "r.json", "--no-landmarks", "--last", "3"])
    assert r.exit_code == 0, r.output
    assert seen == {
        "name": "x",
        "report": ReportOutput(fmt="json", output="r.json"),
        "drawing": Drawing(blur_unknown=False, landmarks=False, label_size=None),
        "last": 3,
    }
    assert seen["report"].destinations() == (True, "r.json")  # the table on the terminal, JSON to the file
    assert runner.invoke(_app(cmd), ["cmd", "x"]).exit_code == 0
    assert seen["report"] == ReportOutput() and seen["drawing"] == Drawing()
    helptext = runner.invoke(_app(cmd), ["cmd", "--help"], terminal_width=200).output
    order = [
        helptext.index(o) for o in ("--format", "--output", "--blur-unknown", "--landmarks", "--label-size", "--last")
    ]
    assert order == sorted(order)


def test_a_group_may_not_repeat_a_parameters_name():
    def cmd(output: OutputOpt = None, report: ReportOutput = ReportOutput()) -> None: ...

    with pytest.raises(TypeError, match="repeats a parameter's name"):
        option_groups(cmd)
