"""The per-video summary sheet (``summary.html``, ``summary.png``): kept importable here; the code is
:mod:`emolens.video.outputs.report`."""

from emolens.video.outputs.report import MAX_ROWS, summary_rows, write_summary_html, write_summary_png

__all__ = ["MAX_ROWS", "summary_rows", "write_summary_html", "write_summary_png"]
