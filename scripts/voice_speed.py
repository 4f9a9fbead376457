"""Time VoiceAnalyzer on a RAVDESS clip and on a 60 s recording made of clips (median of 5 runs, one thread).

python scripts/voice_speed.py --out docs/results/voice_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.io.audio import load_audio
from emolens.voice import VoiceAnalyzer


def median_ms(fn, runs: int = 5) -> float:
    fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(ts)), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/results/voice_speed.json"))
    a = ap.parse_args()
    root = data_root() / "audio" / "ravdess"
    clip = root / "Actor_01" / "03-01-05-02-01-01-01.ogg"
    parts = [load_audio(p).samples for p in sorted((root / "Actor_02").glob("*.ogg"))[:16]]
    long = np.concatenate(parts)[: 60 * 16000]
    out: dict = {"machine": "2-core AMD EPYC VM, shared with other jobs (timings are upper bounds)", "threads": 1}
    for vad in ("energy", "silero"):
        va = VoiceAnalyzer(vad=vad, threads=1)
        x = load_audio(clip)
        out[f"clip_{x.duration:.1f}s_{vad}_ms"] = median_ms(lambda va=va, x=x: va.analyze(x))
        wa = VoiceAnalyzer(vad=vad, threads=1, windows=True)
        ms = median_ms(lambda wa=wa: wa.analyze_array(long, 16000), runs=3)
        out[f"recording_60s_{vad}_with_windows_ms"] = ms
        out[f"recording_60s_{vad}_real_time_factor"] = round(ms / 60000, 4)
    va = VoiceAnalyzer(threads=1)
    x2 = load_audio(clip).samples[:32000]
    out["model_only_2s_window_ms"] = median_ms(lambda: va.model.probs(x2), runs=20)
    out["command"] = f"python scripts/voice_speed.py --out {a.out}"
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
