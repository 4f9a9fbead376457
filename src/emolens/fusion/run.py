"""Run the modalities a user has for one recording and write per-modality and fused per-step tables.

Used by ``emolens fuse`` and ``emolens video --audio --transcript``: face segments come from the video results in
memory (:class:`~emolens.fusion.timeline.FaceTimeline`, fed by the session's fusion sink) or from a
``frames.csv``, voice from an audio or video file, text from a transcript; each modality is optional.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.errors import ConfigError, DataError
from emolens.fusion.rules import LearnedFusion
from emolens.fusion.timeline import (
    Segment,
    face_segments,
    fuse_timeline,
    read_transcript,
    text_segments,
    voice_segments,
)
from emolens.io.sinks import CsvSink
from emolens.labels import FER2013


@dataclass
class MultimodalRun:
    """The segments of each modality found, the fused rows, and notes (e.g. "no speech in the audio")."""

    streams: dict[str, list[Segment]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_multimodal(
    *,
    face: Sequence[Segment] | None = None,
    frames_csv: str | Path | None = None,
    audio: str | Path | None = None,
    transcript: str | Path | None = None,
    step: float = 1.0,
    rule: str = "entropy",
    weights: Mapping[str, float] | None = None,
    gate: float = 0.5,
    model: str | Path | None = None,
    end: float | None = None,
) -> MultimodalRun:
    """Segments per modality and fused rows every ``step`` seconds; see the module docstring.

    ``face`` holds face segments already made (:meth:`FaceTimeline.segments` or :func:`frame_segments`);
    ``frames_csv`` reads them from a table instead (``face`` wins when both are given).
    """
    run = MultimodalRun()
    if face is not None:
        run.streams["face"] = list(face)
        if not run.streams["face"]:
            run.notes.append("no face in the video")
    elif frames_csv is not None:
        try:
            with open(frames_csv, newline="") as f:
                run.streams["face"] = face_segments(csv.DictReader(f))
        except OSError as e:
            raise DataError(f"cannot read the frame table ({e.strerror})", str(frames_csv)) from None
        if not run.streams["face"]:
            run.notes.append("no face in the frame table")
    if audio is not None:
        from emolens.voice import VoiceAnalyzer

        result = VoiceAnalyzer(windows=True).analyze(audio)
        run.streams["voice"] = voice_segments(result)
        if not run.streams["voice"]:
            run.notes.append(f"no speech found in {audio}")
    if transcript is not None:
        run.streams["text"] = text_segments(read_transcript(transcript))
    if not run.streams:
        raise ConfigError("nothing to fuse: give at least one of face frames, audio or a transcript")
    learned = LearnedFusion.load(model) if model is not None else None
    if rule == "learned" and learned is None:
        raise ConfigError("--rule learned needs --model FILE (a LearnedFusion saved by `emolens train fusion`)")
    run.rows = fuse_timeline(run.streams, step=step, rule=rule, weights=weights, gate=gate, model=learned, end=end)
    return run


def write_rows(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Fused rows as CSV (``start, end, modalities, label, fused_<label>, <modality>_<label>``) or JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(rows, indent=1))
        return
    mods = [k for k in (rows[0] if rows else {}) if k not in ("start", "end", "modalities", "fused", "label")]
    cols = ["start", "end", "modalities", "label", *(f"fused_{lab}" for lab in FER2013)]
    cols += [f"{m}_{lab}" for m in mods for lab in FER2013]
    with CsvSink(p, cols) as sink:
        for r in rows:
            out: dict[str, Any] = {"start": r["start"], "end": r["end"], "modalities": "+".join(r["modalities"])}
            out["label"] = r["label"] or ""
            for key, prefix in (("fused", "fused_"), *((m, f"{m}_") for m in mods)):
                if r.get(key):
                    out.update({f"{prefix}{lab}": v for lab, v in r[key].items()})
            sink.write([out])


def write_segments(segments: Sequence[Segment], path: str | Path) -> Path:
    """One modality's segments as CSV: ``start, end, p_<label>`` (FER2013 labels), times to 1 ms."""
    p = Path(path)
    cols = ["start", "end", *(f"p_{lab}" for lab in FER2013)]
    with CsvSink(p, cols) as sink:
        for seg in segments:
            values = [round(seg.start, 3), round(seg.end, 3), *(round(v, 4) for v in seg.probs)]
            sink.write([dict(zip(cols, values, strict=True))])
    return p


def write_run(run: MultimodalRun, out_dir: str | Path) -> list[Path]:
    """``voice.csv`` and ``text.csv`` (the modalities there are) and ``fused.csv`` in ``out_dir``."""
    out = Path(out_dir)
    names = [name for name in ("voice", "text") if name in run.streams]
    files = [write_segments(run.streams[name], out / f"{name}.csv") for name in names]
    write_rows(run.rows, out / "fused.csv")
    return [*files, out / "fused.csv"]


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``face=1,voice=0.5,text=1`` → a dict."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"weights look like face=1,voice=0.5,text=1; got {text!r}") from None
        if name.strip() not in ("face", "voice", "text") or out[name.strip()] < 0:
            raise ConfigError(f"weights look like face=1,voice=0.5,text=1 (non-negative); got {text!r}")
    return out
