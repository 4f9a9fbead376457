"""``VoiceAnalyzer``: audio → VAD → log-mel → ONNX voice model → probabilities per utterance and per window.

Probabilities are over RAVDESS's 8 classes (the model's outputs) and, merged, over emolens's 7 FER2013 labels:
*calm is merged into neutral* (its probability is added to neutral's; :data:`emolens.labels.RAVDESS_TO_FER2013`).
The valence score is the expectation of :data:`emolens.labels.VALENCE` under the 7-label probabilities, in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import AudioError, ConfigError, EmolensError, ModelError
from emolens.io.audio import Audio, audio_from_array, load_audio
from emolens.labels import FER2013, RAVDESS, RAVDESS_TO_FER2013, VALENCE
from emolens.models import ModelInfo, VoiceManifest, open_model
from emolens.probability import softmax
from emolens.voice.frontend import FrontEnd, log_mel, normalize
from emolens.voice.vad import Segment, SileroVad, VadConfig, detect_speech

DEFAULT_VOICE_MODEL = "voice-ravdess"
#: Utterances longer than this (s) are scored as the mean of overlapping chunks of ``CHUNK_S`` seconds.
MAX_SINGLE_PASS_S = 8.0
CHUNK_S, CHUNK_HOP_S = 4.0, 2.0
#: Audio longer than this (s) also gets windowed results when ``windows`` is left to ``None``.
AUTO_WINDOWS_S = 10.0


def merge_to_fer2013(p8: np.ndarray) -> np.ndarray:
    """RAVDESS 8-class probabilities (last axis) → FER2013 7-label probabilities (calm added to neutral)."""
    out = np.zeros((*p8.shape[:-1], len(FER2013)), dtype=np.float64)
    for i, name in enumerate(RAVDESS):
        out[..., FER2013.index(RAVDESS_TO_FER2013[name])] += p8[..., i]
    return out


@dataclass(frozen=True)
class VoiceScores:
    """Emotion probabilities of one stretch of speech."""

    ravdess: tuple[float, ...]  # in RAVDESS order (neutral, calm, happy, sad, angry, fearful, disgust, surprised)
    labels: tuple[float, ...]  # in FER2013 order, calm merged into neutral
    valence: float  # expected valence in [-1, 1]

    @classmethod
    def from_probs(cls, p8: np.ndarray) -> VoiceScores:
        p7 = merge_to_fer2013(p8)
        valence = float(sum(p7[i] * VALENCE[name] for i, name in enumerate(FER2013)))
        return cls(tuple(float(v) for v in p8), tuple(float(v) for v in p7), valence)

    @property
    def top(self) -> str:
        """The most probable RAVDESS class."""
        return RAVDESS[int(np.argmax(self.ravdess))]

    @property
    def label(self) -> str:
        """The most probable FER2013 label (calm merged into neutral)."""
        return FER2013[int(np.argmax(self.labels))]

    @property
    def confidence(self) -> float:
        return float(max(self.labels))

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "valence": round(self.valence, 4),
            "ravdess_top": self.top,
            "ravdess": {k: round(v, 4) for k, v in zip(RAVDESS, self.ravdess, strict=True)},
            "labels": {k: round(v, 4) for k, v in zip(FER2013, self.labels, strict=True)},
        }


@dataclass(frozen=True)
class VoiceSegment:
    """A stretch of the audio (seconds) and its scores; ``scores`` is ``None`` when it holds too little speech."""

    start: float
    end: float
    speech: float  # seconds of speech inside it
    scores: VoiceScores | None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "speech_s": round(self.speech, 3),
        }
        d.update(self.scores.to_dict() if self.scores else {"label": None})
        return d


@dataclass(frozen=True)
class VoiceResult:
    """Everything about one audio input.

    ``utterances`` are the VAD's speech segments (pauses shorter than ``utterance_gap`` joined); ``overall`` is
    their duration-weighted mean (``None`` when there is no speech); ``windows`` are fixed windows (empty unless
    asked for or the audio is long); ``speech`` lists the raw VAD segments.
    """

    source: str
    duration: float
    sample_rate: int
    original_rate: int
    channels: int
    speech: tuple[Segment, ...]
    utterances: tuple[VoiceSegment, ...]
    windows: tuple[VoiceSegment, ...]
    overall: VoiceScores | None
    model: str

    @property
    def has_speech(self) -> bool:
        return bool(self.utterances)

    @property
    def speech_seconds(self) -> float:
        return float(sum(s.duration for s in self.speech))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "duration": round(self.duration, 3),
            "original_rate": self.original_rate,
            "channels": self.channels,
            "model": self.model,
            "has_speech": self.has_speech,
            "speech_s": round(self.speech_seconds, 3),
            "speech": [s.to_dict() for s in self.speech],
            "overall": self.overall.to_dict() if self.overall else None,
            "utterances": [u.to_dict() for u in self.utterances],
            "windows": [w.to_dict() for w in self.windows],
        }


class VoiceModel:
    """The ONNX voice model and its front end, from a verified manifest."""

    def __init__(self, name: str = DEFAULT_VOICE_MODEL, threads: int = 0) -> None:
        info: ModelInfo[VoiceManifest]
        info, self.session, self.input_name = open_model(name, VoiceManifest, threads)
        m = info.manifest
        self.info = info
        self.name = info.name
        self.frontend = FrontEnd.from_dict(m.frontend)
        self.classes = m.classes
        if self.classes != RAVDESS:
            raise ModelError(f"expected the RAVDESS classes, the manifest lists {self.classes}", str(info.path))
        self.temperature = m.temperature
        self.min_frames = m.input.min_frames

    def features(self, x: np.ndarray) -> np.ndarray:
        """Model input ``(1, 1, n_mels, frames)`` of a stretch of speech (16 kHz mono)."""
        return normalize(log_mel(x, self.frontend))[None, None]

    def probs(self, x: np.ndarray) -> np.ndarray:
        """RAVDESS probabilities of one stretch of speech; long stretches average overlapping chunks."""
        sr = self.frontend.sample_rate
        n = len(x)
        if n > MAX_SINGLE_PASS_S * sr:
            size, hop = int(CHUNK_S * sr), int(CHUNK_HOP_S * sr)
            starts = list(range(0, n - size + 1, hop))
            if starts[-1] + size < n:
                starts.append(n - size)
            return np.mean([self.probs(x[s : s + size]) for s in starts], axis=0)
        f = self.features(x)
        if f.shape[-1] < self.min_frames:  # pad very short speech by repeating it, as in training
            f = np.tile(f, (1, 1, 1, math.ceil(self.min_frames / max(1, f.shape[-1]))))
        logits = self.session.run(None, {self.input_name: f.astype(np.float32)})[0][0]
        return softmax(logits, self.temperature)


class VoiceAnalyzer:
    """Voice emotion per utterance (and per window): reuse one instance across files.

    Parameters
    ----------
    model:
        Name of a shipped voice model, or the path of its manifest.
    window, hop:
        Window length and step (seconds) of the windowed results.
    windows:
        ``True`` always computes windowed results, ``False`` never, ``None`` only for audio longer than 10 s.
    min_speech:
        A window (or utterance) with less speech than this (seconds) gets no scores.
    utterance_gap:
        Speech segments closer than this (seconds) form one utterance.
    threads:
        ONNX Runtime threads (0: its default).
    vad:
        ``"energy"`` (default: the energy VAD with hysteresis the model was trained with, or a
        :class:`emolens.voice.vad.VadConfig` for it), or ``"silero"`` (Silero VAD v6, shipped: far better in noise,
        docs/voice.md). The VAD decides what is speech and where utterances start and end.
    """

    def __init__(
        self,
        model: str = DEFAULT_VOICE_MODEL,
        *,
        window: float = 2.0,
        hop: float = 0.5,
        windows: bool | None = None,
        min_speech: float = 0.5,
        utterance_gap: float = 1.0,
        threads: int = 0,
        vad: str | VadConfig = "energy",
    ) -> None:
        if window <= 0 or hop <= 0:
            raise ConfigError(f"window and hop must be positive (got window={window}, hop={hop})")
        if min_speech <= 0 or min_speech > window:
            raise ConfigError(f"min_speech must be in (0, window] (got {min_speech})")
        self.window, self.hop, self.windows = float(window), float(hop), windows
        self.min_speech, self.utterance_gap = float(min_speech), float(utterance_gap)
        if isinstance(vad, VadConfig):
            self.vad_name, self.vad = "energy", vad
        elif vad in ("energy", "silero"):
            self.vad_name, self.vad = vad, VadConfig()
        else:
            raise ConfigError(f"unknown VAD {vad!r} (use 'energy' or 'silero')")
        self._silero: SileroVad | None = None
        self._model_name, self._threads = model, threads
        self._model: VoiceModel | None = None

    @property
    def model(self) -> VoiceModel:
        if self._model is None:
            self._model = VoiceModel(self._model_name, self._threads)
        return self._model

    def analyze(self, source: str | Path | Audio) -> VoiceResult:
        """Analyse one file (any supported audio type, or a video's audio track) or a loaded :class:`Audio`."""
        audio = source if isinstance(source, Audio) else load_audio(source, self.model.frontend.sample_rate)
        return self._analyze(audio)

    def analyze_array(self, samples: np.ndarray, sample_rate: int, source: str = "<array>") -> VoiceResult:
        """Analyse a NumPy signal (``(n,)`` or ``(n, channels)``) at ``sample_rate`` Hz."""
        return self._analyze(audio_from_array(samples, sample_rate, self.model.frontend.sample_rate, source))

    def analyze_many(self, sources: Iterable[str | Path]) -> Iterator[VoiceResult | EmolensError]:
        """Results in input order; a file that fails yields its error and the rest go on."""
        for s in sources:
            try:
                yield self.analyze(s)
            except (AudioError, ConfigError) as e:
                yield e

    # ------------------------------------------------------------------------------------------------------
    def _analyze(self, audio: Audio) -> VoiceResult:
        m = self.model
        sr, x = audio.sample_rate, audio.samples
        if self.vad_name == "silero":
            if self._silero is None:
                self._silero = SileroVad()
            speech = tuple(self._silero(x, sr))
        else:
            speech = tuple(detect_speech(x, sr, self.vad))
        groups: list[list[Segment]] = []
        for s in speech:
            if groups and s.start - groups[-1][-1].end < self.utterance_gap:
                groups[-1].append(s)
            else:
                groups.append([s])
        utterances = []
        for g in groups:
            start, end = g[0].start, g[-1].end
            talk = sum(s.duration for s in g)
            if talk < min(self.min_speech, 0.3):  # too little to judge: kept out of the results
                continue
            p = m.probs(x[int(start * sr) : math.ceil(end * sr)])
            utterances.append(VoiceSegment(start, end, talk, VoiceScores.from_probs(p)))
        overall = None
        if utterances:
            w = np.array([u.speech for u in utterances])
            p = np.average(np.array([u.scores.ravdess for u in utterances]), axis=0, weights=w)  # type: ignore[union-attr]
            overall = VoiceScores.from_probs(p)
        want = self.windows if self.windows is not None else audio.duration > AUTO_WINDOWS_S
        wins = tuple(self._windows(x, sr, speech)) if want else ()
        return VoiceResult(
            audio.source,
            audio.duration,
            sr,
            audio.original_rate,
            audio.original_channels,
            speech,
            tuple(utterances),
            wins,
            overall,
            m.name,
        )

    def _windows(self, x: np.ndarray, sr: int, speech: tuple[Segment, ...]) -> Iterator[VoiceSegment]:
        duration = len(x) / sr
        n = max(1, math.floor((duration - self.window) / self.hop + 1e-9) + 1)
        for i in range(n):
            a, b = i * self.hop, min(duration, i * self.hop + self.window)
            inside = [(max(a, s.start), min(b, s.end)) for s in speech if s.end > a and s.start < b]
            talk = sum(e - s for s, e in inside)
            if talk < self.min_speech:
                yield VoiceSegment(a, b, talk, None)
                continue
            s0, e0 = inside[0][0], inside[-1][1]  # the speech within the window, inner pauses kept
            yield VoiceSegment(
                a, b, talk, VoiceScores.from_probs(self.model.probs(x[int(s0 * sr) : math.ceil(e0 * sr)]))
            )


def analyze_voice(source: str | Path, model: str = DEFAULT_VOICE_MODEL, **options: Any) -> VoiceResult:
    """One-off convenience: ``VoiceAnalyzer(model, **options).analyze(source)``."""
    return VoiceAnalyzer(model, **options).analyze(source)


#: Columns of :func:`voice_records` (CSV order).
RECORD_COLUMNS: tuple[str, ...] = (
    "source",
    "kind",
    "index",
    "start",
    "end",
    "speech_s",
    "label",
    "confidence",
    "valence",
    "ravdess_top",
    *(f"p_{k}" for k in FER2013),
    *(f"ravdess_{k}" for k in RAVDESS),
    "error",
)


def voice_records(result: VoiceResult | EmolensError, source: str | None = None) -> list[dict[str, Any]]:
    """Flat rows (``RECORD_COLUMNS``) of one result: ``overall``, each ``utterance`` and each ``window``; a file
    without speech gives one ``overall`` row with an empty label; a failed file one ``error`` row."""
    if isinstance(result, EmolensError):
        return [{"source": result.source or source or "", "kind": "error", "error": result.message}]
    rows: list[dict[str, Any]] = []

    def row(kind: str, i: int, start: float, end: float, speech: float, s: VoiceScores | None) -> None:
        r: dict[str, Any] = {
            "source": result.source,
            "kind": kind,
            "index": i,
            "start": round(start, 3),
            "end": round(end, 3),
            "speech_s": round(speech, 3),
        }
        if s is not None:
            r.update(label=s.label, confidence=round(s.confidence, 4), valence=round(s.valence, 4), ravdess_top=s.top)
            r.update({f"p_{k}": round(v, 4) for k, v in zip(FER2013, s.labels, strict=True)})
            r.update({f"ravdess_{k}": round(v, 4) for k, v in zip(RAVDESS, s.ravdess, strict=True)})
        rows.append(r)

    row("overall", 0, 0.0, result.duration, result.speech_seconds, result.overall)
    for i, u in enumerate(result.utterances):
        row("utterance", i, u.start, u.end, u.speech, u.scores)
    for i, w in enumerate(result.windows):
        row("window", i, w.start, w.end, w.speech, w.scores)
    return rows
