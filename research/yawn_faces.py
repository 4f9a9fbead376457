"""Collect the face meshes that ``research/fit_yawn.py`` fits and cross-validates the yawn classifier on.

One row per face found, from these sources (``--sources``, comma-separated):

- ``yawn``: the 200 yawning faces of ``attention/yawn`` (the face around the labelled mouth box);
- ``none``: every face found in the 120 ``none`` photos of ``attention/yawn``;
- ``grid``: the 25 faces of ``photos/expression_grid.jpg`` (scored only, never fitted on);
- ``taiwanese``: the ``train`` faces of ``faces_extra/taiwanese`` (posed; grouped by performer);
- ``expw``: the ``train`` faces of ``faces_extra/expw`` with an open-mouth label (surprise, fear, happy, angry;
  grouped by source photo).

Per face it keeps the mesh points, the mesh's face score, the eye openness (iris-model contour), the head pose,
the source, the label (1 yawn, 0 not), a group key and, for ``yawn``/``none``/``grid``, the SFace identity
embedding, with which ``fit_yawn.py`` groups near-duplicate photos and the same person into one cross-validation fold.

Usage: ``python research/yawn_faces.py --out yawn_faces.npz [--sources yawn,none,grid,taiwanese,expw]``
(a generated file: keep it out of the repository).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXPW_LABELS = ("surprise", "fear", "happy", "angry")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("EMOLENS_DATA", REPO.parent / "shared/datasets")))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sources", default="yawn,none,grid,taiwanese,expw")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from emolens import Analyzer
    from emolens.attention import AttentionAnalyzer
    from emolens.embed import FaceEmbedder
    from emolens.io.images import load_image

    analyzer, att = Analyzer("retinaface", threads=args.threads), AttentionAnalyzer(threads=args.threads)
    embedder = FaceEmbedder(threads=args.threads)
    keys = ("points", "score", "ears", "pose", "emb", "source", "label", "group", "file")
    rows: dict[str, list] = {k: [] for k in keys}

    def add(path: Path, source: str, label: int, group: str, centre=None, every: bool = False) -> None:
        rgb = load_image(path).rgb
        dets = analyzer.detect(rgb)
        if centre is not None:
            dets = [d for d in dets if d.box.x1 <= centre[0] <= d.box.x2 and d.box.y1 <= centre[1] <= d.box.y2]
        if not dets:
            print("no face:", source, path.name, flush=True)
            return
        dets = dets if every else [max(dets, key=lambda d: d.box.area)]
        embs = embedder.embed(rgb, dets) if source in ("yawn", "none", "grid") else np.zeros((len(dets), 128))
        for i, m in enumerate(att.measures(rgb, dets)):
            rows["points"].append(m.mesh.points.astype(np.float32))
            rows["score"].append(m.mesh.score)
            rows["ears"].append((m.ear_left, m.ear_right))
            rows["pose"].append((m.pose.yaw, m.pose.pitch, m.pose.roll))
            rows["emb"].append(embs[i].astype(np.float32))
            rows["source"].append(source)
            rows["label"].append(label)
            rows["group"].append(group)
            rows["file"].append(f"{path.name}#{i}")

    sources = args.sources.split(",")
    yawn_dir = args.data / "attention/yawn"
    yrows = list(csv.DictReader(open(yawn_dir / "labels.csv")))
    if "yawn" in sources:
        for r in yrows:
            if r["label"] == "yawn":
                c = ((float(r["x1"]) + float(r["x2"])) / 2, (float(r["y1"]) + float(r["y2"])) / 2)
                add(yawn_dir / "images" / r["file"], "yawn", 1, r["split"], centre=c)
    if "none" in sources:
        for r in yrows:
            if r["label"] == "none":
                add(yawn_dir / "images" / r["file"], "none", 0, r["file"], every=True)
    if "grid" in sources:
        add(args.data / "photos/expression_grid.jpg", "grid", 0, "grid", every=True)
    if "taiwanese" in sources:
        tw = args.data / "faces_extra/taiwanese"
        for r in csv.DictReader(open(tw / "labels.csv")):
            if r["split"] == "train":
                add(tw / "images" / r["file"], "taiwanese", 0, "tw" + r["performer"])
    if "expw" in sources:
        ex = args.data / "faces_extra/expw"
        for r in csv.DictReader(open(ex / "labels.csv")):
            if r["split"] == "train" and r["label"] in EXPW_LABELS:
                add(ex / "images" / r["file"], "expw:" + r["label"], 0, "expw:" + r["source_image"])
    np.savez_compressed(
        args.out,
        points=np.array(rows["points"]),
        score=np.array(rows["score"], dtype=np.float64),
        ears=np.array(rows["ears"], dtype=np.float64),
        pose=np.array(rows["pose"], dtype=np.float64),
        emb=np.array(rows["emb"], dtype=np.float32),
        source=np.array(rows["source"]),
        label=np.array(rows["label"]),
        group=np.array(rows["group"]),
        name=np.array(rows["file"]),
    )
    print("faces:", len(rows["label"]), {s: rows["source"].count(s) for s in sorted(set(rows["source"]))})


if __name__ == "__main__":
    main()
