"""Measure emolens's energy VAD on RAVDESS clips set into 10 s of silence or noise (white, pink, brown) at several
SNRs. Reference speech frames: Silero VAD v6 (MIT) on the clean clip, from the ``silero-vad`` wheel's ONNX file
(``pip download --no-deps silero-vad==6.2.3`` and unzip; it is used here only, never by the library). Silero on the
noisy mixture is reported beside ours for comparison.

    python scripts/voice_vad_eval.py --silero /tmp/silero/silero_vad/data/silero_vad.onnx \
        --out docs/results/voice_vad.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.io.audio import load_audio
from emolens.voice.vad import detect_speech

SR, HOP = 16000, 0.01


class Silero:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        self.s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def segments(self, x: np.ndarray) -> list[tuple[float, float]]:
        """Silero's usual decoding: 512-sample chunks, speech from p >= 0.5 until p < 0.35, pauses under 100 ms
        bridged, speech under 250 ms dropped, 30 ms padding."""
        state = np.zeros((2, 1, 128), np.float32)
        ctx = np.zeros((1, 64), np.float32)
        probs = []
        for i in range(0, len(x) - 511, 512):
            chunk = np.concatenate([ctx, x[None, i : i + 512]], axis=1).astype(np.float32)
            out, state = self.s.run(None, {"input": chunk, "state": state, "sr": np.array(SR, np.int64)})
            probs.append(float(out[0, 0]))
            ctx = chunk[:, -64:]
        on, segs, start = False, [], 0.0
        for k, p in enumerate(probs):
            t = k * 512 / SR
            if not on and p >= 0.5:
                on, start = True, t
            elif on and p < 0.35:
                on = False
                segs.append([start, t])
        if on:
            segs.append([start, len(probs) * 512 / SR])
        merged: list[list[float]] = []
        for s, e in segs:
            if merged and s - merged[-1][1] < 0.1:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        return [(max(0.0, s - 0.03), e + 0.03) for s, e in merged if e - s >= 0.25]


def mask(segs, n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    for s, e in segs:
        m[round(s / HOP) : round(e / HOP)] = True
    return m


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / SR)
    spec = rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))
    spec /= np.maximum(f, 20.0) ** {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
    x = np.fft.irfft(spec, n)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def prf(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    tp = float((pred & ref).sum())
    return tp / max(1.0, pred.sum()), tp / max(1.0, ref.sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--silero", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/results/voice_vad.json"))
    ap.add_argument("--every", type=int, default=24, help="use every n-th RAVDESS clip (default: 60 clips)")
    a = ap.parse_args()
    root = data_root() / "audio" / "ravdess"
    rows = list(csv.DictReader(open(root / "metadata.csv", newline="")))[:: a.every]
    sil = Silero(a.silero)
    rng = np.random.default_rng(0)
    conds = [("silence", None)] + [(k, s) for k in ("white", "pink", "brown") for s in (30, 20, 10, 5)]
    acc = {f"{k}@{s}" if s else k: {"ours": [], "silero": []} for k, s in conds}
    total = 10 * SR
    nframes = int(total * 1.0 / SR / HOP)
    for row in rows:
        x = load_audio(root / row["file"]).samples
        ref_segs = sil.segments(x)
        if not ref_segs:
            continue
        off = 3.0
        ref = mask([(s + off, e + off) for s, e in ref_segs], nframes)
        p_speech = np.mean(np.concatenate([x[int(s * SR) : int(e * SR)] for s, e in ref_segs]) ** 2)
        base = np.zeros(total, np.float32)
        base[int(off * SR) : int(off * SR) + len(x)] = x
        for kind, snr in conds:
            y = base if snr is None else base + noise(kind, total, rng) * np.sqrt(p_speech / 10 ** (snr / 10))
            ours = mask([(s.start, s.end) for s in detect_speech(y)], nframes)
            theirs = mask(sil.segments(y), nframes)
            key = f"{kind}@{snr}" if snr else kind
            acc[key]["ours"].append(prf(ours, ref))
            acc[key]["silero"].append(prf(theirs, ref))
    table = {}
    for key, d in acc.items():
        table[key] = {
            who: {
                "precision": round(float(np.mean([p for p, _ in v])), 3),
                "recall": round(float(np.mean([r for _, r in v])), 3),
                "clips_found": round(float(np.mean([r > 0 for _, r in v])), 3),
            }
            for who, v in d.items()
        }
    false_alarms = {}
    for kind in ("white", "pink", "brown"):
        for level in (-60, -40, -20):
            hits = []
            for _ in range(10):
                y = noise(kind, total, rng) * 10 ** (level / 20)
                hits.append(sum(s.duration for s in detect_speech(y)))
            false_alarms[f"{kind}@{level}dBFS"] = {
                "files_with_speech": sum(h > 0 for h in hits) / 10,
                "mean_speech_s": round(float(np.mean(hits)), 3),
            }
    out = {
        "protocol": f"RAVDESS clips (every {a.every}th, {len(rows)} clips) placed 3 s into 10 s of digital silence or "
        "noise; SNR over the reference speech; reference = Silero VAD v6 on the clean clip; 10 ms frames",
        "command": "python scripts/voice_vad_eval.py --silero <silero_vad.onnx> --out " + str(a.out),
        "speech_in_noise": table,
        "pure_noise_10s_false_alarms": false_alarms,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
