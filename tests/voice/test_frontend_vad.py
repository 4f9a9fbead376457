"""Front-end parity (training features == inference features) and the VAD on real speech, silence and noise."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.io.audio import load_audio
from emolens.voice.frontend import FrontEnd, log_mel, mel_filterbank, normalize
from emolens.voice.vad import detect_speech, speech_span


def test_training_and_inference_features_are_identical(angry_clip, ravdess):
    """The training pipeline's input for a clip equals what VoiceAnalyzer feeds the ONNX model."""
    pytest.importorskip("torch")
    from emolens.train.voice_data import clip_features, eval_input
    from emolens.voice.analyzer import VoiceAnalyzer

    an = VoiceAnalyzer()
    for path in (angry_clip, ravdess / "Actor_24" / "03-01-02-01-02-02-24.ogg"):
        x = load_audio(path).samples
        train_x = eval_input(clip_features(x, an.model.frontend)).numpy()
        r = an.analyze(path)
        assert len(r.utterances) == 1
        u = r.utterances[0]
        infer_x = an.model.features(x[int(u.start * 16000) : int(np.ceil(u.end * 16000))])
        assert train_x.shape == infer_x.shape
        assert np.abs(train_x - infer_x).max() < 1e-5


def test_log_mel_matches_torch_stft(angry_clip):
    """An independent check of framing, window, FFT and mel weighting against torch.stft."""
    torch = pytest.importorskip("torch")
    fe = FrontEnd()
    x = load_audio(angry_clip).samples
    # our frames are win_length samples, windowed and zero-padded to n_fft: a window padded at its end
    win = torch.nn.functional.pad(torch.hann_window(fe.win_length, periodic=True, dtype=torch.float64), (0, 112))
    spec = torch.stft(
        torch.from_numpy(x.astype(np.float64)),
        fe.n_fft,
        fe.hop_length,
        fe.n_fft,
        win,
        center=False,
        return_complex=True,
    )
    ref = np.log(np.maximum(mel_filterbank(fe).astype(np.float64) @ spec.abs().numpy() ** 2, fe.floor))
    ours = log_mel(x, fe)
    assert ours.shape == (64, fe.frames(len(x)))
    ours = ours[:, : ref.shape[1]]  # torch needs n_fft samples a frame, so it stops a frame or so earlier
    loud = ref > np.log(1e-6)
    assert np.abs(ours - ref)[loud].max() < 1e-3


def test_normalisation_removes_gain(angry_clip):
    """Up to the log floor (digital silence in the Vorbis clips), a gain change leaves the input unchanged."""
    x = load_audio(angry_clip).samples
    span = speech_span(x)
    x = x[int(span.start * 16000) : int(span.end * 16000)] + 1e-4  # lift exact zeros off the floor
    a, b = normalize(log_mel(x)), normalize(log_mel(0.25 * x))
    assert np.abs(a - b).mean() < 0.01
    assert abs(a.mean()) < 1e-4 and abs(a.std() - 1) < 1e-3


def test_vad_silence_and_stationary_noise_hold_no_speech():
    rng = np.random.default_rng(1)
    assert detect_speech(np.zeros(48000, np.float32)) == []
    assert detect_speech(1e-5 * rng.standard_normal(48000).astype(np.float32)) == []
    assert detect_speech(0.05 * rng.standard_normal(48000).astype(np.float32)) == []
    hum = 0.1 * np.sin(2 * np.pi * 50 * np.arange(48000) / 16000)
    assert detect_speech(hum.astype(np.float32)) == []


def test_vad_finds_the_speech_of_real_clips(ravdess, ravdess_rows):
    """Over 60 clips (every 24th), the span holds >= 97% of the energy and drops the leading silence."""
    kept, fracs = [], []
    for row in ravdess_rows[::24]:
        x = load_audio(ravdess / row["file"]).samples
        span = speech_span(x)
        assert span is not None, row["file"]
        seg = x[int(span.start * 16000) : int(span.end * 16000)]
        kept.append(float(np.sum(seg.astype(np.float64) ** 2) / np.sum(x.astype(np.float64) ** 2)))
        fracs.append(span.duration / (len(x) / 16000))
    assert np.median(kept) > 0.995 and sorted(kept)[3] > 0.98 and min(kept) > 0.85
    assert np.median(fracs) < 0.75  # RAVDESS clips start with ~1 s of silence


@pytest.mark.parametrize(("snr_db", "recall"), [(40, 0.9), (30, 0.7), (20, 0.25)])
def test_vad_places_speech_in_a_noisy_recording(ravdess, snr_db, recall):
    """A clip set 3 s into 9 s of white noise: speech is found there and nowhere else. The energy VAD loses recall
    as the SNR drops (pre-emphasis favours white noise); at 10 dB it finds nothing (docs/voice.md)."""
    x = load_audio(ravdess / "Actor_02" / "03-01-03-02-01-01-02.ogg").samples
    clean_span = speech_span(x)
    rng = np.random.default_rng(snr_db)
    sig = np.zeros(9 * 16000, np.float32)
    sig[3 * 16000 : 3 * 16000 + len(x)] = x
    p_speech = np.mean(x[int(clean_span.start * 16000) : int(clean_span.end * 16000)] ** 2)
    noise = rng.standard_normal(len(sig)).astype(np.float32) * np.sqrt(p_speech / 10 ** (snr_db / 10))
    segs = detect_speech(sig + noise)
    assert segs, f"no speech found at {snr_db} dB SNR"
    truth = (3 + clean_span.start, 3 + clean_span.end)
    assert segs[0].start > truth[0] - 0.3 and segs[-1].end < truth[1] + 0.3
    found = sum(min(s.end, truth[1]) - max(s.start, truth[0]) for s in segs if s.end > truth[0])
    assert found / (truth[1] - truth[0]) > recall


def test_silero_vad_finds_speech_where_the_energy_vad_cannot(ravdess):
    """White noise at 10 dB SNR: the energy VAD finds nothing (a documented limit); Silero finds the clip."""
    from emolens.voice.vad import SileroVad

    x = load_audio(ravdess / "Actor_02" / "03-01-03-02-01-01-02.ogg").samples
    span = speech_span(x)
    sig = np.zeros(9 * 16000, np.float32)
    sig[3 * 16000 : 3 * 16000 + len(x)] = x
    p = np.mean(x[int(span.start * 16000) : int(span.end * 16000)] ** 2)
    noisy = sig + np.random.default_rng(0).standard_normal(len(sig)).astype(np.float32) * np.sqrt(p / 10)
    vad = SileroVad()
    segs = vad(noisy)
    assert segs and detect_speech(noisy) == []
    assert segs[0].start > 3 + span.start - 0.3 and segs[-1].end < 3 + span.end + 0.3
    assert vad(np.zeros(3 * 16000, np.float32)) == []
    assert vad(0.05 * np.random.default_rng(1).standard_normal(3 * 16000).astype(np.float32)) == []
