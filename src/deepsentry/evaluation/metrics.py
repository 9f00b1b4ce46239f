"""Security metrics: not accuracy alone.

>>> import numpy as np
>>> y = np.array([0, 0, 0, 1, 1])
>>> scores = np.array([0.1, 0.2, 0.9, 0.8, 0.95])
>>> m = binary_metrics(y, scores, threshold=0.5)
>>> m["recall"], m["false_positive_rate"]
(1.0, 0.3333333333333333)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    roc_auc_score,
    roc_curve,
)


def detection_rate_at_fpr(y: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """Highest detection rate (recall) reachable with a false-positive rate of at most ``fpr``.

    This reads the ROC curve of the evaluated data: it describes the ranking, not the deployed
    threshold (whose own rates are reported separately).
    """
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return float("nan")
    curve_fpr, curve_tpr, _ = roc_curve(y, scores)
    ok = curve_fpr <= fpr + 1e-12
    return float(curve_tpr[ok].max()) if ok.any() else 0.0


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Metrics of 0/1 alerts at ``threshold`` plus threshold-free ranking metrics."""
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    alert = (scores > threshold).astype(int)
    both = 0 < y.sum() < len(y)
    tn, fp, fn, tp = confusion_matrix(y, alert, labels=[0, 1]).ravel()
    return {
        "rows": int(len(y)),
        "malicious_rows": int(y.sum()),
        "threshold": float(threshold),
        "accuracy": float((alert == y).mean()),
        "precision": float(precision_score(y, alert, zero_division=0)),
        # undefined (None) where the rows hold no attacks, or no benign rows (a time-ordered fold, a
        # capture of one kind): a 0 there would pull a mean over folds down, or up, for nothing
        "recall": float(tp / (tp + fn)) if tp + fn else None,
        "f1": float(f1_score(y, alert, zero_division=0)),
        "false_positive_rate": float(fp / (fp + tn)) if fp + tn else None,
        # the mean of detection rate and benign pass rate: not swayed by the attack share of a fold
        "balanced_accuracy": float((tp / max(tp + fn, 1) + tn / max(tn + fp, 1)) / 2) if both else None,
        "roc_auc": float(roc_auc_score(y, scores)) if both else None,
        "pr_auc": float(average_precision_score(y, scores)) if both else None,
        "detection_rate_at_1pct_fpr": detection_rate_at_fpr(y, scores, 0.01) if both else None,
        "detection_rate_at_0.1pct_fpr": detection_rate_at_fpr(y, scores, 0.001) if both else None,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def class_metrics(true_classes: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Per-class recall, macro-F1 and the confusion matrix over class names."""
    true_classes = np.asarray(true_classes).astype(str)
    predicted = np.asarray(predicted).astype(str)
    labels = sorted(set(true_classes) | set(predicted))
    with warnings.catch_warnings():  # one class in a fold is a fact of the data, not a misuse
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        matrix = confusion_matrix(true_classes, predicted, labels=labels)
    recall = {name: float(matrix[i, i] / matrix[i].sum()) for i, name in enumerate(labels) if matrix[i].sum()}
    present = sorted(set(true_classes))
    return {
        "classes": labels,
        "per_class_recall": recall,
        "macro_f1": float(f1_score(true_classes, predicted, labels=present, average="macro", zero_division=0)),
        "accuracy": float((true_classes == predicted).mean()),
        "confusion_matrix": matrix.tolist(),
    }


def group_detection(groups: np.ndarray, alert: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of rows alerted per group (e.g. per raw attack name)."""
    groups = np.asarray(groups).astype(str)
    out = {}
    for name in sorted(set(groups)):
        mask = groups == name
        out[name] = {"rows": int(mask.sum()), "alerted": float(np.asarray(alert)[mask].mean())}
    return out
