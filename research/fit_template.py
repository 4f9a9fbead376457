"""Measure where RetinaFace puts the 5 landmarks in FER2013 crops: the alignment template for FER2013 models.

Each 48x48 training face is upscaled x4, padded (so the detector sees a whole face with context), detected,
and its landmarks mapped back to fractions of the 48-px side. The median over the faces found is printed in
the form of ``emolens.align.FER2013_TEMPLATE``.

    python research/fit_template.py --n 2000
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from emolens import registry
from emolens.datasets import data_root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    d = np.load(data_root() / "fer2013" / "train.npz")
    x = d["x"][np.random.default_rng(0).choice(len(d["x"]), args.n, replace=False)]
    det = registry.build_detector("retinaface", max_size=512)
    scale, pad = 4, 96
    points = []
    for img in x:
        big = cv2.resize(img, (48 * scale, 48 * scale), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = det.detect(np.repeat(big[..., None], 3, 2))
        if not found or found[0].landmarks is None or found[0].score < 0.9:
            continue
        lm = (found[0].landmarks.as_array() - pad) / (48 * scale)
        points.append(lm)
    pts = np.median(np.stack(points), 0)
    print(f"faces found: {len(points)} of {len(x)}")
    print("FER2013_TEMPLATE = (")
    print("    " + ", ".join(f"({px:.3f}, {py:.3f})" for px, py in pts) + ",")
    print(")")


if __name__ == "__main__":
    main()
