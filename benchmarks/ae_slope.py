"""Autoencoder weight in the hybrid score, compared on KDDTrain+ alone (no test file is read).

The hybrid's score is ``max(classifier log-odds, ae_slope * (log error - log reference))``, the
reference being the ``ae_quantile`` quantile of benign validation errors. This script trains the
default detector with ``ae_slope`` 1, 2, 4 and ``ae_quantile`` 0.95, 0.99 on 3 leave-attack-types-out
folds of KDDTrain+ (each test fold holds attack types its training never saw, as KDDTest+ does) and
reports ROC-AUC and balanced accuracy at the threshold each fit chose on its own validation split.
The networks are the same in every configuration of a fold (same seed); only the scoring differs.
Writes benchmarks/results/ae_slope.json.

    python benchmarks/ae_slope.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.evaluation.experiment import load_experiment  # noqa: E402

RESULTS = Path(__file__).parent / "results"
GRID = [(slope, quantile) for slope in (1.0, 2.0, 4.0) for quantile in (0.95, 0.99)]


def main() -> int:
    started = time.perf_counter()
    exp = load_experiment(data_dir() / "network" / "nsl-kdd" / "KDDTrain+.txt", domain="flows", seed=0)
    plan = exp.splits(folds=3, novel=True)
    rows: dict[str, dict[str, list[float]]] = {}
    for k, (train, test) in enumerate(plan.folds):
        malicious = ~np.isin(plan.y[test], list(exp.benign_labels))
        for slope, quantile in GRID:
            config = dataclasses.replace(exp.base, ae_slope=slope, ae_quantile=quantile)
            detector = exp.make_detector(0, config).fit(plan.X.iloc[train], plan.y[train],
                                                        benign_labels=exp.benign_labels)
            scores = detector.score_samples(plan.X.iloc[test])
            alert = scores > detector.threshold_.threshold
            detection, fpr = float(alert[malicious].mean()), float(alert[~malicious].mean())
            row = rows.setdefault(f"{slope:g}/{quantile:g}", {"roc_auc": [], "balanced_accuracy": []})
            row["roc_auc"].append(float(roc_auc_score(malicious, scores)))
            row["balanced_accuracy"].append((detection + 1 - fpr) / 2)
            print(f"fold {k} slope {slope:g} quantile {quantile:g}: AUC {row['roc_auc'][-1]:.4f}, "
                  f"balanced accuracy {row['balanced_accuracy'][-1]:.4f}", flush=True)
    seconds = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    report = {"date": date.today().isoformat(), "seconds": round(seconds, 1),
              "held_out_attack_types": plan.test_attack_types, "results": rows}
    (RESULTS / "ae_slope.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| ae_slope / ae_quantile | ROC-AUC per fold | mean | balanced accuracy per fold | mean |\n|---|---|---|---|---|")
    for name, row in rows.items():
        auc, bacc = row["roc_auc"], row["balanced_accuracy"]
        print(f"| {name} | {' / '.join(f'{v:.4f}' for v in auc)} | {np.mean(auc):.4f} | "
              f"{' / '.join(f'{v:.4f}' for v in bacc)} | {np.mean(bacc):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
