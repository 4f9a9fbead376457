"""RAVDESS clips for the voice model: log-mel features at five speeds (cached), and the training augmentation.

Features of every clip are computed once at five speeds (0.9-1.1: speed perturbation, which shifts pitch and tempo
together) with the inference front end (:mod:`emolens.voice.frontend`) on the speech span that
:mod:`emolens.voice.vad` finds; augmentation then works on log-mel crops: random 1-2 s crops (time shift), additive
coloured noise (mixed in the mel power domain), frequency warping, SpecAugment masks and mixup.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emolens.datasets import data_root
from emolens.labels import RAVDESS
from emolens.voice.frontend import FrontEnd, log_mel, mel_power, normalize, resample
from emolens.voice.vad import speech_span

SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)
FOLDS = {k: tuple(range(6 * (k - 1) + 1, 6 * k + 1)) for k in range(1, 5)}


def _quiet(_message: str) -> None:
    """The default progress log: none (the CLI passes one that prints)."""


@dataclass
class VoiceAugment:
    """What a training batch is made of: a crop length, and the chance and strength of each augmentation."""

    crop_min: int = 100  # frames (10 ms)
    crop_max: int = 200
    noise_p: float = 0.5  # additive coloured noise at a random SNR (dB) in snr_db
    snr_db: tuple[float, float] = (5.0, 30.0)
    warp_p: float = 0.5  # frequency warp by a random factor in warp
    warp: tuple[float, float] = (0.9, 1.1)
    # SpecAugment: this many frequency masks of up to freq_mask_max mel bands, and time masks of up to
    # time_mask_frac of the crop
    freq_masks: int = 2
    freq_mask_max: int = 8
    time_masks: int = 2
    time_mask_frac: float = 0.1
    mixup_alpha: float = 0.0  # 0.4 scored 1.6 points lower in the 4-fold comparison (docs/voice.md)


@dataclass
class Clip:
    file: str
    actor: int
    label: int
    feats: dict[float, np.ndarray]  # speed -> log-mel (n_mels, frames), float16


def ravdess_dir() -> Path:
    return data_root() / "audio" / "ravdess"


def clip_features(x: np.ndarray, fe: FrontEnd, speed: float = 1.0) -> np.ndarray:
    """The un-normalised log-mel of the speech span of ``x`` (16 kHz mono), optionally speed-perturbed.

    Inference computes the same thing with ``speed=1`` (``emolens.voice.analyzer``)."""
    span = speech_span(x, fe.sample_rate)
    if span is not None:
        x = x[int(span.start * fe.sample_rate) : math.ceil(span.end * fe.sample_rate)]
    if speed != 1.0:
        x = resample(x, fe.sample_rate, fe.sample_rate / speed)
    return log_mel(x, fe)


def load_clips(cache: Path, fe: FrontEnd, log=_quiet) -> list[Clip]:
    """All 1,440 clips with features at every speed; computed once and cached in ``cache`` (an .npz)."""
    from emolens.io.audio import load_audio

    root = ravdess_dir()
    rows = list(csv.DictReader(open(root / "metadata.csv", newline="")))
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        clips = []
        for i, r in enumerate(rows):
            feats = {s: z[f"{i}_{s}"] for s in SPEEDS}
            clips.append(Clip(r["file"], int(r["actor"]), int(r["emotion_code"]) - 1, feats))
        return clips
    t0 = time.time()
    arrays, clips = {}, []
    for i, r in enumerate(rows):
        x = load_audio(root / r["file"]).samples
        feats = {s: clip_features(x, fe, s).astype(np.float16) for s in SPEEDS}
        arrays.update({f"{i}_{s}": v for s, v in feats.items()})
        clips.append(Clip(r["file"], int(r["actor"]), int(r["emotion_code"]) - 1, feats))
        if i % 200 == 0:
            log(f"features {i}/{len(rows)} {time.time() - t0:.0f}s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return clips


def noise_bank(fe: FrontEnd, seed: int = 1234, seconds: float = 6.0) -> list[np.ndarray]:
    """Mel power of coloured noises (white, pink, brown, and band-limited hums/hiss), for additive-noise mixing."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fe.sample_rate)
    out = []
    freqs = np.fft.rfftfreq(n, 1 / fe.sample_rate)
    for _ in range(6):
        for exponent in (0.0, 0.5, 1.0, 1.5, 2.0):  # 1/f^exponent power
            spec = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
            spec /= np.maximum(freqs, 20.0) ** (exponent / 2)
            if rng.random() < 0.3:  # a band-limited colouring
                lo, hi = sorted(rng.uniform(50, 8000, 2))
                spec *= ((freqs >= lo) & (freqs <= hi)) + 0.05
            x = np.fft.irfft(spec, n).astype(np.float32)
            out.append(mel_power(x / (np.abs(x).max() + 1e-9), fe))
    return out


class Augmenter:
    """Training batches of random crops of the cached log-mels, augmented as :class:`VoiceAugment` says."""

    def __init__(self, cfg: VoiceAugment, fe: FrontEnd, rng: np.random.Generator) -> None:
        self.cfg, self.fe, self.rng = cfg, fe, rng
        self.noises = noise_bank(fe)

    def crop(self, f: np.ndarray, t: int) -> np.ndarray:
        if f.shape[1] < t:  # short utterance: repeat it (no artificial silence)
            f = np.tile(f, (1, -(-t // max(1, f.shape[1]))))
        o = self.rng.integers(0, f.shape[1] - t + 1)
        return f[:, o : o + t].astype(np.float32)

    def add_noise(self, logmel: np.ndarray) -> np.ndarray:
        t = logmel.shape[1]
        noise = self.noises[self.rng.integers(len(self.noises))]
        o = self.rng.integers(0, noise.shape[1] - t + 1)
        nz = noise[:, o : o + t]
        power = np.exp(logmel)
        snr = self.rng.uniform(*self.cfg.snr_db)
        g = power.mean() / (nz.mean() + 1e-12) / 10 ** (snr / 10)
        return np.log(np.maximum(power + g * nz, self.fe.floor)).astype(np.float32)

    def batch(self, clips: list[Clip], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, rng = self.cfg, self.rng
        t = int(rng.integers(cfg.crop_min, cfg.crop_max + 1))
        xs = []
        for i in idx:
            f = clips[i].feats[SPEEDS[rng.integers(len(SPEEDS))]]
            x = self.crop(f, t)
            if rng.random() < cfg.noise_p:
                x = self.add_noise(x)
            xs.append(normalize(x))
        x = torch.from_numpy(np.stack(xs))[:, None]  # (B, 1, M, T)
        y = F.one_hot(torch.tensor([clips[i].label for i in idx]), len(RAVDESS)).float()
        if rng.random() < cfg.warp_p:  # frequency warp: stretch/squeeze the mel axis, crop or edge-pad back
            m = x.shape[2]
            a = rng.uniform(*cfg.warp)
            mw = max(8, round(m * a))
            x = F.interpolate(x, size=(mw, t), mode="bilinear", align_corners=False)
            x = x[:, :, :m] if mw >= m else torch.cat([x, x[:, :, -1:].expand(-1, -1, m - mw, -1)], dim=2)
        for _ in range(cfg.freq_masks):
            w = int(rng.integers(0, cfg.freq_mask_max + 1))
            f0 = int(rng.integers(0, x.shape[2] - w + 1))
            x[:, :, f0 : f0 + w, :] = 0
        for _ in range(cfg.time_masks):
            w = int(rng.integers(0, int(cfg.time_mask_frac * t) + 1))
            t0 = int(rng.integers(0, t - w + 1))
            x[:, :, :, t0 : t0 + w] = 0
        if cfg.mixup_alpha > 0:
            lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
            perm = torch.from_numpy(rng.permutation(len(idx)))
            x = lam * x + (1 - lam) * x[perm]
            y = lam * y + (1 - lam) * y[perm]
        return x.contiguous(), y


def eval_input(f: np.ndarray) -> torch.Tensor:
    """The model input of a whole utterance's log-mel, as at inference."""
    return torch.from_numpy(normalize(f.astype(np.float32)))[None, None]
