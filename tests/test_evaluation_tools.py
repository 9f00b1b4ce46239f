"""Splits, augmentation, cross-validation and hyperparameter search (issue 3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import synthetic_flows
from deepsentry.cli import main
from deepsentry.core.augment import METHODS, augment
from deepsentry.core.errors import ConfigError, InputError
from deepsentry.core.tabular import DetectorConfig, TabularDetector
from deepsentry.evaluation.cv import cross_validate, write_cv_report
from deepsentry.evaluation.splits import SplitConfig, make_splits
from deepsentry.evaluation.tuning import (SearchConfig, grid_size, leaderboard, load_space, parse_space, read_journal,
                                          run_search, trial_params)


def frame_and_labels(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    data = synthetic_flows(n, seed=seed)
    labels = data.pop("label").to_numpy()
    return data, labels


# -- splits ----------------------------------------------------------------------------------------
def test_stratified_folds_partition_deduplicated_rows():
    X, y = frame_and_labels()
    X = pd.concat([X, X.iloc[:50]], ignore_index=True)  # 50 exact duplicates
    y = np.concatenate([y, y[:50]])
    plan = make_splits(X, y, SplitConfig(folds=4, seed=1))
    assert plan.duplicates_removed == 50 and len(plan.y) == len(y) - 50
    tests = np.concatenate([test for _, test in plan.folds])
    assert sorted(tests.tolist()) == list(range(len(plan.y)))
    for train, test in plan.folds:
        assert not set(train) & set(test)
        rows = pd.util.hash_pandas_object(plan.X, index=False).to_numpy()
        assert not set(rows[train]) & set(rows[test])  # no identical record on both sides
    again = make_splits(X, y, SplitConfig(folds=4, seed=1))
    assert all((a[1] == b[1]).all() for a, b in zip(plan.folds, again.folds))
    other = make_splits(X, y, SplitConfig(folds=4, seed=2))
    assert any((a[1] != b[1]).any() for a, b in zip(plan.folds, other.folds))


def test_grouped_and_time_ordered_folds():
    X, y = frame_and_labels()
    X["host"] = np.arange(len(X)) % 13
    X["time"] = np.random.default_rng(0).permutation(len(X))
    grouped = make_splits(X.drop(columns="time"), y, SplitConfig.from_columns(
        folds=3, group_column="host", time_column=None, seed=0))
    assert "host" not in grouped.X.columns
    hosts = X["host"].to_numpy()
    for train, test in grouped.folds:
        assert not set(hosts[train]) & set(hosts[test])
    timed = make_splits(X.drop(columns="host"), y, SplitConfig.from_columns(
        folds=3, group_column=None, time_column="time", seed=0))
    times = X["time"].to_numpy()
    for train, test in timed.folds:
        assert times[train].max() < times[test].min()  # always train on the past
    with pytest.raises(ConfigError):
        SplitConfig(strategy="group")


def test_records_without_a_group_or_a_readable_time_are_placed_and_reported(caplog):
    X, y = frame_and_labels()
    # None, and a blank CSV field (read as "" or spaces), are no host
    hosts = np.array(["a", "b", "c", None, "", " "], dtype=object)[np.arange(len(X)) % 6]
    grouped = make_splits(X.assign(host=hosts), y, SplitConfig.from_columns(
        folds=4, group_column="host", time_column=None, seed=0))
    # four groups, the records without a host among them: one fold tests exactly those records
    missing = set(np.flatnonzero(pd.isna(hosts) | np.isin(hosts, ["", " "])))
    assert any(set(test) == missing for _, test in grouped.folds)
    assert grouped.notes == [f"{len(missing)} records have no value in group column 'host'; "
                             "they form one group of their own"]
    assert grouped.notes[0] in caplog.text and grouped.describe()["notes"] == grouped.notes

    times = pd.Series(pd.date_range("2026-01-01", periods=len(X), freq="min").astype(str))
    times[::10] = "not a time"
    timed = make_splits(X.assign(when=times.to_numpy()), y, SplitConfig.from_columns(
        folds=3, group_column=None, time_column="when", seed=0))
    unreadable = set(range(0, len(X), 10))
    assert timed.notes == [f"{len(unreadable)} records have no readable time in 'when'; "
                           "they count as the oldest (always on the training side)"]
    for _, test in timed.folds:
        assert not unreadable & set(test)
    times[times.index % 4 != 0] = "later"  # too few times left to order by: the column and a bad value are named
    with pytest.raises(InputError, match=r"time column 'when' holds neither numbers nor date-times "
                                         r"\(read as numbers: 0%, as date-times: 20%; e.g. 'not a time'\)"):
        make_splits(X.assign(when=times.to_numpy()), y, SplitConfig.from_columns(
            folds=3, group_column=None, time_column="when", seed=0))


def test_records_of_one_time_never_sit_on_both_sides_of_a_time_split():
    """Coarse times (a day, an hour) tie many records: TimeSeriesSplit's blocks cut through a
    tie and put records of one instant in training and test alike; a constant column gave
    'time' folds that were the input order."""
    X, y = frame_and_labels()
    hours = np.repeat(np.arange(7), -(-len(X) // 7))[: len(X)]
    timed = make_splits(X.assign(hour=np.random.default_rng(1).permutation(hours)), y, SplitConfig.from_columns(
        folds=3, group_column=None, time_column="hour", seed=0))
    hour = np.random.default_rng(1).permutation(hours)
    for train, test in timed.folds:
        assert hour[train].max() < hour[test].min()
    for column, message in [(np.zeros(len(X)), r"time column 'when' has too few distinct times \(1\) for 3"),
                            (np.where(np.arange(len(X)) < len(X) // 2, "never",
                                      pd.date_range("2026-01-01", periods=len(X), freq="min").astype(str)),
                             r"records have no readable time in 'when': counted as the oldest, they fill")]:
        with pytest.raises(InputError, match=message):
            make_splits(X.assign(when=column), y, SplitConfig.from_columns(
                folds=3, group_column=None, time_column="when", seed=0))


def test_novel_attack_folds_hold_attack_types_out_of_training():
    X, y = frame_and_labels(900)
    types = np.where(y == "normal", "normal", y + "-" + (np.arange(len(y)) % 3).astype(str))  # 6 attack types
    plan = make_splits(X, y, SplitConfig.from_columns(folds=3, group_column=None, time_column=None, seed=0,
                                                      novel=True), attack_types=types, benign_labels=("normal",))
    assert plan.config.strategy == "novel" and "__attack_type__" not in plan.X.columns
    assert plan.duplicates_removed == 0  # so row i of the plan is row i of X
    kept_types = types
    seen = []
    for (train, test), held_out in zip(plan.folds, plan.test_attack_types):
        train_types = set(kept_types[train]) - {"normal"}
        test_types = set(kept_types[test]) - {"normal"}
        assert test_types == set(held_out) and test_types and not train_types & test_types
        assert (plan.y[test] == "normal").sum() > 0  # benign rows spread over every fold
        seen += held_out
    assert sorted(seen) == sorted(set(types) - {"normal"})  # each type in exactly one test fold
    benign_per_fold = [int((plan.y[test] == "normal").sum()) for _, test in plan.folds]
    assert max(benign_per_fold) - min(benign_per_fold) <= 1
    again = make_splits(X, y, plan.config, attack_types=types, benign_labels=("normal",))
    assert again.test_attack_types == plan.test_attack_types
    with pytest.raises(InputError, match="attack types"):
        make_splits(X, y, SplitConfig(folds=7, strategy="novel"), attack_types=types, benign_labels=("normal",))
    with pytest.raises(ConfigError):
        SplitConfig.from_columns(folds=3, group_column="host", time_column=None, seed=0, novel=True)


def test_cli_cv_novel_attacks_reports_balanced_accuracy(tmp_path, flows_csv):
    report = tmp_path / "cv"
    assert main(["cv", "--data", str(flows_csv), "--report", str(report), "--folds", "2", "--novel-attacks",
                 "--model", "mlp", "--epochs", "2", "--label-column", "label", "--benign-label", "normal"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert "balanced_accuracy" in metrics["cv_summary"]
    assert metrics["plan"]["strategy"] == "novel"
    assert sorted(sum(metrics["plan"]["test_attack_types"], [])) == ["flood", "scan"]
    assert "never saw" in (report / "report.html").read_text()


# -- augmentation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_augmentation_raises_minority_classes_only(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(330, 4)).astype(np.float32)
    X[300:] += 2.0
    y = np.array([0] * 300 + [1] * 25 + [2] * 5)
    Xa, ya, added = augment(X, y, method, ratio=0.3, seed=0, numeric_columns=2)
    counts = np.bincount(ya)
    assert counts[0] == 300 and counts[1] >= 80 and counts[2] >= 80
    assert set(added) == {1, 2}
    assert np.array_equal(Xa[:330], X)  # originals kept as they were
    if method == "noise":
        assert np.array_equal(np.isin(Xa[330:, 2:], X[300:, 2:]).all(axis=1), np.ones(len(Xa) - 330, bool))


def test_augmentation_happens_inside_the_training_split():
    X, y = frame_and_labels(400)
    plain = TabularDetector(DetectorConfig(model="mlp", epochs=2, seed=0)).fit(X, y)
    smote = TabularDetector(DetectorConfig(model="mlp", epochs=2, seed=0, augment="smote", augment_ratio=0.9)).fit(X, y)
    assert smote.summary_.augmented and not plain.summary_.augmented
    # the validation rows (threshold choice) are the same real rows either way
    assert smote.summary_.validation_rows == plain.summary_.validation_rows
    assert smote.threshold_.validation_fpr is not None


# -- cross-validation ------------------------------------------------------------------------------
def test_cross_validation_is_reproducible_and_reported(tmp_path):
    X, y = frame_and_labels(500)
    plan = make_splits(X, y, SplitConfig(folds=3, seed=0))
    make = lambda seed: TabularDetector(DetectorConfig(model="mlp", epochs=3, seed=seed))  # noqa: E731
    first = cross_validate(plan, make)
    second = cross_validate(plan, make)
    assert len(first["folds"]) == 3
    for a, b in zip(first["folds"], second["folds"]):
        assert a["pr_auc"] == pytest.approx(b["pr_auc"], abs=1e-6)
    assert first["summary"]["pr_auc"]["mean"] > 0.8
    assert first["summary"]["pr_auc"]["std"] >= 0
    report = write_cv_report(first, tmp_path / "cv", record={"reproducibility": {"seed": 0}})
    assert report.name == "report.html" and (tmp_path / "cv" / "folds.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "cv" / "metrics.json").read_text())
    assert metrics["reproducibility"]["seed"] == 0 and len(metrics["folds"]) == 3


def test_cli_cv_writes_a_report(tmp_path, flows_csv):
    report = tmp_path / "cv"
    assert main(["cv", "--data", str(flows_csv), "--report", str(report), "--folds", "3",
                 "--model", "mlp", "--epochs", "2", "--augment", "random", "--label-column", "label",
                 "--benign-label", "normal"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["cv_summary"]) >= {"pr_auc", "roc_auc", "detection_rate_at_1pct_fpr"}
    assert metrics["reproducibility"]["config"]["augment"] == "random"
    comparison = metrics["augmentation_comparison"]  # the same folds without augmentation
    assert {"recall normal", "pr_auc"} <= set(comparison)
    assert set(comparison["pr_auc"]) == {"with", "without"}
    assert "without" in (report / "report.html").read_text().lower()
    assert len(metrics["reproducibility"]["data_sha256"]) == 64


def test_rates_without_their_class_are_undefined_not_zero():
    from deepsentry.evaluation.cv import summarise
    from deepsentry.evaluation.metrics import binary_metrics

    attacks_only = binary_metrics(np.array([1, 1, 1]), np.array([0.9, 0.2, 0.8]), 0.5)
    assert attacks_only["false_positive_rate"] is None and attacks_only["recall"] == pytest.approx(2 / 3)
    benign_only = binary_metrics(np.array([0, 0]), np.array([0.9, 0.1]), 0.5)
    assert benign_only["recall"] is None and benign_only["false_positive_rate"] == 0.5
    # a fold without benign rows leaves the mean false-positive rate to the folds that have them
    assert summarise([attacks_only, benign_only])["false_positive_rate"]["mean"] == 0.5


# -- search ----------------------------------------------------------------------------------------
SPACE = {"dropout": {"low": 0.0, "high": 0.5}, "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
         "hidden": {"choice": [[32], [64, 32]]}, "epochs": {"low": 2, "high": 4}}


def test_search_space_is_validated():
    with pytest.raises(ConfigError, match="unknown parameter"):
        parse_space({"not_a_knob": [1, 2]})
    with pytest.raises(ConfigError, match="low < high"):
        parse_space({"dropout": {"low": 0.5, "high": 0.1}})
    with pytest.raises(ConfigError, match="log range"):
        parse_space({"learning_rate": {"low": 0, "high": 1, "log": True}})
    space = parse_space(SPACE)
    for k in range(20):
        p = trial_params(space, "random", trial=k, seed=3, history=[])
        assert 0.0 <= p["dropout"] <= 0.5 and 1e-4 <= p["learning_rate"] <= 1e-2
        assert p["hidden"] in ((32,), (64, 32)) and p["epochs"] in (2, 3, 4)
        assert p == trial_params(space, "random", trial=k, seed=3, history=[])
    grid = [trial_params(space, "grid", trial=k, seed=0, history=[], grid_points=2) for k in range(16)]
    assert len({json.dumps(g, sort_keys=True) for g in grid}) == 16


@pytest.mark.parametrize("spec, message", [
    ({"model": ["mlp", "bogus"]}, "model must be one of"),  # each choice checked before any data is read
    ({"dropout": [0.1, 1.5]}, r"dropout must be in \[0.0, 1.0\); got 1.5"),
    ({"hidden": ["a"]}, "hidden must be a list of integers; got 'a'"),
    ({"hidden": [[64, 0]]}, "hidden must list one or more layer widths of at least 1"),
    ({"dedupe": ["no"]}, "dedupe must be true or false; got 'no'"),
    ({"epochs": {"low": 1.5, "high": 2.5}}, "'epochs' takes integers"),
    ({"epochs": {"low": 1, "high": 5, "step": 0}}, "step must be a number in"),
    ({"epochs": {"low": 1, "high": 5, "type": "int"}}, "unknown key.*type"),
    ({"dropout": {"low": 0, "high": 1, "step": 0.25}}, "got 1.0"),  # the grid's last point is checked
    ({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": "yes"}}, "log must be true or false"),
])
def test_bad_search_space_values_fail_at_parse_time(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(spec)


def test_a_yaml_space_reads_exponents_without_a_dot_as_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-4 as the text '1e-4': the range was refused as "need numbers"
    path = tmp_path / "space.yaml"
    path.write_text("learning_rate: {low: 1e-4, high: 1E-2, log: true}\nl2: [0, 1e-5, 2.5e-3]\n"
                    "dropout: ['1e-1']\n")
    with pytest.raises(ConfigError, match="dropout must be a number; got '1e-1'"):  # quoted: text
        load_space(path)
    path.write_text(path.read_text().replace("dropout: ['1e-1']", "dropout: [1e-1]"))
    space = {p.name: p for p in load_space(path)}
    assert (space["learning_rate"].low, space["learning_rate"].high) == (1e-4, 1e-2)
    assert space["l2"].choices == (0, 1e-5, 2.5e-3) and space["dropout"].choices == (0.1,)


def test_an_integer_grid_holds_each_value_once():
    # three points over [1, 2] round to 1, 2, 2: the grid must not train epochs=2 twice
    space = parse_space({"epochs": {"low": 1, "high": 2}, "dropout": [0.0, 0.1]})
    assert grid_size(space, 3) == 4
    grid = [trial_params(space, "grid", trial=k, seed=0, history=[], grid_points=3) for k in range(4)]
    assert sorted((g["epochs"], g["dropout"]) for g in grid) == [(1, 0.0), (1, 0.1), (2, 0.0), (2, 0.1)]


def test_a_float_knob_with_integer_bounds_samples_floats():
    # the field's type decides, not how the bounds were written: 0 and 1 must not mean {0, 1}
    space = parse_space({"l2": {"low": 0, "high": 1}})
    values = {trial_params(space, "random", trial=k, seed=0, history=[])["l2"] for k in range(10)}
    assert len(values) == 10 and all(isinstance(v, float) and 0 <= v <= 1 for v in values)


def fake_objective(params: dict) -> dict:
    """A cheap deterministic objective, so search logic is tested without training."""
    score = -((params["dropout"] - 0.3) ** 2) - (np.log10(params["learning_rate"]) + 2.5) ** 2
    return {"score": float(score), "std": 0.0}


@pytest.mark.parametrize("strategy", ["random", "tpe", "grid"])
def test_resumed_search_equals_an_uninterrupted_one(tmp_path, strategy):
    space = parse_space(SPACE)
    search = SearchConfig(strategy=strategy, trials=10, seed=5, grid_points=2)
    full = run_search(space, search, fake_objective, tmp_path / "full")
    partial = SearchConfig(strategy=strategy, trials=4, seed=5, grid_points=2)
    run_search(space, partial, fake_objective, tmp_path / "resumed")
    with open(tmp_path / "resumed" / "trials.jsonl", "a") as handle:
        handle.write('{"trial": 4, "params": {"drop')  # a kill in the middle of a write
    with pytest.raises(ConfigError, match="--resume"):
        run_search(space, search, fake_objective, tmp_path / "resumed")
    resumed = run_search(space, search, fake_objective, tmp_path / "resumed", resume=True)
    strip = lambda h: [(t["trial"], json.dumps(t["params"], sort_keys=True), t["score"]) for t in h]  # noqa: E731
    assert strip(leaderboard(full)) == strip(leaderboard(resumed))
    assert len(read_journal(tmp_path / "resumed")) == 10
    with pytest.raises(ConfigError, match=r"other settings than the journal's \(changed: seed\)"):
        run_search(space, SearchConfig(strategy=strategy, trials=10, seed=6, grid_points=2), fake_objective,
                   tmp_path / "resumed", resume=True)
    # trials scored on other folds or other data would not be comparable: the context must match too
    with pytest.raises(ConfigError, match=r"\(changed: data_sha256, folds\)"):
        run_search(space, search, fake_objective, tmp_path / "resumed", resume=True,
                   context={"data_sha256": "other", "folds": 3})


def test_a_search_journal_in_use_by_another_process_is_refused(tmp_path):
    """Two searches on one journal (a resumed one started twice) would both run the pending
    trials and write each twice; the second is refused with the first one's pid. The lock goes
    with its holder (a kill -9 included)."""
    import os

    from deepsentry.core.locks import exclusive_use

    space, search = parse_space(SPACE), SearchConfig(strategy="random", trials=2, seed=5)
    with exclusive_use(tmp_path / "busy", "the search journal"):
        with pytest.raises(ConfigError, match=rf"the search journal is in use by another process \(pid {os.getpid()}\)"):
            run_search(space, search, fake_objective, tmp_path / "busy")
        assert read_journal(tmp_path / "busy") == []
    assert len(run_search(space, search, fake_objective, tmp_path / "busy")) == 2


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_trials_finishing_out_of_order_and_a_journal_with_gaps(tmp_path, strategy):
    space = parse_space(SPACE)
    search = SearchConfig(strategy=strategy, trials=8, seed=3, jobs=2)
    full = run_search(space, search, fake_objective, tmp_path / "full")
    calls = []

    def backwards(trials: dict) -> list:  # a pool whose later trials finish first
        calls.append(sorted(trials))
        return [(k, fake_objective(p)) for k, p in sorted(trials.items(), reverse=True)]

    parallel = run_search(space, search, fake_objective, tmp_path / "parallel", parallel_evaluate=backwards)
    journal = [json.loads(line)["trial"] for line in (tmp_path / "parallel" / "trials.jsonl").read_text().splitlines()]
    if strategy == "random":  # independent trials are all queued at once
        assert calls == [list(range(8))] and journal == list(range(7, -1, -1))
    else:  # tpe's depend on the trials before them: `jobs` at a time
        assert calls == [[0, 1], [2, 3], [4, 5], [6, 7]]
    strip = lambda h: [(t["trial"], json.dumps(t["params"], sort_keys=True), t["score"]) for t in h]  # noqa: E731
    assert strip(leaderboard(full)) == strip(leaderboard(parallel))
    if strategy == "random":  # with a cost estimate, the most expensive trials are queued first
        order = []
        costly = run_search(space, search, fake_objective, tmp_path / "costly", cost=lambda p: p["dropout"],
                            parallel_evaluate=lambda trials: (order.extend(trials) or backwards(trials)))
        dropout = {t["trial"]: t["params"]["dropout"] for t in full}
        assert order == sorted(dropout, key=lambda k: -dropout[k])
        assert strip(leaderboard(full)) == strip(leaderboard(costly))
    # killed with trials still running (random: any of them; tpe: within the last block of `jobs`):
    # the resumed search runs exactly the missing ones, with the parameters they would have had
    missing = [1, 3, 4] if strategy == "random" else [6]
    lines = (tmp_path / "full" / "trials.jsonl").read_text().splitlines()
    (tmp_path / "gaps").mkdir()
    kept = [k for k in (5, 0, 2, 7, 6, 1, 3, 4) if k not in missing]
    (tmp_path / "gaps" / "trials.jsonl").write_text("\n".join(lines[k] for k in kept) + "\n")
    (tmp_path / "gaps" / "search.json").write_text((tmp_path / "full" / "search.json").read_text())
    calls.clear()
    resumed = run_search(space, search, fake_objective, tmp_path / "gaps", resume=True, parallel_evaluate=backwards)
    assert sorted(k for call in calls for k in call) == missing
    assert strip(leaderboard(full)) == strip(leaderboard(resumed))


@pytest.mark.slow
def test_tune_killed_with_sigkill_resumes_to_the_same_leaderboard(tmp_path, flows_csv):
    space = tmp_path / "space.yaml"
    space.write_text("dropout: {low: 0.0, high: 0.4}\nhidden: {choice: [[16], [32]]}\n")
    base = [sys.executable, "-m", "deepsentry.cli", "tune", "--data", str(flows_csv), "--space", str(space),
            "--trials", "4", "--folds", "2", "--model", "mlp", "--seed", "1", "--label-column", "label",
            "--benign-label", "normal", "--epochs", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([*base, "--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    victim = subprocess.Popen([*base, "--out", str(tmp_path / "killed")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "killed.search" / "trials.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 1):
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done = journal.read_text().count("\n")
    assert 1 <= done < 4, "the kill should land mid-search"
    subprocess.run([*base, "--out", str(tmp_path / "killed"), "--resume"], check=True, env=env,
                   capture_output=True)
    full = pd.read_csv(tmp_path / "full.search" / "leaderboard.csv")
    resumed = pd.read_csv(tmp_path / "killed.search" / "leaderboard.csv")
    measured = ["seconds", "rss_mib"]  # wall time and memory differ between runs; the rest may not
    pd.testing.assert_frame_equal(full.drop(columns=measured), resumed.drop(columns=measured))
    assert full["rss_mib"].notna().all()  # every trial records the memory of the process that ran it
    record = json.loads((tmp_path / "killed" / "search.json").read_text())
    assert record["best"]["trial"] == int(full["trial"].iloc[0])


@pytest.mark.parametrize("jobs,outer_folds", [(1, 2), (2, 0)])
def test_tune_nested_and_parallel(tmp_path, flows_csv, jobs, outer_folds):
    from deepsentry.evaluation.experiment import load_experiment, run_tuning
    from deepsentry.flows import FlowDetector

    exp = load_experiment(flows_csv, domain="flows", model="mlp", epochs=1, seed=0, label_column="label",
                          benign_labels=("normal",))
    space = parse_space({"dropout": {"low": 0.0, "high": 0.3}, "hidden": {"choice": [[8], [16]]}})
    outcome = run_tuning(exp, space, SearchConfig(strategy="random", trials=2, seed=0, jobs=jobs),
                         tmp_path / "best", folds=2, outer_folds=outer_folds)
    assert len(outcome["leaderboard"]) == 2
    trials = read_journal(tmp_path / "best.search")
    assert len({t["pid"] for t in trials}) == 2 and os.getpid() not in {t["pid"] for t in trials}  # a process each
    assert all(t["rss_mib"] > 0 for t in trials)
    if outer_folds:
        assert len(outcome["nested"]["scores"]) == 2 and 0 <= outcome["nested"]["mean"] <= 1
        assert (tmp_path / "best.search" / "outer-1" / "trials.jsonl").exists()
    best = FlowDetector.load(tmp_path / "best")
    record = json.loads((tmp_path / "best" / "search.json").read_text())
    assert record["best"]["params"]["hidden"] == list(best.config.hidden)
    assert record["reproducibility"]["seed"] == 0 and record["trials"] == 2
    assert (tmp_path / "best.search" / "leaderboard.png").stat().st_size > 1000


@pytest.mark.parametrize("options", [["--folds", "1"], ["--folds", "101"], ["--outer-folds", "1"], ["--jobs", "0"],
                                     ["--group-column", "host", "--time-column", "t"]])
def test_fold_and_search_settings_are_refused_before_the_data_is_read(tmp_path, capsys, options):
    space = tmp_path / "space.yaml"
    space.write_text("epochs: [1, 2]\n")
    missing = str(tmp_path / "no-such-data.csv")  # were it read first, the error would be a missing file (3)
    command = ["tune", "--data", missing, "--space", str(space), "--out", str(tmp_path / "best"), *options]
    assert main(command) == 2, capsys.readouterr().err
    if "--outer-folds" not in options and "--jobs" not in options:
        assert main(["cv", "--data", missing, "--report", str(tmp_path / "cv"), *options]) == 2


def test_a_new_search_over_an_old_journal_is_refused_before_the_data_is_read(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("epochs: [1, 2]\n")
    nested = tmp_path / "best.search" / "outer-0"  # a nested search's journal counts too
    nested.mkdir(parents=True)
    (nested / "trials.jsonl").write_text('{"trial": 0, "params": {"epochs": 1}, "score": 0.5}\n')
    command = ["tune", "--data", str(tmp_path / "no-such-data.csv"), "--space", str(space),
               "--out", str(tmp_path / "best")]
    assert main(command) == 2
    assert "a search journal already exists" in capsys.readouterr().err
    assert main([*command, "--resume"]) == 3  # resuming goes on to read the data (missing here)


@pytest.mark.parametrize("domain", ["flows", "malware", "logs"])
def test_model_settings_are_refused_before_the_data_is_read(tmp_path, capsys, domain):
    missing = str(tmp_path / "no-such-data.csv")
    assert main(["cv", "--domain", domain, "--data", missing, "--report", str(tmp_path / "cv"), "--epochs", "0"]) == 2
    assert "epochs must be in" in capsys.readouterr().err
    if domain == "logs":
        assert main(["train", "logs", "--data", missing, "--format", "hdfs", "--window", "10", "--epochs", "0",
                     "--out", str(tmp_path / "m")]) == 2
    else:
        assert main(["cv", "--domain", domain, "--data", missing, "--report", str(tmp_path / "cv"),
                     "--augment", "sideways"]) == 2


def test_a_fold_that_cannot_be_trained_is_named_with_why(tmp_path, capsys):
    # every attack sits in one site: the grouped fold that tests that site trains on benign rows only
    frame = synthetic_flows(n=300, seed=2)
    frame["site"] = np.where(frame["label"] == "normal", np.arange(len(frame)) % 2, 2)
    frame.to_csv(tmp_path / "sites.csv", index=False)
    assert main(["cv", "--data", str(tmp_path / "sites.csv"), "--report", str(tmp_path / "cv"), "--folds", "3",
                 "--group-column", "site", "--epochs", "1", "--label-column", "label",
                 "--benign-label", "normal"]) == InputError.exit_code
    said = " ".join(capsys.readouterr().err.split())
    assert "fold 1 of 3" in said and "none is malicious" in said and "grouped by 'site'" in said
    assert main(["cv", "--domain", "malware", "--data", str(tmp_path / "sites.csv"), "--report",
                 str(tmp_path / "cv"), "--format", "nsl-kdd"]) == ConfigError.exit_code
