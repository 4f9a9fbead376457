"""Detect and align every face of ``faces_extra`` (ExpW, SFEW, Taiwanese) once, as ``emolens evaluate --input photos``
does, and cache the crops for training: ``python research/cache_faces_extra.py [--cache /work/cache/faces_extra]``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from emolens.datasets import data_root
from emolens.train.sources import SOURCES, aligned_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache", default="../cache/faces_extra")
    ap.add_argument("--detector", default="retinaface")
    ap.add_argument("--size", type=int, default=48)
    args = ap.parse_args()
    root = data_root() / "faces_extra"
    for source in SOURCES:
        t0 = time.time()
        path = aligned_source(root, source, args.cache, args.detector, size=args.size)
        with np.load(path) as d:
            for split in ("train", "val", "dev"):
                m = d["split"] == split
                print(
                    f"{source} {split}: {m.sum()} faces, {int((~d['found'][m]).sum())} not found, "
                    f"{int(d['padded'][m].sum())} found after padding",
                    flush=True,
                )
        print(f"{source}: {path} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
