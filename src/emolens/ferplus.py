"""FER+ crowd votes (10 per FER2013 image): soft labels for training and the 'majority' test protocol.

Vote columns, in the order of FER+ ``fer2013new.csv``: neutral, happiness, surprise, sadness, anger, disgust,
fear, contempt, unknown, NF (not a face). Our 8-class order is FER2013's with contempt appended as 7.
"""

from __future__ import annotations

import numpy as np

#: FER+ vote column k (k < 8) is our label ``FERPLUS_TO_OURS[k]``.
FERPLUS_TO_OURS = np.array([6, 3, 5, 4, 0, 1, 2, 7])


def ferplus_distribution(votes: np.ndarray, drop_single: bool = True) -> np.ndarray:
    """Vote counts ``[N, 10]`` to 8-class distributions in our order (unknown and NF dropped).

    With ``drop_single`` emotions that got one vote are dropped first (FER+'s outlier removal); rows left with
    no emotion votes get a zero row.
    """
    v = votes[:, :8].astype(np.float64)
    if drop_single:
        v = np.where(v <= 1, 0, v)
    ours = np.zeros_like(v)
    ours[:, FERPLUS_TO_OURS] = v
    total = ours.sum(1, keepdims=True)
    return np.divide(ours, total, out=np.zeros_like(ours), where=total > 0).astype(np.float32)


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """The FER+ 'majority' label of each row (our order), or -1 for rows the protocol leaves out.

    As in the FER+ reference code: votes of 1 are dropped (all 10 columns), then a row is kept when one column
    holds more than half of the remaining votes, unknown and NF included, and that column is one of the 8
    emotions. On FER2013 PrivateTest this keeps 3,152 of the 3,573 rows present.
    """
    v = votes.astype(np.float64)
    v = np.where(v <= 1, 0, v)
    top = v.argmax(1)
    keep = (v.max(1) > 0.5 * v.sum(1)) & (top < 8)
    return np.where(keep, FERPLUS_TO_OURS[np.minimum(top, 7)], -1)


def ferplus_plurality(votes: np.ndarray) -> np.ndarray:
    """Each row's emotion with the largest share of the votes (our order; ties go to the lower label), or -1
    where no emotion keeps a vote after single votes are dropped.

    Unlike the majority protocol this keeps the ambiguous rows, so it is the population a model meets in use;
    training validates FER+ models on these labels, and their temperature is fitted on them.
    """
    d = ferplus_distribution(votes)
    return np.where(d.sum(1) > 0, d.argmax(1), -1)
