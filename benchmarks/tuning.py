"""Tuning benchmark (issue 3): the default flow detector, the default with SMOTE, and the best
configuration of a random search, against LightGBM, all in the same run. Writes
benchmarks/results/tuning.json and prints Markdown for BENCHMARKS.md.

No test-set tuning: the search scores each trial by the mean macro-F1 over k folds of the training
data only (``deepsentry tune``'s own code path, ``run_tuning``); the best trial is retrained on all
the training data and only then scored on the test rows. NSL-KDD: train KDDTrain+, test KDDTest+.
UNSW-NB15: de-duplicated, seeded stratified 80/20 split; the search sees the 80% only.

Every trial's wall time and the resident memory of the process that ran it are read from the
search journal, so memory growth across trials shows as a rising ``rss_mib``.

    python benchmarks/tuning.py [--trials 30] [--folds 3] [--jobs 2] [--datasets nsl,unsw] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))


import numpy as np  # noqa: E402

from deepsentry.core.bundle import sha256_file  # noqa: E402
from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.core.tabular import DetectorConfig  # noqa: E402
from deepsentry.evaluation.experiment import Experiment, run_tuning  # noqa: E402
from deepsentry.evaluation.tuning import SearchConfig, load_space, read_journal  # noqa: E402
from deepsentry.flows import FlowDetector, read_flows  # noqa: E402
from flows import _print as print_table  # noqa: E402
from flows import run_baselines, run_deepsentry, score_rows, split  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SPACE = Path(__file__).parent / "spaces" / "flows.yaml"


def tuned_rows(exp: Experiment, tests: dict, search: SearchConfig, folds: int, workdir: Path,
               label: str, novel: bool = False) -> tuple[list[dict], dict]:
    started, started_epoch = time.perf_counter(), time.time()
    outcome = run_tuning(exp, load_space(SPACE), search, workdir / "best", folds=folds, novel=novel)
    seconds = time.perf_counter() - started
    trials = read_journal(outcome["journal"])
    # the search alone: until the journal's last line was written (the final fit comes after)
    search_seconds = (Path(outcome["journal"]) / "trials.jsonl").stat().st_mtime - started_epoch
    rows = score_rows(FlowDetector.load(outcome["bundle"]), tests, exp.data.benign_labels, label, seconds)
    rss = [t["rss_mib"] for t in trials if t.get("rss_mib") is not None]  # trial order
    by_process: dict[int, list[float]] = {}
    for t in trials:
        if t.get("rss_mib") is not None:
            by_process.setdefault(t["pid"], []).append(t["rss_mib"])
    search_record = {
        "trials": len(trials), "folds": folds, "jobs": search.jobs, "metric": search.metric,
        "strategy": search.strategy, "seed": search.seed, "wall_seconds_including_final_fit": round(seconds, 1),
        "search_seconds": round(search_seconds, 1),
        "trial_seconds_median": statistics.median(t["seconds"] for t in trials),
        "trial_seconds": [t["seconds"] for t in trials],
        "best": outcome["leaderboard"][0],
        # per worker process: resident memory after each of its trials, in trial order
        "rss_mib_by_process": {str(pid): values for pid, values in by_process.items()},
        # least-squares growth of resident memory over the trials (flat: about 0)
        "rss_slope_mib_per_trial": float(np.polyfit(range(len(rss)), rss, 1)[0]) if len(rss) > 1 else None,
    }
    return rows, search_record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="nsl,unsw")
    parser.add_argument("--quick", action="store_true", help="3 trials, 2 folds (a smoke run)")
    parser.add_argument("--novel-attacks", action="store_true",
                        help="objective folds leave attack types out (NSL-KDD: attack names under the "
                             "5 classes); results in tuning-novel.json")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.folds = 3, 2
    root = data_dir() / "network"
    if not root.exists():
        print(f"datasets not found at {root}; set DEEPSENTRY_DATA", file=sys.stderr)
        return 3
    search = SearchConfig(strategy="random", trials=args.trials, metric="macro_f1", seed=args.seed,
                          jobs=args.jobs)
    report: dict = {"date": date.today().isoformat(), "machine": f"{platform.node()} {platform.machine()}, "
                    f"{os.cpu_count()} cores, Python {platform.python_version()}",
                    "space": SPACE.read_text(encoding="utf-8"), "datasets": {}, "searches": {}}
    plans = []
    wanted = set(args.datasets.split(","))
    if "nsl" in wanted:
        train_path = root / "nsl-kdd" / "KDDTrain+.txt"
        train = read_flows(train_path)
        plans.append(("NSL-KDD", train, {"KDDTest+": read_flows(root / "nsl-kdd" / "KDDTest+.txt")}, train_path))
    if "unsw" in wanted:
        path = root / "unsw-nb15" / "UNSW_NB15_dev.csv"
        train, test, removed = split(read_flows(path), seed=args.seed)
        report["UNSW-NB15 duplicates removed before split"] = removed
        plans.append(("UNSW-NB15", train, {"held-out 20%": test}, path))

    for name, train, tests, path in plans:
        rows, _ = run_deepsentry(train, tests, DetectorConfig(seed=args.seed), "deepsentry defaults")
        rows += run_deepsentry(train, tests, DetectorConfig(seed=args.seed, augment="smote"),
                               "deepsentry defaults + SMOTE")[0]
        exp = Experiment(domain="flows", data=train, base=DetectorConfig(seed=args.seed), source=path,
                         checksum=sha256_file(path))
        with tempfile.TemporaryDirectory() as tmp:
            kind = "novel-attack" if args.novel_attacks else "stratified"
            label = f"deepsentry tuned ({search.trials}-trial random search, {args.folds} {kind} folds, macro-F1)"
            tuned, record = tuned_rows(exp, tests, search, args.folds, Path(tmp), label, novel=args.novel_attacks)
        rows += tuned
        rows += run_baselines(train, tests, args.seed)
        report["datasets"][name] = rows
        report["searches"][name] = record
        _print(name, rows, record)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("tuning-quick.json" if args.quick else "tuning-novel.json" if args.novel_attacks
                     else "tuning.json")
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


def _print(title: str, rows: list[dict], record: dict) -> None:
    print_table(title, rows)  # with each model's per-class recall
    best = record["best"]
    print(f"- search: {record['trials']} trials, {record['folds']} folds, jobs {record['jobs']}, "
          f"{record['search_seconds']} s search, {record['wall_seconds_including_final_fit']} s including the final "
          f"fit, median trial "
          f"{record['trial_seconds_median']} s; best trial {best['trial']} (validation macro-F1 "
          f"{best['score']:.3f}): {json.dumps(best['params'])}")
    print(f"- resident memory per worker after each trial (MiB): {record['rss_mib_by_process']}; "
          f"least-squares slope over the trials {record['rss_slope_mib_per_trial']:+.1f} MiB per trial")


if __name__ == "__main__":
    raise SystemExit(main())
