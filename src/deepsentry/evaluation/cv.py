"""Cross-validation of any detector on table rows (log sequences are rows too, see ``log_folds``):
per-fold security metrics, mean and standard deviation, a fold-by-fold plot and the same
``report.html`` as ``evaluate``.

Each fold trains a fresh detector on the training folds only (its threshold is chosen on a
validation split carved from them, augmentation happens inside them) and scores the held-out fold.

>>> from deepsentry.evaluation.splits import SplitConfig, make_splits     # doctest: +SKIP
>>> plan = make_splits(X, y, SplitConfig(folds=5, seed=0))                # doctest: +SKIP
>>> result = cross_validate(plan, lambda seed: FlowDetector(DetectorConfig(seed=seed)))  # doctest: +SKIP
>>> result["summary"]["pr_auc"]["mean"]                                   # doctest: +SKIP
0.98...
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.backend import import_keras
from ..core.errors import DeepSentryError
from .metrics import binary_metrics, class_metrics
from .splits import SplitPlan

SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "false_positive_rate", "roc_auc", "pr_auc",
                "detection_rate_at_1pct_fpr", "detection_rate_at_0.1pct_fpr", "macro_f1")


def fold_metrics(detector: Any, X_test: Any, y_test: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of a fitted detector on a held-out fold; also returns scores minus its threshold."""
    out = detector.score_features(detector.transform(X_test))
    benign = detector.benign_class_
    malicious = (y_test != benign).astype(np.int8)
    metrics = binary_metrics(malicious, out["score"], detector.threshold_.threshold)
    if "predicted" in out:
        truth = y_test if detector.multiclass_ else np.where(malicious == 1, detector.attack_class_, benign)
        classes = class_metrics(np.asarray(truth, dtype=object), out["predicted"])
        metrics["macro_f1"] = classes["macro_f1"]
        metrics["per_class_recall"] = classes["per_class_recall"]
    return metrics, out["score"] - detector.threshold_.threshold


def clear_keras() -> None:
    """Free the previous model's graph and memory before the next one is built."""
    keras = import_keras()
    try:
        keras.backend.clear_session(free_memory=True)
    except TypeError:  # older Keras without free_memory
        keras.backend.clear_session()
    gc.collect()


def _fold_hint(config: Any) -> str | None:
    if config.strategy == "stratified":
        return None
    how = {"group": f"grouped by {config.group_column!r}", "time": f"in order of {config.time_column!r}",
           "novel": "by attack type"}.get(config.strategy, config.strategy)
    return (f"folds split {how} can leave a fold's training rows without a class that the whole data has; "
            "try fewer --folds" + (" or another --group-column" if config.strategy == "group" else ""))


def cross_validate(plan: SplitPlan, make_detector: Callable[[int], Any], *,
                   benign_labels: tuple[str, ...] = ("normal", "benign", "0"),
                   progress: Any = None) -> dict[str, Any]:
    """Train ``make_detector(seed)`` on each fold's training rows and score its test rows."""
    folds, margins, truth = [], np.zeros(len(plan.y)), np.zeros(len(plan.y), dtype=np.int8)
    if progress is not None:
        progress.start("cross-validation folds", len(plan.folds))
    for k, (train, test) in enumerate(plan.folds):
        started = time.perf_counter()
        detector = make_detector(plan.config.seed + k)
        try:
            detector.fit(plan.X.iloc[train], plan.y[train], benign_labels=benign_labels)
        except DeepSentryError as exc:  # which fold, and why a fold may lack what the whole data has
            raise exc.within(f"fold {k + 1} of {len(plan.folds)} ({len(train)} training rows)",
                             _fold_hint(plan.config)) from None
        metrics, margin = fold_metrics(detector, plan.X.iloc[test], plan.y[test])
        metrics.update(fold=k, train_rows=int(len(train)), test_rows=int(len(test)),
                       seconds=round(time.perf_counter() - started, 2),
                       threshold=detector.threshold_.threshold,
                       augmented=getattr(detector.summary_, "augmented", 0))  # log models: none
        if getattr(detector, "model_", None) is not None:  # log models: the model ``auto`` kept
            metrics["model"] = detector.model_
        folds.append(metrics)
        margins[test] = margin
        truth[test] = (plan.y[test] != detector.benign_class_).astype(np.int8)
        del detector
        clear_keras()
        if progress is not None:
            progress.advance(pr_auc=metrics.get("pr_auc"))
    if progress is not None:
        progress.finish()
    tested = np.zeros(len(plan.y), dtype=bool)
    for _, test in plan.folds:
        tested[test] = True
    return {"plan": plan.describe(), "folds": folds, "summary": summarise(folds),
            "out_of_fold": {"margins": margins[tested], "malicious": truth[tested]}}


def summarise(folds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation of each metric over the folds."""
    summary = {}
    for key in SUMMARY_KEYS:
        values = [f[key] for f in folds if f.get(key) is not None]
        if values:
            summary[key] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
    names = sorted({c for f in folds for c in f.get("per_class_recall", {})})
    for name in names:
        values = [f["per_class_recall"][name] for f in folds if name in f.get("per_class_recall", {})]
        summary[f"recall {name}"] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
    return summary


def compare_summaries(without: dict[str, Any], with_: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean metrics (per-class recall included) of two CV runs on the same folds, side by side."""
    keys = [k for k in with_["summary"] if k in without["summary"]]
    return {k: {"without": without["summary"][k]["mean"], "with": with_["summary"][k]["mean"]} for k in keys}


def write_cv_report(result: dict[str, Any], directory: str | Path, *, title: str = "deepsentry cross-validation",
                    notes: list[str] | None = None, record: dict[str, Any] | None = None,
                    comparison: dict[str, Any] | None = None) -> Path:
    """metrics.json (folds, summary, plan, and ``record``: seed, config, checksums, versions),
    a fold-by-fold plot, pooled ROC/PR plots and report.html; ``comparison`` (from
    :func:`compare_summaries`) adds a with/without-augmentation table."""
    from .report import _pyplot, write_report

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    keys = [k for k in ("pr_auc", "roc_auc", "f1", "macro_f1", "detection_rate_at_1pct_fpr")
            if any(f.get(k) is not None for f in result["folds"])]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        ax.plot([f["fold"] for f in result["folds"]], [f.get(key) for f in result["folds"]], marker="o", label=key)
    ax.set_xlabel("fold")
    ax.set_ylabel("metric on the held-out fold")
    ax.set_xticks([f["fold"] for f in result["folds"]])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(directory / "folds.png", dpi=110)
    plt.close(fig)
    oof = result["out_of_fold"]
    metrics = {"cv_summary": result["summary"], "folds": result["folds"], "plan": result["plan"],
               "binary": binary_metrics(oof["malicious"], oof["margins"], 0.0), **(record or {})}
    if comparison:
        metrics["augmentation_comparison"] = comparison
    notes = [f"{result['plan']['folds']}-fold {result['plan']['strategy']} cross-validation on "
             f"{result['plan']['rows']} rows after removing {result['plan']['duplicates_removed']} duplicate(s)."
             " Every fold's threshold was chosen on validation rows carved from its training folds.",
             "Pooled plots use each row's score minus its fold's threshold, so 0 is the operating point.",
             *([f"Novel-attack folds: fold {k} tests attack types its training folds never saw: "
                f"{', '.join(types)}." for k, types in enumerate(result["plan"]["test_attack_types"])]
               if result["plan"].get("test_attack_types") else []),
             *(notes or [])]
    return write_report(directory, title=title, metrics=metrics, y=oof["malicious"], scores=oof["margins"],
                        threshold=0.0, notes=notes, extra_plots=["folds.png"])
