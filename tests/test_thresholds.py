import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepsentry.core.errors import ConfigError, InputError
from deepsentry.core.thresholds import choose_threshold, threshold_at_fpr


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
       st.floats(0.0, 0.99))
def test_threshold_at_fpr_never_exceeds_target(scores, target):
    scores = np.array(scores)
    threshold = threshold_at_fpr(scores, target)
    assert (scores > threshold).mean() <= target + 1e-12
    # it is the k-th largest score for the largest k with k / (n + 1) <= target (or the largest)
    k = max(int(np.floor(target * (len(scores) + 1) + 1e-9)), 1)
    assert threshold == np.sort(scores)[len(scores) - k]


def test_target_fpr_holds_on_new_benign_data():
    """The rate promised is the rate on data the threshold never saw: averaged over many validation
    draws, fresh benign scores exceed it at most target_fpr of the time. The validation quantile
    (the lowest threshold with at most 5% of the 200 validation scores above) misses by 0.5 points."""
    rng = np.random.default_rng(0)
    target, n = 0.05, 200
    thresholds = np.array([threshold_at_fpr(rng.random(n), target) for _ in range(4000)])
    fresh_rate = float(np.mean(1.0 - thresholds))  # uniform scores: P(new > t) = 1 - t
    assert target - 0.003 <= fresh_rate <= target
    validation_quantile = np.sort(rng.random((4000, n)), axis=1)[:, n - 1 - int(target * n)]
    assert np.mean(1.0 - validation_quantile) > target + 0.003


def test_rules_on_separable_data():
    y = np.r_[np.zeros(100), np.ones(50)].astype(int)
    scores = np.r_[np.linspace(0, 1, 100), np.linspace(2, 3, 50)]
    for rule in ("max_f1", "balanced"):
        choice = choose_threshold(scores, y, rule=rule)
        assert choice.validation_fpr == 0.0 and choice.validation_detection_rate == 1.0
    choice = choose_threshold(scores, y, rule="target_fpr", target_fpr=0.1)
    assert choice.validation_fpr <= 0.1
    assert choice.threshold < 1.0  # allowed 10% FP below the benign maximum


def test_bad_parameters_and_data():
    with pytest.raises(ConfigError, match="unknown threshold rule"):
        choose_threshold(np.zeros(3), np.zeros(3), rule="magic")
    with pytest.raises(ConfigError, match="target_fpr"):
        threshold_at_fpr(np.zeros(3), 1.5)
    with pytest.raises(InputError, match="no benign"):
        choose_threshold(np.zeros(3), np.ones(3))
