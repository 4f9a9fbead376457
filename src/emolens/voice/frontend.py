"""The voice front end: log-mel features and their normalisation (NumPy); resampling (libsoxr) lives with the
audio loader in :mod:`emolens.io.audio` and is re-exported here.

Training (``emolens.train.voice``) and inference (``emolens.voice.analyzer``) both call these functions, so the
features a model was trained on are the features it sees at run time; ``tests/voice`` checks that parity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from emolens.io.audio import SAMPLE_RATE, resample

__all__ = ["SAMPLE_RATE", "FrontEnd", "frame_signal", "log_mel", "mel_filterbank", "mel_power", "normalize", "resample"]


@dataclass(frozen=True)
class FrontEnd:
    """Log-mel parameters: 25 ms Hann windows every 10 ms, 64 HTK-mel bands over 50-8000 Hz."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    floor: float = 1e-10

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrontEnd:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def frames(self, n_samples: int) -> int:
        """Number of feature frames for a signal of ``n_samples`` samples (0 if shorter than a window)."""
        return 0 if n_samples < self.win_length else 1 + (n_samples - self.win_length) // self.hop_length


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@cache
def mel_filterbank(fe: FrontEnd) -> np.ndarray:
    """Triangular HTK-mel filters, shape ``(n_mels, n_fft // 2 + 1)``, float32."""
    freqs = np.linspace(0, fe.sample_rate / 2, fe.n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fe.fmin), _hz_to_mel(fe.fmax), fe.n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


@cache
def _window(fe: FrontEnd) -> np.ndarray:
    n = np.arange(fe.win_length)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / fe.win_length)  # periodic Hann
    return np.pad(w, (0, fe.n_fft - fe.win_length)).astype(np.float32)


def frame_signal(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Frames of ``length`` samples every ``hop`` samples (a strided view; no copy)."""
    n = 0 if len(x) < length else 1 + (len(x) - length) // hop
    if n == 0:
        return np.zeros((0, length), dtype=x.dtype)
    return np.lib.stride_tricks.as_strided(x, shape=(n, length), strides=(x.strides[0] * hop, x.strides[0]))


def mel_power(x: np.ndarray, fe: FrontEnd = FrontEnd()) -> np.ndarray:
    """Mel-band power, shape ``(n_mels, frames)``, float32, of a mono float signal at ``fe.sample_rate``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    frames = frame_signal(x, fe.win_length, fe.hop_length)
    if len(frames) == 0:
        return np.zeros((fe.n_mels, 0), dtype=np.float32)
    out = np.empty((fe.n_mels, len(frames)), dtype=np.float32)
    fb, win = mel_filterbank(fe), _window(fe)
    for i in range(0, len(frames), 2048):  # bounded memory for long audio
        f = np.zeros((min(2048, len(frames) - i), fe.n_fft), dtype=np.float32)
        f[:, : fe.win_length] = frames[i : i + 2048]
        spec = np.fft.rfft(f * win, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[:, i : i + len(f)] = fb @ power.T
    return out


def log_mel(x: np.ndarray, fe: FrontEnd = FrontEnd()) -> np.ndarray:
    """Natural-log mel power, shape ``(n_mels, frames)``, float32."""
    return np.log(np.maximum(mel_power(x, fe), fe.floor)).astype(np.float32)


def normalize(logmel: np.ndarray) -> np.ndarray:
    """Per-segment standardisation (one mean and one std over the whole segment): removes the input gain."""
    m = logmel.mean(dtype=np.float64)
    s = logmel.std(dtype=np.float64)
    return ((logmel - m) / (s + 1e-5)).astype(np.float32)
