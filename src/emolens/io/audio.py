"""Load audio to mono float32 at a chosen rate: wav/flac/ogg/mp3 through ``soundfile`` (libsndfile), m4a/aac and
the audio track of video files through PyAV (the ``av`` extra). One loader for the whole library."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import AudioError, MissingExtraError

#: Read by libsndfile (``soundfile``).
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"})
#: Read by PyAV (FFmpeg): AAC/ALAC in MP4 and the audio track of video containers.
AV_SUFFIXES = frozenset({".m4a", ".aac", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wma", ".3gp"})
AUDIO_SUFFIXES = SOUNDFILE_SUFFIXES | AV_SUFFIXES

#: Shortest input accepted by default (seconds): one 25 ms analysis window is not enough for a decision.
MIN_DURATION = 0.25


#: Sample rate of every voice model and of :func:`load_audio`'s output by default.
SAMPLE_RATE = 16000


def resample(x: np.ndarray, orig_sr: float, target_sr: float) -> np.ndarray:
    """Resample mono audio with libsoxr (``soxr``, "HQ": linear phase, pass band to 0.91 of the lower Nyquist
    frequency, over 100 dB of stop-band rejection).

    Output length is ``ceil(len(x) * target_sr / orig_sr)`` (soxr's own length, cut or padded with zeros by at most a
    sample); output ``n`` sits at input time ``n * orig_sr / target_sr``, so there
    is no delay.
    """
    import soxr

    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr or len(x) == 0:
        return x.copy()
    y = soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    n_out = math.ceil(len(x) * target_sr / orig_sr - 1e-9)
    if len(y) < n_out:
        y = np.concatenate([y, np.zeros(n_out - len(y), np.float32)])
    return y[:n_out]


@dataclass(frozen=True)
class Audio:
    """A mono float32 signal in [-1, 1] at ``sample_rate`` Hz, with where it came from."""

    samples: np.ndarray
    sample_rate: int
    source: str
    original_rate: int
    original_channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"cannot decode audio ({str(e).strip().splitlines()[-1][:120]})", str(path)) from None
    return data, int(sr)


def _decode_av(path: Path) -> tuple[np.ndarray, int, int]:
    try:
        import av
    except ImportError:
        raise MissingExtraError("av", "av") from None
    try:
        container = av.open(str(path))
    except Exception as e:  # PyAV raises FFmpeg's error classes
        raise AudioError(f"cannot open media ({type(e).__name__})", str(path)) from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError("the file has no audio track", str(path))
        stream = streams[0]
        sr = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(getattr(stream.codec_context.layout, "nb_channels", 0) or stream.codec_context.channels or 1)
        # planar float at the stream's own layout; channels are averaged below (FFmpeg's own down-mix to mono
        # scales by 1/sqrt(2) per channel, which would change the level)
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=sr or None)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except Exception as e:
            if not chunks:
                raise AudioError(f"cannot decode the audio track ({type(e).__name__})", str(path)) from None
    if sr <= 0:
        raise AudioError("the audio track has no sample rate", str(path))
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return data[:, None], sr, channels


def load_audio(
    source: str | Path,
    sample_rate: int = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
) -> Audio:
    """Decode an audio file (or a video's first audio track) to mono float32 at ``sample_rate``.

    Channels are averaged; any input rate is resampled with :func:`emolens.voice.frontend.resample`.

    Raises
    ------
    AudioError
        The file is missing, not audio, unreadable, empty, silent throughout (all zeros), or shorter than
        ``min_duration`` seconds.
    MissingExtraError
        An m4a/aac or video file and PyAV (``emolens[av]``) is not installed.
    """
    path = Path(source)
    if not path.exists():
        raise AudioError("no such file", str(path))
    if not path.is_file():
        raise AudioError("not a file", str(path))
    if path.stat().st_size == 0:
        raise AudioError("the file is empty (0 bytes)", str(path))
    suffix = path.suffix.lower()
    if suffix in SOUNDFILE_SUFFIXES:
        data, sr = _decode_soundfile(path)
        channels = data.shape[1]
    elif suffix in AV_SUFFIXES:
        data, sr, channels = _decode_av(path)
    else:
        try:  # an unknown suffix: libsndfile sniffs the content
            data, sr = _decode_soundfile(path)
            channels = data.shape[1]
        except AudioError:
            raise AudioError(
                f"unsupported audio type {suffix or '(no suffix)'!r} (use one of "
                + ", ".join(sorted(AUDIO_SUFFIXES))
                + ")",
                str(path),
            ) from None
    mono = data.mean(axis=1)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if len(mono) == 0:
        raise AudioError("the audio is empty (no samples)", str(path))
    if not np.isfinite(mono).all():
        raise AudioError("the audio holds NaN or infinite samples", str(path))
    duration = len(mono) / sr
    if duration < min_duration:
        raise AudioError(f"the audio is too short ({duration:.3f} s < {min_duration} s)", str(path))
    if sr != sample_rate:
        mono = resample(mono, sr, sample_rate)
    return Audio(np.clip(mono, -1.0, 1.0), sample_rate, str(path), sr, channels)


def audio_from_array(
    samples: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE, source: str = "<array>"
) -> Audio:
    """Wrap a NumPy signal (``(n,)`` or ``(n, channels)``, float or int16) as :class:`Audio` at ``target_rate``."""
    a = np.asarray(samples)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    a = a.astype(np.float32)
    if a.ndim == 2:
        channels, a = a.shape[1], a.mean(axis=1)
    elif a.ndim == 1:
        channels = 1
    else:
        raise AudioError(f"expected a (samples,) or (samples, channels) array, got shape {a.shape}", source)
    if len(a) == 0:
        raise AudioError("the audio is empty (no samples)", source)
    if len(a) / sample_rate < MIN_DURATION:
        raise AudioError(f"the audio is too short ({len(a) / sample_rate:.3f} s < {MIN_DURATION} s)", source)
    if sample_rate != target_rate:
        a = resample(a, sample_rate, target_rate)
    return Audio(np.ascontiguousarray(a, dtype=np.float32), target_rate, source, int(sample_rate), channels)
