"""Candidate defaults of the flow detector, judged on training data only (no test file is read).

* UNSW-NB15: 3 stratified folds of the flow benchmark's 80% training split (the same de-duplicated,
  seeded split as ``benchmarks/flows.py``); measure: 10-class macro-F1 of the predicted classes.
* NSL-KDD: 3 leave-attack-types-out folds of KDDTrain+ (each test fold holds attack types its
  training never saw, as KDDTest+ does); measures: ROC-AUC, and balanced accuracy at the threshold
  each fit chose on its own validation split.

Each candidate changes one setting of the defaults (the classifier's epochs were 10 when this
was first run; the hybrid's default became 20 from it). Writes benchmarks/results/defaults.json.

    python benchmarks/defaults.py [--only CANDIDATE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.core.tabular import DetectorConfig  # noqa: E402
from deepsentry.evaluation.experiment import load_experiment  # noqa: E402
from deepsentry.flows import FlowDetector, read_flows  # noqa: E402
from flows import split  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CANDIDATES: dict[str, dict] = {
    "epochs 10": {"epochs": 10}, "epochs 15": {"epochs": 15}, "epochs 20": {"epochs": 20},
    "epochs 30": {"epochs": 30},
    # the other changes at the 10 epochs that were the default when they were compared
    "16 PLE bins": {"ple_bins": 16, "epochs": 10}, "hidden 512-256": {"hidden": (512, 256), "epochs": 10},
    "balanced class weights": {"class_weight": "balanced", "epochs": 10},
    # smaller networks, for the scoring throughput (benchmarks/network_sizes.py), at 20 epochs
    "classifier 64-64": {"hidden": (64, 64)},
    "classifier 64-64, autoencoder 16-4": {"hidden": (64, 64), "ae_hidden": (16, 4)},
    "classifier 32-32, autoencoder 16-4": {"hidden": (32, 32), "ae_hidden": (16, 4)},
}


def unsw(results: dict) -> None:
    data = read_flows(data_dir() / "network" / "unsw-nb15" / "UNSW_NB15_dev.csv")
    train, _, _ = split(data, seed=0)  # the test part is never used here
    X, y = train.features.reset_index(drop=True), np.asarray(train.labels)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    for name, change in CANDIDATES.items():
        scores = results.setdefault(name, {}).setdefault("unsw_macro_f1", [])
        for a, b in folds:
            detector = FlowDetector(DetectorConfig(**change)).fit(X.iloc[a], y[a], benign_labels=train.benign_labels)
            predicted = detector.score_features(detector.transform(X.iloc[b]))["predicted"]
            scores.append(float(f1_score(y[b], predicted, average="macro")))
        print(f"UNSW-NB15 {name}: macro-F1 {' / '.join(f'{s:.4f}' for s in scores)}", flush=True)


def novel_fold_scores(changes: dict[str, dict]) -> tuple[dict[str, dict[str, list[float]]], list]:
    """For each named change of the defaults: ROC-AUC and balanced accuracy (at the threshold the fit
    chose on its own validation split) on each of the 3 leave-attack-types-out folds of KDDTrain+;
    and each fold's held-out attack types."""
    exp = load_experiment(data_dir() / "network" / "nsl-kdd" / "KDDTrain+.txt", domain="flows", seed=0)
    plan = exp.splits(folds=3, novel=True)
    scores: dict[str, dict[str, list[float]]] = {}
    for name, change in changes.items():
        row = scores.setdefault(name, {"roc_auc": [], "balanced_accuracy": []})
        for a, b in plan.folds:
            malicious = ~np.isin(plan.y[b], list(exp.benign_labels))
            config = dataclasses.replace(exp.base, **change)
            detector = exp.make_detector(0, config).fit(plan.X.iloc[a], plan.y[a], benign_labels=exp.benign_labels)
            score = detector.score_samples(plan.X.iloc[b])
            alert = score > detector.threshold_.threshold
            row["roc_auc"].append(float(roc_auc_score(malicious, score)))
            row["balanced_accuracy"].append(float((alert[malicious].mean() + 1 - alert[~malicious].mean()) / 2))
        print(f"NSL-KDD novel folds {name}: AUC {np.mean(row['roc_auc']):.4f}, "
              f"balanced accuracy {np.mean(row['balanced_accuracy']):.4f}", flush=True)
    return scores, plan.test_attack_types


def nsl(results: dict) -> None:
    scores, _ = novel_fold_scores(CANDIDATES)
    for name, row in scores.items():
        results.setdefault(name, {}).update(nsl_novel_roc_auc=row["roc_auc"],
                                            nsl_novel_balanced_accuracy=row["balanced_accuracy"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), metavar="CANDIDATE",
                        help="run these candidates only; their results replace theirs in defaults.json")
    args = parser.parse_args(argv)
    if args.only:
        for name in [n for n in CANDIDATES if n not in args.only]:
            del CANDIDATES[name]
    started = time.perf_counter()
    results: dict = {}
    unsw(results)
    nsl(results)
    seconds = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "defaults.json"
    record = {"date": date.today().isoformat(), "seconds": round(seconds, 1), "results": results}
    if args.only and path.exists():  # keep the other candidates' earlier results, dated per run
        earlier = json.loads(path.read_text())
        runs = earlier.pop("runs", None) or [{k: earlier[k] for k in ("date", "seconds") if k in earlier}
                                             | {"candidates": list(earlier.get("results", {}))}]
        record = {**earlier, "results": {**earlier.get("results", {}), **results},
                  "runs": [*runs, {"date": record["date"], "seconds": record["seconds"], "candidates": list(results)}]}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print("\n| candidate | UNSW-NB15 macro-F1 (3 folds) | mean | NSL-KDD novel ROC-AUC | NSL-KDD novel balanced accuracy |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        f1 = row["unsw_macro_f1"]
        print(f"| {name} | {' / '.join(f'{v:.4f}' for v in f1)} | {np.mean(f1):.4f} | "
              f"{np.mean(row['nsl_novel_roc_auc']):.4f} | {np.mean(row['nsl_novel_balanced_accuracy']):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
