import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emolens.labels import FER2013
from emolens.metrics import classification_report, expected_calibration_error, fit_temperature, mcnemar


def test_report_counts_and_f1_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, -1])  # one miss, one "no face"
    r = classification_report(y, p, ("a", "b", "c"))
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.errors == 1
    assert r.confusion == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert r.per_class["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667, abs=1e-4), "support": 2}
    assert r.per_class["b"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.8 + 2 / 3) / 3, abs=1e-4)


def test_ece_zero_when_confidence_matches_accuracy():
    # 10 samples at confidence 0.7 of which 7 right: perfectly calibrated bin.
    probs = np.tile([0.7, 0.3], (10, 1))
    y = np.array([0] * 7 + [1] * 3)
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(probs, np.ones(10, dtype=int)) == pytest.approx(0.7)


def test_report_mean_confidence_skips_rows_without_a_prediction():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.0, 0.0]])
    r = classification_report(np.array([0, 1, 1]), np.array([0, 0, -1]), ("a", "b"), probs=probs)
    assert r.confidence == pytest.approx(0.75)  # the no-face row is left out, not counted as confidence 0
    assert r.to_dict()["mean_confidence"] == 0.75
    assert classification_report(np.array([0]), np.array([0]), ("a", "b")).confidence is None


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_temperature_recovers_scale(seed):
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(4000, len(FER2013))) * 2
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(len(FER2013), p=row) for row in p])
    # An over-confident model: logits three times too large; the fitted temperature undoes it.
    t = fit_temperature(true_logits * 3, y)
    assert 2.4 < t < 3.6


def test_mcnemar_exact_p_by_hand():
    a = np.array([True] * 10 + [False] * 5)
    # No row only a gets right, 5 only b gets right: p = 2 * (1/2)^5.
    c = mcnemar(a, np.ones(15, bool))
    assert (c.only_a_right, c.only_b_right) == (0, 5) and c.p_value == pytest.approx(2 / 2**5)
    same = mcnemar(a, a)
    assert (same.only_a_right, same.only_b_right, same.p_value) == (0, 0, 1.0)
    # 52 against 67 discordant rows (two FER+ models on PublicTest): p = 0.19916 (scipy's binomtest).
    x, y = np.zeros(119, bool), np.zeros(119, bool)
    x[:52], y[52:] = True, True
    assert mcnemar(x, y).p_value == pytest.approx(0.199158, abs=1e-6)
    with pytest.raises(ValueError):
        mcnemar(a, a[:3])


def test_weighted_temperature_lets_each_source_count_alike():
    rng = np.random.default_rng(0)

    def source(n, scale):  # logits whose right temperature is `scale`
        y = rng.integers(0, 3, n)
        z = rng.normal(size=(n, 3))
        z[np.arange(n), y] += 1.5
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        y = np.array([rng.choice(3, p=row) for row in p])
        return z * scale, y

    big, small = source(4000, 2.0), source(400, 0.5)
    logits = np.concatenate([big[0], small[0]])
    y = np.concatenate([big[1], small[1]])
    assert fit_temperature(logits, y, np.ones(len(y))) == pytest.approx(fit_temperature(logits, y), rel=1e-6)
    pooled = fit_temperature(logits, y)
    alike = fit_temperature(logits, y, np.r_[np.full(4000, 1 / 4000), np.full(400, 1 / 400)])
    t_big, t_small = fit_temperature(*big), fit_temperature(*small)
    assert t_small < alike < pooled < t_big  # the small source pulls the shared temperature its way
