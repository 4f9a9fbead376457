"""Audio loading: formats, rates, channels, video tracks, and typed errors for bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from emolens.errors import AudioError, MissingExtraError
from emolens.io.audio import audio_from_array, load_audio, resample


def _aligned_corr(a: np.ndarray, b: np.ndarray, max_lag: int = 400) -> float:
    """Best correlation of ``b`` against ``a`` over small lags (codecs add a small delay)."""
    n = min(len(a), len(b)) - 2 * max_lag
    ref = a[max_lag : max_lag + n]
    return max(float(np.corrcoef(ref, b[max_lag + k : max_lag + k + n])[0, 1]) for k in range(-max_lag, max_lag, 8))


def test_ravdess_clip_loads_at_16k_with_metadata_duration(ravdess, ravdess_rows):
    for row in ravdess_rows[::240]:
        a = load_audio(ravdess / row["file"])
        assert a.sample_rate == 16000 and a.samples.dtype == np.float32 and a.samples.ndim == 1
        assert abs(a.duration - float(row["duration_s"])) < 0.01
        assert 0 < np.abs(a.samples).max() <= 1


@pytest.mark.parametrize("kind", ["stereo44k", "flac22k", "mp3", "m4a", "video"])
def test_formats_rates_and_channels_decode_to_the_same_signal(media, angry_clip, kind):
    ref = load_audio(angry_clip)
    a = load_audio(media[kind])
    assert a.sample_rate == 16000
    assert abs(a.duration - ref.duration) < 0.06  # mp3/aac pad a few frames
    assert a.original_channels == (2 if kind in ("stereo44k", "m4a", "video") else 1)
    assert a.original_rate == {"stereo44k": 44100, "flac22k": 22050, "mp3": 16000, "m4a": 48000, "video": 48000}[kind]
    gain = 0.75 if kind == "stereo44k" else 1.0  # left at 1, right at 0.5, averaged
    assert _aligned_corr(ref.samples * gain, a.samples) > 0.97
    rms_ratio = np.sqrt(np.mean(a.samples**2) / np.mean((gain * ref.samples) ** 2))
    assert 0.9 < rms_ratio < 1.1


def test_video_without_audio_track_is_a_clear_error(data_dir):
    video = data_dir / "videos" / "single_face.mp4"  # the shared videos have no sound
    with pytest.raises(AudioError, match="no audio track") as e:
        load_audio(video)
    assert e.value.source == str(video)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "empty"),
        ("header_only", "empty"),
        ("short", "too short"),
        ("garbage", "cannot decode"),
    ],
)
def test_bad_files_raise_audio_error_naming_the_file(media, kind, message):
    with pytest.raises(AudioError, match=message) as e:
        load_audio(media[kind])
    assert e.value.source == str(media[kind])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not a file"):
        load_audio(tmp_path)


def test_unknown_suffix_that_is_not_audio(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello " * 100)
    with pytest.raises(AudioError, match=r"unsupported audio type '\.txt'"):
        load_audio(p)


def test_m4a_without_pyav_names_the_extra(media, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    with pytest.raises(MissingExtraError, match=r"emolens\[av\]"):
        load_audio(media["m4a"])
    assert load_audio(media["mp3"]).duration > 3  # soundfile formats do not need it


def test_audio_from_array_int16_stereo_and_rate():
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    a = audio_from_array(np.stack([x, x], 1), 48000)
    assert a.sample_rate == 16000 and len(a.samples) == 16000 and a.original_channels == 2
    assert abs(np.sqrt(np.mean(a.samples[100:-100] ** 2)) - 0.5 / np.sqrt(2)) < 0.01
    with pytest.raises(AudioError, match="too short"):
        audio_from_array(np.zeros(100, np.float32), 16000)


@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000)])
def test_resampler_passes_the_band_and_rejects_aliases(sr_in, sr_out):
    t = np.arange(sr_in) / sr_in
    nyq = min(sr_in, sr_out) / 2
    inside = resample(np.sin(2 * np.pi * 0.5 * nyq * t).astype(np.float32), sr_in, sr_out)
    assert len(inside) == int(np.ceil(sr_in * sr_out / sr_in))
    core = inside[200:-200]
    assert abs(np.sqrt(np.mean(core**2)) * np.sqrt(2) - 1) < 0.01  # pass band: gain 1
    ref = np.sin(2 * np.pi * 0.5 * nyq * np.arange(len(inside)) / sr_out)[200:-200]
    assert np.abs(core - ref).max() < 0.01  # no delay, no distortion
    if sr_in > sr_out:  # a tone above the output Nyquist must not fold back
        alias = resample(np.sin(2 * np.pi * 1.2 * nyq * t).astype(np.float32), sr_in, sr_out)
        assert 20 * np.log10(np.sqrt(np.mean(alias[200:-200] ** 2)) * np.sqrt(2) + 1e-12) < -60
