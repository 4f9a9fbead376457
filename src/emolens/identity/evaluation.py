"""Face verification on pair lists: accuracy (10-fold or with a given threshold), ROC AUC, TAR@FAR; thresholds
chosen on several sets at once, and a same-person probability.

Two pairs-file layouts are read. A CSV (``.csv``, or a first line with commas) has one pair a row, ``a,b,same``
(``same``: 1/0, true/false or yes/no), an optional header row (e.g. ``a,b,same``), and image paths relative to the
images folder (or to the CSV's own folder when none is given). An LFW-style pairs file has one pair a line:
``name<TAB>i<TAB>j`` (same person) or ``name1<TAB>i<TAB>name2<TAB>j`` (different people), image ``i`` of
``name`` being ``DIR/name/name_%04d.jpg``. Its first line may be a header: ``N`` (one set) or ``FOLDS<TAB>N``
(``FOLDS`` folds of ``N`` same and ``N`` different pairs, as in LFW's pairs.txt). With folds and no threshold
given, each fold's threshold is the one that is most accurate on the other folds (the LFW protocol); the mean
and standard deviation of the fold accuracies are reported. With a threshold given, it is used on every pair
(and on each fold, for comparison).

A pair whose image cannot be read, or in which no face is found, counts as an error in every accuracy figure
(whatever the pair is), is left out when thresholds are chosen, and gets the lowest possible score in the
ROC AUC and TAR@FAR figures.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.embed import same_probability as same_probability  # re-exported: the evaluation scripts use it
from emolens.errors import DataError, EmolensError
from emolens.metrics import calibration_error

MISSING_SCORE = -2.0  # below any cosine similarity


@dataclass(frozen=True)
class PairList:
    pairs: list[tuple[str, str, bool]]  # path A, path B, same person
    folds: int  # 1 when the file has no folds


_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _is_csv(path: Path, text: str) -> bool:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return path.suffix.lower() == ".csv" or ("," in first and "\t" not in first)


def read_pairs_csv(path: Path, text: str, images: str | os.PathLike[str] | None) -> PairList:
    """Pairs from CSV text: rows ``a,b,same``, an optional header row (one whose ``same`` cell is not a truth value)."""
    root = Path(images) if images is not None else path.parent
    pairs = []
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    for n, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise DataError(f"row {n}: expected 3 columns a,b,same, found {len(row)}", str(path))
        a, b, flag = (c.strip() for c in row)
        key = flag.lower()
        if key not in _TRUE | _FALSE:
            if n == 1 and not pairs:  # a header row
                continue
            raise DataError(f"row {n}: same must be 1/0, true/false or yes/no, not {flag!r}", str(path))
        pairs.append((str(root / a), str(root / b), key in _TRUE))
    if not pairs:
        raise DataError("no pairs in the file", str(path))
    return PairList(pairs, 1)


def read_pairs(pairs_file: str | os.PathLike[str], images: str | os.PathLike[str] | None, ext: str = "jpg") -> PairList:
    """Read a pairs file, CSV or LFW-style; ``images`` is the folder the image names are relative to."""
    path = Path(pairs_file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read pairs file ({getattr(e, 'strerror', None) or e})", str(path)) from None
    if _is_csv(path, text):
        return read_pairs_csv(path, text, images)
    if images is None:
        raise DataError("an LFW-style pairs file needs the images folder", str(path))
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    folds, first = 1, 1
    if lines and all(t.isdigit() for t in lines[0]) and len(lines[0]) in (1, 2):
        header = lines.pop(0)
        first = 2
        if len(header) == 2:
            folds = int(header[0])
    root = Path(images)
    pairs = []
    for n, t in enumerate(lines, start=first):
        if len(t) == 3:
            a, i, j = t
            b = a
        elif len(t) == 4:
            a, i, b, j = t
        else:
            raise DataError(f"line {n}: expected 3 or 4 fields, found {len(t)}", str(path))
        try:
            pa = root / a / f"{a}_{int(i):04d}.{ext}"
            pb = root / b / f"{b}_{int(j):04d}.{ext}"
        except ValueError:
            raise DataError(f"line {n}: image numbers must be integers", str(path)) from None
        pairs.append((str(pa), str(pb), a == b))
    if not pairs:
        raise DataError("no pairs in the file", str(path))
    if folds > 1 and len(pairs) % folds:
        raise DataError(f"{len(pairs)} pairs do not split into {folds} folds", str(path))
    return PairList(pairs, folds)


@dataclass
class PairScores:
    """Similarity of every pair, whether it is the same person, and the images that failed (path → reason)."""

    scores: np.ndarray
    same: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)


def score_pairs(
    pairs: PairList,
    embed: Callable[[str], np.ndarray],
    progress: Callable[[int, int], None] | None = None,
) -> PairScores:
    """Embed each distinct image once (``embed(path)`` raises an ``EmolensError`` on failure) and score pairs."""
    paths = sorted({p for a, b, _ in pairs.pairs for p in (a, b)})
    vecs: dict[str, np.ndarray | None] = {}
    failed: dict[str, str] = {}
    for k, p in enumerate(paths):
        try:
            vecs[p] = embed(p)
        except EmolensError as e:
            vecs[p] = None
            failed[p] = e.message
        if progress is not None:
            progress(k + 1, len(paths))
    scores = np.empty(len(pairs.pairs), np.float64)
    for n, (a, b, _) in enumerate(pairs.pairs):
        va, vb = vecs[a], vecs[b]
        scores[n] = MISSING_SCORE if va is None or vb is None else float(va @ vb)
    same = np.array([s for _, _, s in pairs.pairs], bool)
    return PairScores(scores, same, failed)


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy (midpoint between neighbouring scores); failed pairs ignored."""
    ok = scores != MISSING_SCORE
    scores, same = scores[ok], same[ok]
    s = np.sort(np.unique(scores))
    cands = np.r_[s[0] - 1e-6, (s[1:] + s[:-1]) / 2, s[-1] + 1e-6]
    acc = [((scores >= t) == same).mean() for t in cands]
    return float(cands[int(np.argmax(acc))])


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs judged right at ``threshold``; a pair with a failed image is always wrong."""
    right = ((scores >= threshold) == same) & (scores != MISSING_SCORE)
    return float(right.mean())


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve (probability that a same pair outscores a different pair; ties count half)."""
    pos, neg = scores[same], scores[~same]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.r_[pos, neg], kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.r_[pos, neg][order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float = 1e-3) -> tuple[float, float]:
    """True accept rate at the strictest threshold whose false accept rate is at most ``far``; and that threshold.

    With ``n`` different-person pairs, FAR can only take steps of ``1/n``: at ``far=1e-3`` and 3,000 pairs, at
    most 3 false accepts are allowed.
    """
    neg = np.sort(scores[~same])[::-1]
    k = int(np.floor(far * len(neg)))
    thr = float(neg[k]) + 1e-9 if k < len(neg) else float(neg[-1])
    return float((scores[same] >= thr).mean()), thr


def evaluate_pairs(ps: PairScores, folds: int, threshold: float | None = None) -> dict[str, Any]:
    """Verification figures for scored pairs (see the module docstring for the protocol)."""
    out: dict[str, Any] = {
        "pairs": len(ps.scores),
        "same": int(ps.same.sum()),
        "different": int((~ps.same).sum()),
        "failed_images": len(ps.failed),
        "pairs_with_failed_image": int((ps.scores == MISSING_SCORE).sum()),
        "roc_auc": roc_auc(ps.scores, ps.same),
    }
    tar, thr = tar_at_far(ps.scores, ps.same, 1e-3)
    out["tar_at_far_1e-3"] = tar
    out["threshold_at_far_1e-3"] = thr
    if folds > 1 and threshold is None:
        n = len(ps.scores) // folds
        accs, thrs = [], []
        for k in range(folds):
            test = np.zeros(len(ps.scores), bool)
            test[k * n : (k + 1) * n] = True
            t = best_threshold(ps.scores[~test], ps.same[~test])
            thrs.append(t)
            accs.append(accuracy(ps.scores[test], ps.same[test], t))
        out.update(
            protocol=f"{folds}-fold: threshold chosen on {folds - 1} folds, tested on the remaining one",
            accuracy_mean=float(np.mean(accs)),
            accuracy_std=float(np.std(accs)),
            fold_accuracies=accs,
            fold_thresholds=thrs,
        )
    else:
        if threshold is None:
            raise ValueError("a pairs file without folds needs a threshold")
        out.update(
            protocol="fixed threshold",
            threshold=threshold,
            accuracy=accuracy(ps.scores, ps.same, threshold),
            best_threshold_on_this_set=best_threshold(ps.scores, ps.same),
        )
        if folds > 1:  # the given threshold on each fold, for comparison with the fold protocol
            n = len(ps.scores) // folds
            accs = [
                accuracy(ps.scores[k * n : (k + 1) * n], ps.same[k * n : (k + 1) * n], threshold) for k in range(folds)
            ]
            out.update(fold_accuracies=accs, accuracy_mean=float(np.mean(accs)), accuracy_std=float(np.std(accs)))
    return out


# --------------------------------------------------------------------------------------------------- ORL pairs


def orl_pairs(root: str | os.PathLike[str], folds: int = 10, seed: int = 0) -> PairList:
    """Verification pairs on ORL / AT&T, built deterministically, in ``folds`` person-disjoint folds (as LFW View 2).

    Fold ``k`` holds the people ``s{4k+1}`` .. ``s{4k+4}`` (40 people, 10 folds): every same-person pair of their
    images (4 x 45 = 180) and as many different-person pairs, drawn without replacement (NumPy
    ``default_rng(seed + k)``) from the 600 pairs of images of two different people of the fold, listed in
    order (person, image, person, image). 3,600 pairs in all, same and different alternating in blocks per fold.
    """
    root = Path(root)
    per = 40 // folds
    pairs: list[tuple[str, str, bool]] = []
    for k in range(folds):
        people = [f"s{k * per + i + 1}" for i in range(per)]
        imgs = {p: [str(root / p / f"{i}.pgm") for i in range(1, 11)] for p in people}
        same = [(imgs[p][i], imgs[p][j], True) for p in people for i in range(10) for j in range(i + 1, 10)]
        diff = [
            (imgs[p][i], imgs[q][j], False)
            for x, p in enumerate(people)
            for q in people[x + 1 :]
            for i in range(10)
            for j in range(10)
        ]
        pick = np.sort(np.random.default_rng(seed + k).choice(len(diff), size=len(same), replace=False))
        pairs += same + [diff[i] for i in pick]
    return PairList(pairs, folds)


# --------------------------------------------------------------------------------------------------- pooled sets


def pooled_threshold(sets: list[PairScores]) -> float:
    """The threshold with the highest mean of the sets' accuracies (each set weighs the same, whatever its size)."""
    ok = [s.scores[s.scores != MISSING_SCORE] for s in sets]
    v = np.sort(np.unique(np.concatenate(ok)))
    cands = np.r_[v[0] - 1e-6, (v[1:] + v[:-1]) / 2, v[-1] + 1e-6]
    mean_acc = np.zeros(len(cands))
    for s, sc in zip(sets, ok, strict=True):
        same = s.same[s.scores != MISSING_SCORE]
        # accuracy at each candidate: same pairs at or above it plus different pairs below it
        pos, neg = np.sort(sc[same]), np.sort(sc[~same])
        right = (len(pos) - np.searchsorted(pos, cands, "left")) + np.searchsorted(neg, cands, "left")
        mean_acc += right / len(sc) / len(sets)
    return float(cands[int(np.argmax(mean_acc))])


def fit_same_probability(sets: list[PairScores], iters: int = 50) -> tuple[float, float]:
    """Logistic ``P(same) = 1 / (1 + exp(-(a * cosine + b)))`` by maximum likelihood (Newton), sets weighted equally."""
    xs, ys, ws = [], [], []
    for s in sets:
        ok = s.scores != MISSING_SCORE
        xs.append(s.scores[ok])
        ys.append(s.same[ok].astype(float))
        ws.append(np.full(int(ok.sum()), 1.0 / ok.sum()))
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    design = np.c_[x, np.ones_like(x)]
    beta = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(design @ beta)))
        g = design.T @ (w * (y - p))
        h = (design * (w * p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def expected_calibration_error(prob: np.ndarray, same: np.ndarray, bins: int = 10) -> float:
    """ECE of a same-person probability: |mean probability - share same| per equal-width bin, weighted by size."""
    return calibration_error(prob, same, bins)
