"""Identity benchmark: LFW verification (View 1 and View 2), ORL identification, gallery match speed.

    python scripts/bench_identity.py --json docs/results/bench_identity.json

- LFW View 1: the threshold that is most accurate on pairsDevTrain (2,200 pairs) is applied to pairsDevTest
  (1,000 pairs); also ROC AUC and TAR@FAR=1e-3 on pairsDevTest.
- LFW View 2: pairs.txt, 10 folds, threshold chosen on 9 folds and tested on the 10th (mean ± std).
- ORL: everyone enrolled from images 1-3, the other 7 images of each of the 40 people queried (280 queries):
  rank-1 identification rate (and how many queries fall below the threshold).
- Speed: embedding ms per face (batch 1 and 32, 1 and 2 threads); matching one face against a 10,000-person
  SQLite gallery (3 embeddings each; random unit vectors, as the cost does not depend on the values).

On LFW, the face of a pair image is the detected face nearest the image centre (LFW's convention).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emolens.datasets import data_root
from emolens.errors import EmolensError
from emolens.identity import FaceEmbedder, Gallery
from emolens.identity.evaluation import (
    PairScores,
    best_threshold,
    evaluate_pairs,
    read_pairs,
    score_pairs,
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def lfw(g: Gallery, skip_view2: bool, cache_file: Path | None) -> dict:
    root = data_root() / "lfw"
    cache: dict[str, np.ndarray] = {}
    if cache_file is not None and cache_file.exists():  # embeddings of an interrupted earlier run
        with np.load(cache_file) as z:
            cache = {k: z[k] for k in z.files}
        log(f"{len(cache)} cached embeddings from {cache_file}")

    def embed(path: str) -> np.ndarray:
        key = str(Path(path).relative_to(root))
        if key not in cache:
            cache[key] = g.embedding(path, pick="center")
            if cache_file is not None and len(cache) % 250 == 0:
                np.savez(cache_file, **cache)
        return cache[key]

    def scored(name: str) -> tuple[PairScores, int]:
        pl = read_pairs(root / name, root / "images")
        t = time.perf_counter()
        ps = score_pairs(pl, embed, lambda k, n: log(f"{name}: {k}/{n}") if k % 500 == 0 else None)
        log(f"{name}: {len(pl.pairs)} pairs in {time.perf_counter() - t:.0f} s")
        return ps, pl.folds

    out: dict = {}
    train, _ = scored("pairsDevTrain.txt")
    thr = best_threshold(train.scores, train.same)
    test, _ = scored("pairsDevTest.txt")
    out["view1"] = {
        "threshold_from_pairsDevTrain": thr,
        "pairsDevTrain_accuracy_at_it": float(((train.scores >= thr) == train.same).mean()),
        "pairsDevTest": evaluate_pairs(test, 1, thr),
        "failed_images": {**train.failed, **test.failed},
    }
    if not skip_view2:
        v2, folds = scored("pairs.txt")
        out["view2"] = evaluate_pairs(v2, folds)
        out["view2"]["failed_images"] = v2.failed
    return out


def orl(g: Gallery) -> dict:
    root = data_root() / "orl"
    failures = []
    for s in range(1, 41):
        rep = g.enroll(f"s{s}", [root / f"s{s}" / f"{i}.pgm" for i in (1, 2, 3)])
        failures += [f"{a}: {b}" for a, b in rep.failures]
    right = below = n = 0
    wrong = []
    for s in range(1, 41):
        for i in range(4, 11):
            p = root / f"s{s}" / f"{i}.pgm"
            n += 1
            try:
                m = g.match(g.embedding(p)[None])[0]
            except EmolensError as e:
                failures.append(f"{p}: {e.message}")
                continue
            top = m.candidates[0][0]
            right += top == f"s{s}"
            below += not m.known
            if top != f"s{s}":
                wrong.append(f"{p} -> {top} ({m.candidates[0][1]:.3f})")
    return {
        "people": 40,
        "enrolled_per_person": 3,
        "queries": n,
        "rank1": right / n,
        "rank1_correct": right,
        "queries_below_threshold": below,
        "threshold": g.threshold,
        "wrong": wrong,
        "failures": failures,
    }


def speed() -> dict:
    out: dict = {}
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (32, 112, 112, 3), dtype=np.uint8)
    for threads in (1, 2):
        e = FaceEmbedder(threads=threads)
        e.embed_crops(crops[:1])
        t1 = []
        for _ in range(30):
            t = time.perf_counter()
            e.embed_crops(crops[:1])
            t1.append(time.perf_counter() - t)
        t32 = []
        for _ in range(5):
            t = time.perf_counter()
            e.embed_crops(crops)
            t32.append(time.perf_counter() - t)
        out[f"embed_ms_per_face_batch1_threads{threads}"] = 1000 * statistics.median(t1)
        out[f"embed_ms_per_face_batch32_threads{threads}"] = 1000 * statistics.median(t32) / 32
    with tempfile.TemporaryDirectory() as d:
        g = Gallery(Path(d) / "big.db", threshold=0.3)
        dim = g.embedder.dim
        t = time.perf_counter()
        for k in range(10_000):
            v = rng.standard_normal((3, dim)).astype(np.float32)
            g.enroll_embeddings(f"person{k:05d}", v)
        out["enrol_10000_people_s"] = time.perf_counter() - t
        q = rng.standard_normal((1, dim)).astype(np.float32)
        q /= np.linalg.norm(q)
        t = time.perf_counter()
        g.match(q)
        out["first_match_ms_incl_load"] = 1000 * (time.perf_counter() - t)
        times = []
        for _ in range(1000):
            t = time.perf_counter()
            g.match(q)
            times.append(time.perf_counter() - t)
        times.sort()
        out["gallery_people"] = len(g)
        out["gallery_embeddings"] = 30_000
        out["match_ms_median"] = 1000 * times[500]
        out["match_ms_p99"] = 1000 * times[990]
        g.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-view2", action="store_true")
    ap.add_argument("--only", choices=("lfw", "orl", "speed"))
    ap.add_argument("--cache", type=Path, help="Keep LFW embeddings in this .npz so an interrupted run resumes.")
    a = ap.parse_args()
    res: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "command": "python " + " ".join(sys.argv),
    }
    g = Gallery(":memory:")
    res["model"] = g.model
    if a.only in (None, "speed"):
        res["speed"] = speed()
        log(json.dumps(res["speed"]))
    if a.only in (None, "orl"):
        res["orl"] = orl(g)
        log(f"ORL rank-1 {res['orl']['rank1']:.4f}")
    if a.only in (None, "lfw"):
        res["lfw"] = lfw(Gallery(":memory:"), a.skip_view2, a.cache)
        log(json.dumps({k: v for k, v in res["lfw"]["view1"]["pairsDevTest"].items() if not isinstance(v, list)}))
        if "view2" in res["lfw"]:
            v2 = res["lfw"]["view2"]
            log(f"View 2: {v2['accuracy_mean']:.4f} ± {v2['accuracy_std']:.4f}, AUC {v2['roc_auc']:.4f}")
    if a.json and a.only and a.json.exists():  # one part re-run: keep the other parts' figures
        res = {**json.loads(a.json.read_text()), **{k: v for k, v in res.items() if k in (a.only, "model")}}
        res.setdefault("runs", {})[a.only] = {
            "date": time.strftime("%Y-%m-%d"),
            "command": "python " + " ".join(sys.argv),
        }
    text = json.dumps(res, indent=2)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
