"""The CLI's progress bars: one over a known count of items, one that restarts with each stage (an epoch)."""

import io

from rich.console import Console

from emolens.cli import progress


def _terminal(monkeypatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(progress, "err", Console(file=out, force_terminal=True, width=100))
    return out


def test_stage_bar_shows_each_stage_on_a_terminal(monkeypatch):
    out = _terminal(monkeypatch)
    with progress.stage_bar() as update:
        assert update is not None
        update("epoch 1", 3, 10)
        update("epoch 2", 10, 10)
    assert "epoch 2" in out.getvalue()


def test_stage_bar_is_off_when_quiet_or_not_a_terminal(monkeypatch):
    with progress.stage_bar(quiet=True) as update:
        assert update is None
    monkeypatch.setattr(progress, "err", Console(file=io.StringIO(), force_terminal=False))
    with progress.stage_bar() as update:
        assert update is None


def test_progress_bar_counts_items(monkeypatch):
    out = _terminal(monkeypatch)
    with progress.progress_bar(4, description="analysing") as advance:
        for _ in range(4):
            advance()
    assert "4/4" in out.getvalue()
