#!/usr/bin/env python3
"""dlib ResNet face descriptor on LFW View 1 (pairsDevTrain -> threshold, pairsDevTest -> accuracy/AUC).

Pipeline per image: HOG frontal detector (upsample 1, retry upsample 2 if none),
face nearest the image centre, shape_predictor_5_face_landmarks,
compute_face_descriptor(img, shape) (150x150 chip, num_jitters=0 default).

Needs its own environment (not an emolens dependency):
  python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face-recognition-models numpy pillow
Run from the repository root (the LFW folder is $EMOLENS_DATA/lfw or ../shared/datasets/lfw; outputs go to
runs/dlib, or $DLIB_OUT):

Usage:
  PY=/tmp/dlibenv/bin/python
  $PY research/compare_dlib_embedder.py embed [N_PER_HALF]   # embed distinct images (cached, resumable)
  $PY research/compare_dlib_embedder.py eval  [N_PER_HALF]   # threshold on DevTrain, acc/AUC on DevTest
  $PY research/compare_dlib_embedder.py time                 # timing, median over 50 images
N_PER_HALF: use only the first N same and first N different pairs of each file (default: all).
"""

import json
import os
import sys
import time

import dlib
import face_recognition_models as frm
import numpy as np
from PIL import Image

LFW = os.path.join(os.environ.get("EMOLENS_DATA", os.path.join("..", "shared", "datasets")), "lfw")
OUT = os.environ.get("DLIB_OUT", os.path.join("runs", "dlib"))
os.makedirs(OUT, exist_ok=True)
CACHE = os.path.join(OUT, "emb.npz")

det = dlib.get_frontal_face_detector()
sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())


def read_pairs(fname, n_half=None):
    lines = open(os.path.join(LFW, fname)).read().splitlines()
    n = int(lines[0].split()[0])
    rows = [ln.split("\t") for ln in lines[1:]]
    rows = [r if len(r) == 4 else [r[0], r[1], r[0], r[2]] for r in rows]
    same, diff = rows[:n], rows[n : 2 * n]
    assert all(r[0] == r[2] for r in same) and all(r[0] != r[2] for r in diff)
    if n_half is not None:
        same, diff = same[:n_half], diff[:n_half]

    def path(a, i):
        return f"{a}/{a}_{int(i):04d}.jpg"

    return [(path(a, i), path(b, j), a == b) for a, i, b, j in same + diff]


def load(rel):
    return np.asarray(Image.open(os.path.join(LFW, "images", rel)).convert("RGB"))


def detect(img):
    dets = det(img, 1)
    if len(dets) == 0:
        dets = det(img, 2)
    if len(dets) == 0:
        return None
    cy, cx = img.shape[0] / 2.0, img.shape[1] / 2.0

    def d2(r):
        c = r.center()
        return (c.x - cx) ** 2 + (c.y - cy) ** 2

    return min(dets, key=d2)


def embed(img):
    r = detect(img)
    if r is None:
        return None
    shape = sp(img, r)
    return np.asarray(rec.compute_face_descriptor(img, shape), dtype=np.float32)


def cmd_time():
    rels = sorted({p for a, b, _ in read_pairs("pairsDevTest.txt") for p in (a, b)})[:50]
    imgs = [load(r) for r in rels]
    embed(imgs[0])  # warm-up
    full, desc_only, det_lm = [], [], []
    for img in imgs:
        t0 = time.perf_counter()
        r = detect(img)
        if r is None:
            continue
        shape = sp(img, r)
        t1 = time.perf_counter()
        rec.compute_face_descriptor(img, shape)
        t2 = time.perf_counter()
        full.append(t2 - t0)
        det_lm.append(t1 - t0)
        desc_only.append(t2 - t1)
    res = dict(
        n=len(full),
        full_ms=1e3 * np.median(full),
        det_landmarks_ms=1e3 * np.median(det_lm),
        descriptor_ms=1e3 * np.median(desc_only),
    )
    print(json.dumps(res))
    json.dump(res, open(os.path.join(OUT, "timing.json"), "w"), indent=1)


def cmd_embed(n_half):
    pairs = read_pairs("pairsDevTrain.txt", n_half) + read_pairs("pairsDevTest.txt", n_half)
    rels = []
    for a, b, _ in pairs:
        for p in (a, b):
            if p not in rels:
                rels.append(p)
    done = {}
    if os.path.exists(CACHE):
        z = np.load(CACHE, allow_pickle=True)
        done = dict(zip(z["rels"].tolist(), list(z["embs"]), strict=False))
    todo = [r for r in rels if r not in done]
    print(f"{len(rels)} distinct images, {len(todo)} to embed", flush=True)
    t0 = time.time()

    def save():
        ks = list(done)
        np.savez(
            CACHE,
            rels=np.array(ks, dtype=object),
            embs=np.array([done[k] if done[k] is not None else np.full(128, np.nan, np.float32) for k in ks]),
        )

    for k, r in enumerate(todo, 1):
        e = embed(load(r))
        done[r] = e
        if k % 200 == 0 or k == len(todo):
            save()
            el = time.time() - t0
            print(
                f"{k}/{len(todo)} {el:.0f}s  {1e3 * el / k:.0f} ms/img  eta {(len(todo) - k) * el / k:.0f}s", flush=True
            )
    save()


def auc(scores, labels):
    # Mann-Whitney U with tie handling
    scores = np.asarray(scores, float)
    labels = np.asarray(labels, bool)
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2.0 + 1
        i = j + 1
    r = np.empty(len(s))
    r[order] = ranks
    npos, nneg = labels.sum(), (~labels).sum()
    return (r[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def cmd_eval(n_half):
    z = np.load(CACHE, allow_pickle=True)
    emb = dict(zip(z["rels"].tolist(), list(z["embs"]), strict=False))

    def dists(pairs):
        d, y, _miss = [], [], 0
        for a, b, same in pairs:
            d.append(float(np.linalg.norm(emb[a] - emb[b])))  # NaN if a face is missing
            y.append(same)
        return np.array(d), np.array(y)

    tr, te = read_pairs("pairsDevTrain.txt", n_half), read_pairs("pairsDevTest.txt", n_half)
    dtr, ytr = dists(tr)
    dte, yte = dists(te)

    def acc(d, y, t):
        pred = d < t  # NaN compares False -> predicted "different"
        ok = (pred == y) & ~np.isnan(d)  # pairs with a missing face always count as errors
        return ok.mean()

    fin = np.sort(dtr[~np.isnan(dtr)])
    cands = np.concatenate([[fin[0] - 1e-6], (fin[:-1] + fin[1:]) / 2, [fin[-1] + 1e-6]])
    accs = np.array([acc(dtr, ytr, t) for t in cands])
    best = np.flatnonzero(accs == accs.max())
    thr = float(np.median(cands[best]))  # middle of the best-accuracy plateau

    # AUC: missing-face pairs get the worst possible score for their label (counted as errors)
    def auc_with_miss(d, y):
        s = -d.copy()
        nan = np.isnan(s)
        lo, hi = np.nanmin(s) - 1, np.nanmax(s) + 1
        s[nan & y] = lo
        s[nan & ~y] = hi
        return auc(s, y), auc(-d[~nan], y[~nan])

    auc_te, auc_te_valid = auc_with_miss(dte, yte)
    imgs_tr = {p for a, b, _ in tr for p in (a, b)}
    imgs_te = {p for a, b, _ in te for p in (a, b)}

    def noface(paths):
        return sorted(p for p in paths if np.isnan(emb[p]).any())

    res = dict(
        n_pairs_train=len(tr),
        n_pairs_test=len(te),
        n_images_train=len(imgs_tr),
        n_images_test=len(imgs_te),
        noface_images_train=len(noface(imgs_tr)),
        noface_images_test=len(noface(imgs_te)),
        noface_list=noface(imgs_tr | imgs_te),
        noface_pairs_train=int(np.isnan(dtr).sum()),
        noface_pairs_test=int(np.isnan(dte).sum()),
        threshold=thr,
        train_acc=float(acc(dtr, ytr, thr)),
        test_acc=float(acc(dte, yte, thr)),
        test_acc_at_0_6=float(acc(dte, yte, 0.6)),
        test_auc=float(auc_te),
        test_auc_valid_pairs_only=float(auc_te_valid),
    )
    print(json.dumps(res, indent=1))
    json.dump(
        res, open(os.path.join(OUT, "results.json" if n_half is None else f"results_{n_half}.json"), "w"), indent=1
    )


if __name__ == "__main__":
    cmd = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else None
    {"time": cmd_time, "embed": lambda: cmd_embed(n), "eval": lambda: cmd_eval(n)}[
        cmd
    ]() if cmd != "time" else cmd_time()
