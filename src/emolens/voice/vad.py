"""Energy-based voice activity detection with hysteresis, in NumPy.

Frame energy (25 ms frames every 10 ms, after a 0.97 pre-emphasis that removes DC and hum) is compared with two
thresholds set from the recording itself: a frame starts speech when it is ``enter_db`` above the noise floor (the
10th percentile of frame energies) and speech continues until energy falls below ``enter_db - hysteresis_db`` above
it, and never more than ``peak_range_db`` below the loudest frames (the 99th percentile). Nothing quieter than
``min_level_db`` dBFS starts speech, so digital silence and near-silent files yield no segments.
Short blips are dropped, near segments merged and each segment padded a little. Measured figures: docs/voice.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emolens.types.spans import Span
from emolens.voice.frontend import SAMPLE_RATE, frame_signal


@dataclass(frozen=True)
class VadConfig:
    frame_s: float = 0.025
    hop_s: float = 0.010
    floor_percentile: float = 10.0
    enter_db: float = 12.0
    hysteresis_db: float = 6.0
    peak_range_db: float = 45.0
    min_level_db: float = -70.0
    min_speech_s: float = 0.15
    merge_gap_s: float = 0.30
    pad_s: float = 0.10


@dataclass(frozen=True)
class Segment(Span):
    """A stretch of speech, in seconds from the start of the audio."""


def frame_energy_db(x: np.ndarray, sample_rate: int = SAMPLE_RATE, cfg: VadConfig = VadConfig()) -> np.ndarray:
    """Energy of each frame in dBFS (a full-scale sine is -3 dB)."""
    x = np.asarray(x, dtype=np.float32)
    y = np.empty_like(x)
    if len(x):
        y[0] = x[0]
        y[1:] = x[1:] - 0.97 * x[:-1]
    frames = frame_signal(y, round(cfg.frame_s * sample_rate), round(cfg.hop_s * sample_rate))
    if len(frames) == 0:
        return np.zeros(0, np.float32)
    return (10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)).astype(np.float32)


def speech_mask(energy_db: np.ndarray, cfg: VadConfig = VadConfig()) -> np.ndarray:
    """Per-frame speech decision (bool) with hysteresis, before the segment clean-up."""
    if len(energy_db) == 0:
        return np.zeros(0, bool)
    floor = float(np.percentile(energy_db, cfg.floor_percentile))
    peak = float(np.percentile(energy_db, 99.0))
    high = max(floor + cfg.enter_db, peak - cfg.peak_range_db, cfg.min_level_db)
    low = high - cfg.hysteresis_db
    mask = np.zeros(len(energy_db), bool)
    on = False
    for i, e in enumerate(energy_db):
        on = e >= low if on else e >= high
        mask[i] = on
    return mask


def detect_speech(x: np.ndarray, sample_rate: int = SAMPLE_RATE, cfg: VadConfig = VadConfig()) -> list[Segment]:
    """Speech segments of a mono signal (an empty list when it holds no speech)."""
    e = frame_energy_db(x, sample_rate, cfg)
    mask = speech_mask(e, cfg)
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    frame_off = cfg.frame_s / 2  # frame i covers [i*hop, i*hop+frame]; use its centre
    segs = [
        (s * cfg.hop_s + frame_off - cfg.hop_s / 2, e_ * cfg.hop_s + frame_off - cfg.hop_s / 2)
        for s, e_ in zip(starts, ends, strict=True)
    ]
    merged: list[list[float]] = []
    for s, e_ in segs:
        if merged and s - merged[-1][1] < cfg.merge_gap_s:
            merged[-1][1] = e_
        else:
            merged.append([s, e_])
    total = len(x) / sample_rate
    out = []
    for s, e_ in merged:
        if e_ - s < cfg.min_speech_s:
            continue
        out.append(Segment(float(max(0.0, s - cfg.pad_s)), float(min(total, e_ + cfg.pad_s))))
    return out


def speech_span(x: np.ndarray, sample_rate: int = SAMPLE_RATE, cfg: VadConfig = VadConfig()) -> Segment | None:
    """From the start of the first speech segment to the end of the last (``None`` when there is no speech)."""
    segs = detect_speech(x, sample_rate, cfg)
    return Segment(segs[0].start, segs[-1].end) if segs else None


class SileroVad:
    """Silero VAD v6 (MIT; shipped as ``models/silero-vad.onnx``, copied from the ``silero-vad`` wheel), run with
    ONNX Runtime: much better than the energy VAD in noise (docs/voice.md), about 0.1 ms a 32 ms chunk.

    Decoding follows Silero's own: speech starts at p >= 0.5 and ends below 0.35; pauses under ``merge_gap_s`` are
    bridged, segments under ``min_speech_s`` dropped, and each padded by ``pad_s``.
    """

    def __init__(self, model: str = "silero-vad") -> None:
        from emolens.models import VadManifest, find_model, onnx_session

        info = find_model(model, VadManifest)
        self.decoding = dict(info.manifest.decoding)
        self.session = onnx_session(info, threads=1)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample (32 ms) chunk of a 16 kHz signal."""
        state = np.zeros((2, 1, 128), np.float32)
        ctx = np.zeros((1, 64), np.float32)
        sr = np.array(SAMPLE_RATE, np.int64)
        x = np.asarray(x, np.float32)
        out = np.zeros(len(x) // 512, np.float32)
        for k in range(len(out)):
            chunk = np.concatenate([ctx, x[None, k * 512 : (k + 1) * 512]], axis=1)
            p, state = self.session.run(None, {"input": chunk, "state": state, "sr": sr})
            out[k] = p[0, 0]
            ctx = chunk[:, -64:]
        return out

    def __call__(self, x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[Segment]:
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"SileroVad needs {SAMPLE_RATE} Hz audio, got {sample_rate}")
        d = self.decoding
        hi, lo = d.get("threshold", 0.5), d.get("neg_threshold", 0.35)
        chunk_s = 512 / SAMPLE_RATE
        segs: list[list[float]] = []
        on, start = False, 0.0
        probs = self.probabilities(x)
        for k, p in enumerate(probs):
            if not on and p >= hi:
                on, start = True, k * chunk_s
            elif on and p < lo:
                on = False
                segs.append([start, k * chunk_s])
        if on:
            segs.append([start, len(probs) * chunk_s])
        merged: list[list[float]] = []
        for s, e in segs:
            if merged and s - merged[-1][1] < d.get("merge_gap_s", 0.3):
                merged[-1][1] = e
            else:
                merged.append([s, e])
        total, pad = len(x) / SAMPLE_RATE, d.get("pad_s", 0.1)
        return [
            Segment(max(0.0, s - pad), min(total, e + pad)) for s, e in merged if e - s >= d.get("min_speech_s", 0.25)
        ]
