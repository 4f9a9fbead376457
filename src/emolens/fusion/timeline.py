"""One timeline for face, voice and text: per-modality segments, binned to a common step, then fused.

A segment is a span of time with probabilities on the face labels (FER2013 order): a video frame (from its
timestamp to the next frame), a voice window (e.g. 2 s, hop 0.5 s), a transcript cue (its start and end).
:func:`align` cuts the timeline into bins of ``step`` seconds; in each bin a modality's probabilities are the
overlap-weighted mean of its segments there, and the modality is absent if none overlaps it. :func:`fuse_timeline`
then fuses each bin with a rule from :mod:`emolens.fusion.rules`.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError, DataError
from emolens.fusion.rules import LearnedFusion, fuse
from emolens.labels import FER2013
from emolens.types import FrameResult


@dataclass(frozen=True)
class Segment:
    """A span of time (seconds) and the probabilities a modality gives it, in ``FER2013`` order."""

    start: float
    end: float
    probs: tuple[float, ...]


@dataclass(frozen=True)
class Cue:
    """One timed line of a transcript or subtitle file."""

    start: float
    end: float
    text: str


def align(
    streams: Mapping[str, Sequence[Segment]], step: float = 1.0, end: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin every stream: returns bin start times ``[B]``, probabilities ``[B, M, K]`` and presence ``[B, M]``."""
    if step <= 0:
        raise ConfigError(f"step must be positive, got {step}")
    names = list(streams)
    k = len(FER2013)
    last = max((s.end for segs in streams.values() for s in segs), default=0.0)
    end = last if end is None else end
    n = max(1, int(np.ceil(end / step - 1e-9)))
    acc = np.zeros((n, len(names), k))
    cover = np.zeros((n, len(names)))
    for j, name in enumerate(names):
        for s in streams[name]:
            if s.end <= s.start:
                continue
            p = np.asarray(s.probs, np.float64)
            first, stop = int(s.start // step), min(n - 1, int(np.ceil(s.end / step)) - 1)
            for b in range(max(first, 0), stop + 1):
                overlap = min(s.end, (b + 1) * step) - max(s.start, b * step)
                if overlap > 0:
                    acc[b, j] += overlap * p
                    cover[b, j] += overlap
    present = cover > 0
    probs = np.where(present[..., None], acc / np.where(cover > 0, cover, 1.0)[..., None], 1.0 / k)
    return np.arange(n) * step, probs, present


def fuse_timeline(
    streams: Mapping[str, Sequence[Segment]],
    *,
    step: float = 1.0,
    rule: str = "entropy",
    weights: Mapping[str, float] | None = None,
    gate: float = 0.5,
    model: LearnedFusion | None = None,
    end: float | None = None,
) -> list[dict[str, Any]]:
    """Per-bin rows: ``start``, ``end``, each modality's probabilities (or ``None``), the fused ones, the label."""
    names = list(streams)
    times, probs, present = align(streams, step, end)
    w = [float((weights or {}).get(n, 1.0)) for n in names]
    if model is not None:
        order = [names.index(m) if m in names else -1 for m in model.modalities]
        probs = np.stack([probs[:, i] if i >= 0 else np.full_like(probs[:, 0], 1 / probs.shape[-1]) for i in order], 1)
        present = np.stack([present[:, i] if i >= 0 else np.zeros(len(times), bool) for i in order], 1)
        names = list(model.modalities)
        w = [1.0] * len(names)
    fused = fuse(probs, present, rule=rule, weights=w, gate=gate, model=model)
    rows = []
    for b, t in enumerate(times):
        row: dict[str, Any] = {"start": round(float(t), 3), "end": round(float(t + step), 3)}
        for j, name in enumerate(names):
            row[name] = dict(zip(FER2013, np.round(probs[b, j], 4).tolist(), strict=True)) if present[b, j] else None
        row["modalities"] = [n for j, n in enumerate(names) if present[b, j]]
        row["fused"] = dict(zip(FER2013, np.round(fused[b], 4).tolist(), strict=True)) if present[b].any() else None
        row["label"] = FER2013[int(np.argmax(fused[b]))] if present[b].any() else None
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------- readers


def _subtitle_cues(raw: str, path: Path) -> list[Cue]:
    """SRT or WebVTT cues through pysubs2: markup removed, entities decoded, lines joined, empty cues left out."""
    import pysubs2

    fmt = "vtt" if path.suffix.lower() == ".vtt" or raw.lstrip().startswith("WEBVTT") else "srt"
    try:
        subs = pysubs2.SSAFile.from_string(raw, format_=fmt)
    except pysubs2.exceptions.Pysubs2Error as e:
        raise ValueError(str(e)) from None
    cues = []
    for event in subs:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", event.plaintext)).split())
        if text and not event.is_comment:
            cues.append(Cue(event.start / 1000.0, event.end / 1000.0, text))
    return cues


def read_transcript(path: str | Path) -> list[Cue]:
    """Timed text from SRT or WebVTT subtitles, CSV/TSV with ``start,end,text`` columns, or JSON Lines.

    Times in CSV/JSONL are seconds; in SRT/VTT ``HH:MM:SS,mmm``. Raises ``DataError`` for an unreadable file.
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the transcript ({e})", str(p)) from None
    cues: list[Cue] = []
    try:
        if p.suffix.lower() in (".srt", ".vtt") or "-->" in raw[:2000]:
            cues = _subtitle_cues(raw, p)
        elif p.suffix.lower() in (".jsonl", ".ndjson"):
            for line in raw.splitlines():
                if line.strip():
                    d = json.loads(line)
                    cues.append(Cue(float(d["start"]), float(d["end"]), str(d["text"])))
        else:
            dialect = "excel-tab" if p.suffix.lower() == ".tsv" or "\t" in raw.split("\n", 1)[0] else "excel"
            for d in csv.DictReader(raw.splitlines(), dialect=dialect):
                cues.append(Cue(float(d["start"]), float(d["end"]), str(d["text"])))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise DataError(
            f"not a transcript this reader knows (SRT, VTT, CSV/TSV start,end,text, JSONL): {e}", str(p)
        ) from None
    if not cues:
        raise DataError("the transcript has no timed text", str(p))
    return cues


def face_segments(frames: Iterable[Mapping[str, Any]], fps: float | None = None) -> list[Segment]:
    """Face segments from ``frames.csv`` rows of ``emolens video`` (or dicts like them).

    A frame's probabilities are the smoothed ones (``s_<label>``, else raw ``p_<label>``) of its largest face;
    the frame covers the time up to the next analysed frame (or ``1/fps`` for the last one).
    """
    faces = FaceTimeline()
    for r in frames:
        try:
            t = float(r["timestamp"])
            area = (float(r["x2"]) - float(r["x1"])) * (float(r["y2"]) - float(r["y1"]))
            key = "s_" if r.get(f"s_{FER2013[0]}") not in (None, "") else "p_"
            probs = tuple(float(r[f"{key}{lab}"]) for lab in FER2013)
        except (KeyError, ValueError, TypeError):
            continue
        faces.add_face(t, area, probs)
    return faces.segments(fps)


def frame_segments(frames: Iterable[FrameResult], fps: float | None = None) -> list[Segment]:
    """Face segments straight from video results (e.g. a :class:`~emolens.video.pipeline.VideoRun`), in memory.

    The same segments as :func:`face_segments` gives for the ``frames.csv`` of those results.
    """
    faces = FaceTimeline()
    for result in frames:
        faces.add(result)
    return faces.segments(fps)


class FaceTimeline:
    """Collects, frame by frame, the face stream of a video for fusion: one small entry per analysed frame.

    :meth:`add` takes a :class:`~emolens.types.FrameResult`; its largest face's smoothed probabilities (else raw)
    on the ``FER2013`` labels, rounded as ``frames.csv`` holds them, so that fusing in memory and fusing the
    written table agree. Faces of models without those labels are left out, as in :func:`face_segments`.
    """

    def __init__(self) -> None:
        self._best: dict[float, tuple[float, tuple[float, ...]]] = {}

    def add(self, result: FrameResult) -> None:
        """Add one analysed frame."""
        t = round(float(result.timestamp), 4)
        for face in result.faces:
            x1, y1, x2, y2 = face.box.to_list()
            scores = (face.smoothed or face.emotions).to_dict()
            try:
                probs = tuple(float(scores[lab]) for lab in FER2013)
            except KeyError:
                continue
            self.add_face(t, (x2 - x1) * (y2 - y1), probs)

    def add_face(self, t: float, area: float, probs: tuple[float, ...]) -> None:
        """Add one face at time ``t``; the largest face of a time stands for it."""
        if t not in self._best or area > self._best[t][0]:
            self._best[t] = (area, probs)

    def __len__(self) -> int:
        return len(self._best)

    def segments(self, fps: float | None = None) -> list[Segment]:
        """Each frame's span runs to the next frame (at most 1 s; the last one ``1/fps`` or the frame step)."""
        times = sorted(self._best)
        segs = []
        for i, t in enumerate(times):
            nxt = times[i + 1] if i + 1 < len(times) else t + (1.0 / fps if fps else (t - times[i - 1] if i else 0.04))
            segs.append(Segment(t, min(nxt, t + 1.0), self._best[t][1]))
        return segs


def voice_segments(result: Any) -> list[Segment]:
    """Voice segments from a :class:`~emolens.voice.VoiceResult`: its windows with speech (else utterances)."""
    spans = [w for w in result.windows if w.scores is not None] or [u for u in result.utterances if u.scores]
    return [Segment(float(w.start), float(w.end), tuple(float(v) for v in w.scores.labels)) for w in spans]


def text_segments(cues: Sequence[Cue], analyzer: Any = None) -> list[Segment]:
    """Text segments: each cue's emotion from a :class:`~emolens.text.TextAnalyzer` (a default one if ``None``)."""
    if analyzer is None:
        from emolens.text import TextAnalyzer

        analyzer = TextAnalyzer()
    results = analyzer.analyze_batch([c.text for c in cues])
    return [
        Segment(c.start, c.end, tuple(float(v) for v in r.scores.probs)) for c, r in zip(cues, results, strict=True)
    ]
