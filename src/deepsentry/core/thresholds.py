"""Choosing an operating threshold from validation scores.

A detector alerts when ``score > threshold``. Thresholds are always chosen on validation data carved
from the training data, never on a test set.

A target false-positive rate is a promise about new benign data, not about the validation rows the
threshold was read from: with ``n`` validation scores, a new benign score exceeds the ``k``-th largest
of them with probability ``k / (n + 1)`` (exchangeability, as in split conformal prediction), so the
threshold is the ``k``-th largest score for the largest ``k`` with ``k / (n + 1) <= target_fpr``. On
a few hundred validation rows this is a whole order statistic stricter than the validation quantile
(at 0.5% and 390 rows: the largest score instead of the second largest, an expected rate of 0.26%
instead of 0.51%); on tens of thousands it is the same threshold.

>>> import numpy as np
>>> benign = np.linspace(0.0, 1.0, 1001)
>>> float(threshold_at_fpr(benign, 0.01))
0.991
>>> float((benign > threshold_at_fpr(benign, 0.01)).mean()) <= 0.01
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, InputError

RULES = ("target_fpr", "max_f1", "balanced")


def threshold_at_fpr(benign_scores: np.ndarray, target_fpr: float) -> float:
    """Smallest validation score whose expected false-positive rate on new benign data (drawn like
    ``benign_scores``) is at most ``target_fpr``; the largest score when there are too few scores
    to promise the target (fewer than ``1 / target_fpr - 1``)."""
    if not 0.0 <= target_fpr < 1.0:
        raise ConfigError(f"target_fpr must be in [0, 1), got {target_fpr!r}")
    scores = np.sort(np.asarray(benign_scores, dtype=np.float64))
    if scores.size == 0:
        raise InputError("no benign rows to choose a threshold from")
    # The k-th largest score (k >= 1) leaves k - 1 validation scores strictly above it and is
    # exceeded by a new benign score with probability k / (n + 1).
    k = max(int(np.floor(target_fpr * (scores.size + 1) + 1e-9)), 1)
    return float(scores[scores.size - k])


def _counts_above(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score t (a candidate threshold): true and false positives of ``score > t``.

    The smallest score minus one is a candidate too, so "alert on everything" can be chosen.
    """
    candidates = np.unique(scores)
    candidates = np.r_[candidates[0] - 1.0, candidates]
    pos, neg = np.sort(scores[y]), np.sort(scores[~y])
    tp = len(pos) - np.searchsorted(pos, candidates, side="right")
    fp = len(neg) - np.searchsorted(neg, candidates, side="right")
    return candidates, tp, fp


def threshold_max_f1(scores: np.ndarray, y: np.ndarray) -> float:
    """Threshold maximising F1 of the malicious class; ties go to the higher threshold (fewer alerts)."""
    y = np.asarray(y).astype(bool)
    candidates, tp, fp = _counts_above(np.asarray(scores, dtype=np.float64), y)
    f1 = 2 * tp / np.maximum(tp + fp + y.sum(), 1)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(candidates[best])


def threshold_balanced(scores: np.ndarray, y: np.ndarray) -> float:
    """Threshold maximising balanced accuracy (Youden's J); ties go to the higher threshold."""
    y = np.asarray(y).astype(bool)
    candidates, tp, fp = _counts_above(np.asarray(scores, dtype=np.float64), y)
    j = tp / max(y.sum(), 1) - fp / max((~y).sum(), 1)
    best = np.flatnonzero(j == j.max())[-1]
    return float(candidates[best])


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and the rule that chose it, stored in the model bundle."""

    threshold: float
    rule: str
    target_fpr: float | None
    validation_fpr: float
    validation_detection_rate: float | None  # None when validation holds no malicious rows

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "rule": self.rule,
            "target_fpr": self.target_fpr,
            "validation_fpr": self.validation_fpr,
            "validation_detection_rate": self.validation_detection_rate,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ThresholdChoice":
        return cls(
            threshold=float(data["threshold"]),
            rule=str(data["rule"]),
            target_fpr=None if data.get("target_fpr") is None else float(data["target_fpr"]),
            validation_fpr=float(data["validation_fpr"]),
            validation_detection_rate=None if data.get("validation_detection_rate") is None
            else float(data["validation_detection_rate"]),
        )


def choose_threshold(
    scores: np.ndarray, y: np.ndarray, *, rule: str = "target_fpr", target_fpr: float = 0.01
) -> ThresholdChoice:
    """Choose a threshold on validation ``scores`` with binary labels ``y`` (1 = malicious).

    ``target_fpr``: the lowest validation score whose expected false-positive rate on new benign
    data is <= target_fpr (see the module docstring).
    ``max_f1``: the threshold maximising F1 on validation.
    ``balanced``: the threshold maximising balanced accuracy (TPR - FPR) on validation.
    """
    if rule not in RULES:
        raise ConfigError(f"unknown threshold rule {rule!r}", hint=f"choose one of {', '.join(RULES)}")
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    if y.sum() == len(y):
        raise InputError("validation data holds no benign rows; cannot choose a threshold")
    if rule == "target_fpr":
        threshold = threshold_at_fpr(scores[~y], target_fpr)
    elif rule == "max_f1":
        if not y.any():
            raise InputError("validation data holds no malicious rows; use rule target_fpr")
        threshold = threshold_max_f1(scores, y)
    else:
        if not y.any():
            raise InputError("validation data holds no malicious rows; use rule target_fpr")
        threshold = threshold_balanced(scores, y)
    alerts = scores > threshold
    return ThresholdChoice(
        threshold=threshold,
        rule=rule,
        target_fpr=target_fpr if rule == "target_fpr" else None,
        validation_fpr=float(alerts[~y].mean()),
        validation_detection_rate=float(alerts[y].mean()) if y.any() else None,
    )

