"""Voice fixtures: real RAVDESS clips, and files in other formats made from them."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from emolens.io.audio import load_audio, resample


@pytest.fixture(scope="session")
def ravdess(data_dir: Path) -> Path:
    root = data_dir / "audio" / "ravdess"
    if not (root / "metadata.csv").is_file():
        pytest.fail(f"RAVDESS not found at {root}", pytrace=False)
    return root


@pytest.fixture(scope="session")
def ravdess_rows(ravdess: Path) -> list[dict]:
    return list(csv.DictReader(open(ravdess / "metadata.csv", newline="")))


def clip(ravdess: Path, actor: int, emotion: int, intensity: int = 2, statement: int = 1, rep: int = 1) -> Path:
    return (
        ravdess
        / f"Actor_{actor:02d}"
        / f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{rep:02d}-{actor:02d}.ogg"
    )


@pytest.fixture(scope="session")
def ravdess_clip(ravdess: Path):
    """``ravdess_clip(actor, emotion, intensity=2, statement=1, rep=1)`` -> the clip's path."""
    return lambda *args, **kw: clip(ravdess, *args, **kw)


@pytest.fixture(scope="session")
def angry_clip(ravdess: Path) -> Path:
    return clip(ravdess, 16, 5)  # a clear case for the shipped model (angry p = 0.98)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory, ravdess: Path, angry_clip: Path) -> dict[str, Path]:
    """Audio files in several formats, rates and channel counts, plus broken ones, built from real clips."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("voice_media")
    x = load_audio(angry_clip).samples
    happy = load_audio(clip(ravdess, 2, 3)).samples
    out: dict[str, Path] = {}
    st = resample(x, 16000, 44100)
    out["stereo44k"] = d / "stereo44k.wav"
    sf.write(out["stereo44k"], np.stack([st, 0.5 * st], 1), 44100, subtype="PCM_16")
    out["flac22k"] = d / "clip22k.flac"
    sf.write(out["flac22k"], resample(x, 16000, 22050), 22050)
    out["mp3"] = d / "clip.mp3"
    sf.write(out["mp3"], x, 16000)
    out["silence"] = d / "silence.wav"
    sf.write(out["silence"], np.zeros(3 * 16000, np.float32), 16000)
    rng = np.random.default_rng(0)
    out["noise"] = d / "noise.wav"
    sf.write(out["noise"], (0.01 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
    gap = np.zeros(3 * 16000, np.float32)
    xs, hs = _speech(x), _speech(happy)
    out["long"] = d / "long.wav"  # 1 s silence, angry, 3 s silence, happy, 0.4 s pause, happy, 3 s silence
    sf.write(out["long"], np.concatenate([gap[:16000], xs, gap, hs, gap[:6400], hs, gap]), 16000)
    out["short"] = d / "short.wav"
    sf.write(out["short"], x[16000:17600], 16000)  # 0.1 s
    out["empty"] = d / "empty.wav"
    out["empty"].write_bytes(b"")
    out["header_only"] = d / "header_only.wav"
    sf.write(out["header_only"], np.zeros(0, np.float32), 16000)
    out["garbage"] = d / "garbage.ogg"
    out["garbage"].write_bytes(b"OggS but not really" * 50)
    out["m4a"] = d / "clip.m4a"
    _encode_av(out["m4a"], x, 16000, video=False)
    out["video"] = d / "talking.mp4"
    _encode_av(out["video"], x, 16000, video=True)
    return out


def _speech(x: np.ndarray) -> np.ndarray:
    from emolens.voice.vad import speech_span

    span = speech_span(x)
    return x[int(span.start * 16000) : int(span.end * 16000)]


def _encode_av(path: Path, x: np.ndarray, sr: int, video: bool) -> None:
    """AAC audio (48 kHz stereo), with an H.264 picture track when ``video``, through PyAV."""
    import av

    y = resample(x, sr, 48000)
    pcm = (np.clip(np.stack([y, y]), -1, 1) * 32767).astype(np.int16)  # (2, n) planar
    with av.open(str(path), "w", format="mp4" if video else "ipod") as c:
        vs = None
        if video:
            vs = c.add_stream("libx264", rate=25)
            vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        a.time_base = Fraction(1, 48000)
        if vs is not None:
            for i in range(int(25 * len(y) / 48000)):
                img = np.full((64, 64, 3), (i * 5) % 255, np.uint8)
                for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        for i in range(0, pcm.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(pcm[:, i : i + 1024], format="s16p", layout="stereo")
            f.sample_rate, f.pts = 48000, i
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
