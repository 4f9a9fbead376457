"""Single-face latency of the `cnn` for the input choices of a cross-source model (grey or colour, 40 or 56 px
crops of a 48 or 64 px aligned face), fp32 on one ONNX Runtime thread, all measured in one process so that the
ratios hold on a loaded machine: ``python research/bench_input_size.py``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from emolens.train.architectures import build
from emolens.train.export import _single_face_ms


def main() -> None:
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for channels, crop in ((1, 40), (3, 40), (1, 56), (3, 56)):
            model = build("cnn", 7).eval()
            if channels == 3:
                old = model.features[0][0]
                model.features[0][0] = torch.nn.Conv2d(3, old.out_channels, 3, 1, 1, bias=False)
            path = Path(tmp) / f"cnn-{channels}-{crop}.onnx"
            torch.onnx.export(
                model, (torch.zeros(1, channels, crop, crop),), str(path), input_names=["input"], dynamo=False
            )
            ms = min(_single_face_ms(path, (channels, crop, crop), runs=200) for _ in range(3))
            rows.append((channels, crop, ms))
    base = rows[0][2]
    print("| input | crop | ms per face (fp32, 1 thread, best of 3 medians) | vs grey 40 |")
    print("|---|---|---|---|")
    for channels, crop, ms in rows:
        print(f"| {'grey' if channels == 1 else 'colour'} | {crop} | {ms:.2f} | {ms / base:.2f}x |")


if __name__ == "__main__":
    main()
