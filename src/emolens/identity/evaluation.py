"""Face verification on pair lists in the LFW layout: accuracy (10-fold or with a given threshold), ROC AUC, TAR@FAR.

A pairs file has one pair a line: ``name<TAB>i<TAB>j`` (same person) or ``name1<TAB>i<TAB>name2<TAB>j``
(different people), image ``i`` of ``name`` being ``DIR/name/name_%04d.jpg``. The first line may be a header:
``N`` (one set) or ``FOLDS<TAB>N`` (``FOLDS`` folds of ``N`` same and ``N`` different pairs, as in LFW's
pairs.txt). With folds, each fold's threshold is the one that is most accurate on the other folds (the LFW
protocol); the mean and standard deviation of the fold accuracies are reported.

A pair whose image cannot be read, or in which no face is found, counts as an error in every accuracy figure
(whatever the pair is), is left out when thresholds are chosen, and gets the lowest possible score in the
ROC AUC and TAR@FAR figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import DataError, EmolensError

MISSING_SCORE = -2.0  # below any cosine similarity


@dataclass(frozen=True)
class PairList:
    pairs: list[tuple[str, str, bool]]  # path A, path B, same person
    folds: int  # 1 when the file has no folds


def read_pairs(pairs_file: str | os.PathLike[str], images: str | os.PathLike[str], ext: str = "jpg") -> PairList:
    """Read an LFW-style pairs file; ``images`` is the folder of per-person sub-folders."""
    path = Path(pairs_file)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError as e:
        raise DataError(f"cannot read pairs file ({e.strerror})", str(path)) from None
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
    if folds > 1:
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
    return out
