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
    # and it is the lowest such threshold among the observed scores
    lower = scores[scores < threshold]
    if lower.size:
        assert (scores > lower.max()).mean() > target


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
