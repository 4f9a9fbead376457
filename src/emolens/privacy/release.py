"""Differentially private counts and histograms of the event log, with a privacy budget per gallery.

A histogram leaves the system as noisy counts: each person contributes at most ``max_per_person`` rows (their
first ones in time; faces with no enrolled identity count as one person per source and track), so adding or
removing one person changes the vector of counts by at most ``max_per_person`` in L1 norm, and the discrete
Laplace mechanism of OpenDP with scale ``max_per_person / ε`` makes the release ε-differentially private
(OpenDP's privacy map computes the ε from the scale and the sensitivity; it is what is charged). The bins are
fixed in advance (the emotion labels, the 24 hours, the weekdays), so which bins exist says nothing about anyone.

Every release is charged to the gallery's ledger (``SQLiteStore.charge_privacy``): the ε of all releases from
one gallery add up (basic sequential composition), and a release that would go over the gallery's budget is
refused with :class:`~emolens.errors.PrivacyBudgetError` before any noise is drawn.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from emolens.errors import ConfigError, MissingExtraError
from emolens.labels import FERPLUS

#: The histograms a release can be made over, and their fixed bins.
BINS: dict[str, tuple[str, ...]] = {
    "emotion": tuple(FERPLUS),
    "hour": tuple(f"{h:02d}" for h in range(24)),
    "weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}


#: The ε a single release may spend: below the lower bound the noise dwarfs any count; above the upper one a
#: release is barely private.
MIN_EPSILON, MAX_EPSILON = 1e-3, 10.0


def _opendp():
    try:
        import opendp.prelude as dp
    except ImportError:
        raise MissingExtraError("opendp", "privacy") from None
    dp.enable_features("contrib")
    return dp


def laplace_measurement(bins: int, scale: float):
    """OpenDP's discrete Laplace mechanism on a vector of ``bins`` integer counts with L1 sensitivity."""
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=int), size=bins), dp.l1_distance(T=int)
    return dp.m.make_laplace(*space, scale=scale)


def epsilon_of(bins: int, scale: float, sensitivity: int) -> float:
    """The ε that OpenDP's privacy map gives the mechanism for an L1 sensitivity of ``sensitivity``."""
    return float(laplace_measurement(bins, scale).map(sensitivity))


def person_key(row: dict[str, Any]) -> str:
    """Whose row this is: the enrolled name, or (for unknown faces) one pseudo-person per source and track."""
    identity = row.get("identity")
    if identity and identity != "unknown":
        return f"id:{identity}"
    return f"track:{row.get('source')}:{row.get('track')}:{row.get('id') if row.get('track') is None else ''}"


def bound_contributions(rows: Iterable[dict[str, Any]], max_per_person: int) -> list[dict[str, Any]]:
    """The first ``max_per_person`` rows of each person, in time order."""
    if max_per_person < 1:
        raise ConfigError("max_per_person must be at least 1")
    seen: dict[str, int] = defaultdict(int)
    kept = []
    for r in sorted(rows, key=lambda r: (r.get("time") or 0, r.get("id") or 0)):
        k = person_key(r)
        if seen[k] < max_per_person:
            seen[k] += 1
            kept.append(r)
    return kept


def _bin_of(row: dict[str, Any], by: str) -> str | None:
    if by == "emotion":
        return row.get("emotion")
    t = dt.datetime.fromtimestamp(float(row["time"]))
    return f"{t.hour:02d}" if by == "hour" else BINS["weekday"][t.weekday()]


def true_counts(rows: Iterable[dict[str, Any]], by: str) -> list[int]:
    bins = BINS[by]
    index = {b: i for i, b in enumerate(bins)}
    counts = [0] * len(bins)
    for r in rows:
        i = index.get(_bin_of(r, by))  # a label outside the fixed bins is dropped
        if i is not None:
            counts[i] += 1
    return counts


@dataclass(frozen=True)
class Release:
    """Noisy counts per bin, and what they cost."""

    by: str
    bins: tuple[str, ...]
    counts: tuple[int, ...]
    epsilon: float
    scale: float
    max_per_person: int
    mechanism: str = "discrete Laplace (OpenDP)"
    budget_left: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "counts": dict(zip(self.bins, self.counts, strict=True)),
            "epsilon": self.epsilon,
            "noise_scale": self.scale,
            "max_per_person": self.max_per_person,
            "mechanism": self.mechanism,
            "budget_left": self.budget_left,
        }


def private_histogram(
    rows: Sequence[dict[str, Any]],
    by: str,
    epsilon: float,
    max_per_person: int = 10,
    charge: Callable[[float, str], float] | None = None,
) -> Release:
    """An ε-DP histogram of ``rows`` (event rows) over the fixed bins of ``by``.

    ``charge(epsilon, query)`` is called with the mechanism's ε before any noise is drawn (the gallery ledger's
    charge, which raises ``PrivacyBudgetError`` when it would go over budget) and returns the budget left."""
    if by not in BINS:
        raise ConfigError(f"a private histogram is over {', '.join(BINS)}, not {by!r}")
    if not MIN_EPSILON <= epsilon <= MAX_EPSILON:
        raise ConfigError(f"--dp-epsilon must be between {MIN_EPSILON:g} and {MAX_EPSILON:g}, not {epsilon:g}")
    bins = BINS[by]
    scale = max_per_person / epsilon
    meas = laplace_measurement(len(bins), scale)
    spent = float(meas.map(max_per_person))
    left = charge(spent, f"histogram by {by}, at most {max_per_person} rows a person") if charge else None
    counts = true_counts(bound_contributions(rows, max_per_person), by)
    noisy = [max(0, int(v)) for v in meas(counts)]  # clamping at 0 is post-processing: no extra cost
    return Release(by, bins, tuple(noisy), spent, scale, max_per_person, budget_left=left)
