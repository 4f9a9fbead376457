"""The one-line error printer keeps square brackets (extras, file names) instead of reading them as markup."""

from __future__ import annotations

from rich.console import Console

from emolens.cli import console as cli_console
from emolens.errors import ImageError, MissingExtraError


def test_fail_prints_brackets_verbatim(monkeypatch):
    console = Console(record=True, width=200)
    monkeypatch.setattr(cli_console, "err", console)
    cli_console.fail(MissingExtraError("uvicorn", "serve"))
    cli_console.fail(ImageError("not an image", "photos/[draft] me.jpg"))
    text = console.export_text()
    assert "pip install 'emolens[serve]'" in text
    assert "photos/[draft] me.jpg: not an image" in text
