"""The fusion sink: the session's face stream, in memory, fused with the voice and/or transcript of the recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emolens.errors import AudioError, EmolensError
from emolens.fusion.timeline import FaceTimeline
from emolens.session.runner import SessionInfo, SessionStep, SessionSummary

__all__ = ["FusionSink"]


class FusionSink:
    """Fuses the faces of a session with voice and/or text once the video is read (``emolens video --audio``).

    Each step's largest face goes into a :class:`~emolens.fusion.timeline.FaceTimeline` (one small entry per
    frame; nothing is read back from disk). On close, after a complete session, the audio (a file, or the video
    itself) and the transcript are analysed and ``voice.csv``, ``text.csv`` and ``fused.csv`` are written to
    ``out_dir`` (:func:`emolens.fusion.run.write_run`). Problems never fail the session: an unreadable or missing
    audio track drops the voice and fuses the rest; any other problem skips fusion. What happened is in
    :attr:`notes` (one line each) and :attr:`skipped` (why fusion was skipped); a session that did not
    complete is not fused (:attr:`skipped_incomplete`).

    Parameters
    ----------
    out_dir:
        Where the tables go.
    audio:
        The audio or video file whose sound to analyse, or ``None``.
    transcript:
        A timed transcript (SRT, VTT, CSV, JSONL), or ``None``.
    **options:
        ``step`` (default 1 s), ``rule``, ``weights``, ``gate``, ``model``: as in
        :func:`emolens.fusion.run.run_multimodal`.
    """

    needs_frames = False

    def __init__(
        self,
        out_dir: str | Path,
        *,
        audio: str | Path | None = None,
        transcript: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.audio = audio
        self.transcript = transcript
        self.options = options
        self.faces = FaceTimeline()
        self.notes: list[str] = []
        self.skipped: str | None = None
        self.skipped_incomplete = False
        self.run: Any = None  # the MultimodalRun once fused

    def open(self, info: SessionInfo) -> None:
        pass

    def write(self, step: SessionStep) -> None:
        self.faces.add(step.result)

    def close(self, summary: SessionSummary) -> list[Path]:
        if not summary.complete:  # a partial video is not fused
            self.skipped_incomplete = True
            return []
        from emolens.fusion.run import run_multimodal, write_run

        segments = self.faces.segments()
        for audio in (self.audio, None) if self.audio is not None else (None,):
            try:
                self.run = run_multimodal(face=segments, audio=audio, transcript=self.transcript, **self.options)
                break
            except AudioError as e:  # no or unreadable audio track: fuse what there is
                self.notes.append(f"no voice: {e}")
            except EmolensError as e:
                self.skipped = str(e)
                return []
        if self.run is None:
            return []
        self.notes += self.run.notes
        return write_run(self.run, self.out_dir)
