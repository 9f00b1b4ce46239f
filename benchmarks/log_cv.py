"""Cross-validation and tuning of log models (issue 3 for logs): `deepsentry cv` and `tune`'s own code
on HDFS block sequences (stratified folds) and BGL windows (time-ordered folds), against LightGBM on
event counts on the same folds, in the same run. Writes benchmarks/results/log_cv.json.

HDFS: Landauer et al.'s normal and anomalous sequence files; repeated (sequence, label) pairs are
removed before splitting, as for every domain. BGL: `BGL_100k_structured.csv` in windows of 100
lines, split by time (forward chaining: each fold trains on the windows before it).

    python benchmarks/log_cv.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.core.thresholds import choose_threshold  # noqa: E402
from deepsentry.evaluation.cv import cross_validate, summarise  # noqa: E402
from deepsentry.evaluation.experiment import load_experiment, run_tuning  # noqa: E402
from deepsentry.evaluation.log_folds import NORMAL, sequences_of  # noqa: E402
from deepsentry.evaluation.metrics import binary_metrics  # noqa: E402
from deepsentry.evaluation.tuning import SearchConfig, parse_space  # noqa: E402
from deepsentry.logs.detector import LogConfig  # noqa: E402
from deepsentry.logs.pipeline import LogInput  # noqa: E402

RESULTS = Path(__file__).parent / "results"
KEYS = ("pr_auc", "roc_auc", "recall", "false_positive_rate", "f1", "detection_rate_at_1pct_fpr")
SPACE = {"model": {"choice": ["classifier", "autoencoder"]}, "units": {"choice": [32, 64]},
         "learning_rate": {"low": 5e-4, "high": 5e-3, "log": True}, "counts": {"choice": [True, False]}}


def lightgbm_folds(plan, seed: int) -> list[dict]:
    """LightGBM (200 trees) on each fold's event counts; threshold at max F1 on a 20% validation
    carve of the fold's training rows (the log classifier's rule)."""
    from lightgbm import LGBMClassifier
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.model_selection import train_test_split

    sequences = sequences_of(plan.X)
    y = (plan.y != NORMAL).astype(int)
    folds = []
    for train, test in plan.folds:
        fit_rows, val_rows = train_test_split(train, test_size=0.2, stratify=y[train], random_state=seed)
        counts = CountVectorizer(analyzer=lambda s: s, dtype=np.float32).fit([sequences[i] for i in fit_rows])
        model = LGBMClassifier(n_estimators=200, random_state=seed, verbose=-1)
        model.fit(counts.transform([sequences[i] for i in fit_rows]), y[fit_rows])
        val = model.predict_proba(counts.transform([sequences[i] for i in val_rows]))[:, 1]
        threshold = choose_threshold(val, y[val_rows], rule="max_f1").threshold
        scores = model.predict_proba(counts.transform([sequences[i] for i in test]))[:, 1]
        folds.append(binary_metrics(y[test], scores, threshold))
    return folds


def row(name: str, folds: list[dict], seconds: float) -> dict:
    summary = summarise(folds)
    return {"model": name, "seconds": round(seconds, 1),
            **{k: summary[k] for k in KEYS if k in summary},
            "per_fold": [{k: f.get(k) for k in (*KEYS, "model")} for f in folds]}


def run(name: str, log_input: LogInput, folds: int, time_order: bool, seed: int, trials: int) -> dict:
    exp = load_experiment(None, domain="logs", seed=seed, log_input=log_input)
    plan = exp.splits(folds=folds, time_column="order" if time_order else None)
    rows = []
    started = time.perf_counter()
    result = cross_validate(plan, exp.make_detector, benign_labels=exp.benign_labels)
    rows.append(row("deepsentry defaults (auto)", result["folds"], time.perf_counter() - started))
    chosen = [f.get("model") for f in result["folds"]]
    started = time.perf_counter()
    rows.append(row("LightGBM on event counts (baseline)", lightgbm_folds(plan, seed), time.perf_counter() - started))
    search_record = None
    if trials:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            outcome = run_tuning(exp, parse_space(SPACE, LogConfig), SearchConfig(trials=trials, seed=seed, jobs=2),
                                 Path(tmp) / "best", folds=3)
            board = outcome["leaderboard"]
            search_record = {"trials": len(board), "seconds": round(time.perf_counter() - started, 1),
                             "best": {k: board[0][k] for k in ("trial", "score", "std", "params")},
                             "trial_seconds_median": statistics.median(t["seconds"] for t in board),
                             "by_trial": [{"trial": t["trial"], "score": t["score"], "seconds": t["seconds"],
                                           "rss_mib": t.get("rss_mib"), **t["params"]}
                                          for t in sorted(board, key=lambda t: t["trial"])]}
    return {"data": name, "plan": plan.describe(), "rows": rows, "models_chosen_by_auto": chosen,
            "search": search_record}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8, help="random-search trials on HDFS (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 folds, 2 trials (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.folds, args.trials = 2, 2
    root = data_dir() / "logs"
    if not root.exists():
        print(f"datasets not found at {root}; set DEEPSENTRY_DATA")
        return 3
    report = {"date": date.today().isoformat(),
              "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}",
              "space": SPACE, "results": []}
    hdfs = LogInput(normal=root / "hdfs" / "sequences" / "hdfs_normal",
                    abnormal=root / "hdfs" / "sequences" / "hdfs_abnormal")
    report["results"].append(run("HDFS sequences, stratified", hdfs, args.folds, False, args.seed, args.trials))
    bgl = LogInput(data=root / "bgl" / "BGL_100k_structured.csv", window=100)
    report["results"].append(run("BGL windows of 100 lines, time-ordered", bgl, args.folds, True, args.seed, 0))
    for result in report["results"]:
        plan = result["plan"]
        print(f"\n{result['data']}: {plan['rows']} sequences after {plan['duplicates_removed']} duplicates, "
              f"{plan['folds']} folds")
        for r in result["rows"]:
            print(f"  {r['model']:40s} " + "  ".join(f"{k} {r[k]['mean']:.4f}±{r[k]['std']:.4f}"
                                                      for k in KEYS if k in r) + f"  ({r['seconds']} s)")
        if result["search"]:
            print(f"  search: {json.dumps(result['search'])}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("log_cv-quick.json" if args.quick else "log_cv.json")
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
