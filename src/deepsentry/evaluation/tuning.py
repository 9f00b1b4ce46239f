"""Hyperparameter search over any :class:`DetectorConfig` field, scored by cross-validation on the
training data only, resumable from disk and reproducible from the seed.

Search space (YAML): one entry per parameter, a list of ``choice`` values or a range::

    hidden: {choice: [[128, 64], [256, 128]]}
    dropout: {low: 0.0, high: 0.4}
    learning_rate: {low: 1.0e-4, high: 3.0e-3, log: true}
    ple_bins: {choice: [0, 16, 32]}
    augment: {choice: [none, smote]}
    epochs: {low: 10, high: 40, step: 10}

A range has ``low`` and ``high``, and optionally ``log: true`` or a ``step``; a field that takes
integers (``epochs``, ``ple_bins``) needs integer bounds and samples integers, any other numeric
field samples floats. Every choice and range end is checked against the config before any data is
read.

Strategies: ``grid`` (every combination, ranges cut into ``grid_points`` values), ``random`` and
``tpe`` (optuna's model-based sampler). Trial *k*'s parameters depend only on the seed, *k* and (for
``tpe``) the trials before its block of ``jobs`` trials, so a search killed at any point and resumed
from its journal (``trials.jsonl``, one line per finished trial, in the order trials finished) gives
the same leaderboard as one never stopped.

>>> space = parse_space({"dropout": {"low": 0.0, "high": 0.5}, "epochs": {"choice": [5, 10]}})
>>> params = trial_params(space, "random", trial=0, seed=0, history=[])
>>> sorted(params)
['dropout', 'epochs']
"""

from __future__ import annotations

import itertools
import json
import math
import time
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..core.base import validate_choice, validate_seed, validate_types
from ..core.errors import ConfigError, InputError
from ..core.durable import drop_partial_line
from ..core.locks import exclusive_use
from ..core.tabular import DetectorConfig

STRATEGIES = ("grid", "random", "tpe")
METRICS = ("pr_auc", "roc_auc", "macro_f1", "f1", "detection_rate_at_1pct_fpr", "accuracy", "balanced_accuracy")
JOURNAL = "trials.jsonl"


@dataclass(frozen=True)
class Param:
    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None

    def grid(self, points: int) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        if self.step is not None:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            values = [self.low + i * self.step for i in range(n)]
        elif self.log:
            values = np.geomspace(self.low, self.high, points).tolist()
        else:
            values = np.linspace(self.low, self.high, points).tolist()
        if self.integer:  # points closer than 1 apart round to the same integer: keep each once
            return list(dict.fromkeys(int(round(v)) for v in values))
        return [float(v) for v in values]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.step is not None:
            return self.grid(0)[int(rng.integers(len(self.grid(0))))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(value)


SPEC_KEYS = ("choice", "low", "high", "log", "step")


def parse_space(raw: dict[str, Any], config_class: type = DetectorConfig) -> list[Param]:
    """Validate a search space against the fields of ``config_class`` (:class:`DetectorConfig`
    for tables; :class:`~deepsentry.logs.detector.LogConfig` for log models).

    Every choice and both ends of every range are checked against the config on their own here,
    so a bad value fails before any data is read, not in the middle of a search.

    >>> [p.name for p in parse_space({"epochs": {"low": 5, "high": 20}, "hidden": [[64], [128, 64]]})]
    ['epochs', 'hidden']
    """
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("the search space must be a non-empty mapping of parameter: spec")
    known = {f.name for f in fields(config_class)} - {"seed"}
    hints = typing.get_type_hints(config_class)
    params = []
    for name, spec in raw.items():
        if name not in known:
            raise ConfigError(f"unknown parameter {name!r} in the search space",
                              hint=f"tunable parameters: {', '.join(sorted(known))}")
        if isinstance(spec, list):
            spec = {"choice": spec}
        if not isinstance(spec, dict):
            raise ConfigError(f"parameter {name!r}: give {{choice: [...]}} or {{low: .., high: ..}}")
        unknown_keys = sorted(set(map(str, spec)) - set(SPEC_KEYS))
        if unknown_keys:
            raise ConfigError(f"parameter {name!r}: unknown key(s) {', '.join(unknown_keys)}",
                              hint=f"a spec has {', '.join(SPEC_KEYS)}")
        if "choice" in spec:
            if not isinstance(spec["choice"], list):
                raise ConfigError(f"parameter {name!r}: choice must be a list")
            choices = tuple(tuple(c) if isinstance(c, list) else c for c in spec["choice"])
            if not choices:
                raise ConfigError(f"parameter {name!r}: empty choice list")
            param = Param(name, choices=choices)
        else:
            param = _range_param(name, spec, field_kind=_numeric_kind(hints.get(name)))
        for value in _values_to_check(param):
            try:
                config_class(**{name: value})
            except ConfigError as exc:
                raise ConfigError(f"parameter {name!r}: {exc}") from None
        params.append(param)
    return params


def _range_param(name: str, spec: dict[str, Any], *, field_kind: type | None) -> Param:
    try:
        low, high = spec["low"], spec["high"]
    except KeyError:
        raise ConfigError(f"parameter {name!r}: a range needs low and high") from None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or low >= high:
        raise ConfigError(f"parameter {name!r}: need numbers with low < high, got {low!r}, {high!r}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"parameter {name!r}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"parameter {name!r}: a log range needs low > 0")
    step = spec.get("step")
    if step is not None:
        if not isinstance(step, (int, float)) or isinstance(step, bool) or not 0 < step <= high - low:
            raise ConfigError(f"parameter {name!r}: step must be a number in (0, high - low], got {step!r}")
        if log:
            raise ConfigError(f"parameter {name!r}: give either step or log, not both")
    integer = isinstance(low, int) and isinstance(high, int) if field_kind is None else field_kind is int
    if integer and not all(isinstance(v, int) for v in (low, high, step or 1)):
        raise ConfigError(f"parameter {name!r} takes integers: give integer low, high and step, "
                          f"got {low!r}, {high!r}" + (f", step {step!r}" if step is not None else ""))
    return Param(name, low=low, high=high, log=log, integer=integer, step=step)


def _numeric_kind(hint: Any) -> type | None:
    """``int`` or ``float`` for a field annotated so (``None`` allowed beside it), else None."""
    kinds = {hint} | set(typing.get_args(hint))
    return int if int in kinds and float not in kinds else float if float in kinds else None


def _values_to_check(param: Param) -> list[Any]:
    if param.choices is not None:
        return list(param.choices)
    return [param.low, param.grid(0)[-1] if param.step is not None else param.high]


#: exponent notation without a dot (1e-4), which YAML 1.1 (PyYAML) reads as text and YAML 1.2 as a number
_EXPONENT_FLOAT = r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"


def load_space(path: str | Path, config_class: type = DetectorConfig) -> list[Param]:
    """The search space of a YAML file (see :func:`parse_space`). Numbers such as ``1e-4`` are
    numbers, as in YAML 1.2: PyYAML alone reads them as text, and a learning-rate range failed."""
    import re

    import yaml

    class SpaceLoader(yaml.SafeLoader):
        pass

    # the class method copies the resolver table into SpaceLoader: yaml.SafeLoader is unchanged
    SpaceLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_EXPONENT_FLOAT), list("-+0123456789"))
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SpaceLoader)  # a SafeLoader: no objects
    except OSError as exc:
        raise InputError(f"cannot read the search space ({exc.strerror})", path=path) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})", path=path) from None
    try:
        return parse_space(raw, config_class)
    except ConfigError as exc:
        raise ConfigError(str(exc), path=path) from None


def grid_size(space: list[Param], points: int) -> int:
    return math.prod(len(p.grid(points)) for p in space)


def trial_params(space: list[Param], strategy: str, *, trial: int, seed: int,
                 history: list[dict[str, Any]], grid_points: int = 3, trials: int | None = None,
                 maximize: bool = True) -> dict[str, Any]:
    """Parameters of trial number ``trial``: a pure function of its arguments."""
    validate_choice("strategy", strategy, STRATEGIES)
    if strategy == "grid":
        combos = list(itertools.product(*(p.grid(grid_points) for p in space)))
        order = np.arange(len(combos))
        if trials is not None and trials < len(combos):
            order = np.random.default_rng(seed).permutation(len(combos))
        if trial >= len(combos):
            raise ConfigError(f"the grid has only {len(combos)} points")
        return dict(zip([p.name for p in space], combos[order[trial]]))
    if strategy == "random" or not history:
        rng = np.random.default_rng([seed, trial])
        return {p.name: p.sample(rng) for p in space}
    return _tpe_params(space, trial, seed, history, maximize)


def _tpe_params(space: list[Param], trial: int, seed: int, history: list[dict[str, Any]],
                maximize: bool) -> dict[str, Any]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def distribution(p: Param) -> Any:
        if p.choices is not None:
            return CategoricalDistribution([json.dumps(c) for c in p.choices])
        if p.integer:
            return IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        return FloatDistribution(p.low, p.high, log=p.log, step=p.step)

    dists = {p.name: distribution(p) for p in space}

    def encode(p: Param, value: Any) -> Any:
        return json.dumps(list(value) if isinstance(value, tuple) else value) if p.choices is not None else value

    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed * 100003 + trial,
                                                                   n_startup_trials=5))
    for past in history:
        study.add_trial(optuna.trial.create_trial(
            params={p.name: encode(p, past["params"][p.name]) for p in space},
            distributions=dists, value=past["score"]))
    asked = study.ask(dists)
    out = {}
    for p in space:
        value = asked.params[p.name]
        out[p.name] = _decode(json.loads(value)) if p.choices is not None else value
    return out


def _decode(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def config_for(base: Any, params: dict[str, Any]) -> Any:
    """``base`` with the trial's parameters (lists from JSON become tuples)."""
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
    try:
        return replace(base, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"parameters {values} are not valid: {exc}") from None


def training_cost(base: Any, params: dict[str, Any]) -> float:
    """A relative estimate of one trial's training time: epochs times the weights of its networks
    (multiply-adds per row, the input width taken as 128). Only the order of trials uses it."""
    config = config_for(base, params) if params else base

    def weights(widths: tuple[int, ...]) -> int:
        sizes = (128, *widths)
        return sum(a * b for a, b in zip(sizes, sizes[1:]))

    if hasattr(config, "units"):  # a log model: event embeddings into a recurrent layer of ``units``
        from ..logs.detector import EPOCHS

        epochs = config.epochs or max(EPOCHS.values())
        return float(epochs * 4 * config.units * (config.units + config.embedding))
    model = getattr(config, "model", "mlp")
    epochs = config.resolved_epochs if hasattr(config, "resolved_epochs") else (getattr(config, "epochs", None) or 10)
    total = 0.0
    if model != "autoencoder":
        total += epochs * getattr(config, "ensemble", 1) * weights(tuple(getattr(config, "hidden", (64,))))
    if model in ("hybrid", "autoencoder"):
        ae_epochs = epochs if model == "autoencoder" else getattr(config, "ae_epochs", epochs)
        total += ae_epochs * 2 * weights(tuple(getattr(config, "ae_hidden", (64,))))  # encoder and decoder
    return float(total)


# -- the objective: cross-validation on the training data ------------------------------------------
_STATE: dict[str, Any] = {}  # per worker process: the split plan and how to build detectors


def init_objective(plan: Any, base: DetectorConfig, detector_class: str, metric: str,
                   benign_labels: tuple[str, ...]) -> None:
    """Set what :func:`evaluate_params` uses (called once per process, also as a pool initializer)."""
    _STATE.update(plan=plan, base=base, detector_class=detector_class, metric=metric,
                  benign_labels=benign_labels)


def evaluate_params(params: dict[str, Any]) -> dict[str, Any]:
    """Mean (and std) of the metric over the plan's folds for one parameter set."""
    import importlib

    from .cv import cross_validate

    module, _, name = _STATE["detector_class"].partition(":")
    cls = getattr(importlib.import_module(module), name)
    config = config_for(_STATE["base"], params)
    started = time.perf_counter()
    result = cross_validate(_STATE["plan"], lambda seed: cls(replace(config, seed=seed)),
                            benign_labels=_STATE["benign_labels"])
    values = [f.get(_STATE["metric"]) for f in result["folds"]]
    values = [v for v in values if v is not None]
    if not values:
        raise ConfigError(f"metric {_STATE['metric']!r} is not defined for this data",
                          hint="macro_f1 needs class labels; pr_auc/roc_auc need both classes")
    return {"score": float(np.mean(values)), "std": float(np.std(values)),
            "fold_scores": [float(v) for v in values], "seconds": round(time.perf_counter() - started, 2),
            **process_memory()}


def process_memory() -> dict[str, float]:
    """Resident and peak memory (MiB) of the process that ran the trial, recorded with every trial
    so that growth across trials (the keras-tuner complaint) shows in the journal."""
    import os
    import resource
    import sys

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak_kib / (1024 * 1024) if sys.platform == "darwin" else peak_kib / 1024  # macOS: bytes
    memory = {"peak_rss_mib": round(peak, 1), "pid": os.getpid()}
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        memory["rss_mib"] = round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):  # not Linux: the peak is what there is
        pass
    return memory


def worker_threads(jobs: int) -> int:
    """Threads for each of ``jobs`` trial processes: the cores shared out, at least one."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def _init_worker(threads: int, *objective: Any) -> None:
    """Pool initializer: cap the numeric libraries' threads (before TensorFlow or JAX start), then
    set the objective. Two trials that each start a thread per core oversubscribe the cores: two
    parallel fits took 6-10 s each where one alone took 5.1 s; capped to one thread each, 5.1-5.3 s
    (measured on 2 cores). A variable the user set is left alone. (TensorFlow and OpenMP read these;
    JAX's CPU threads are not capped.)"""
    import os

    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    init_objective(*objective)


def parallel_evaluator(jobs: int) -> Callable[[dict[int, dict[str, Any]]], Iterator[tuple[int, dict[str, Any]]]]:
    """Evaluate trials in ``jobs`` worker processes, each trial in a process of its own; the
    returned function takes ``{trial: params}`` and yields ``(trial, outcome)`` as trials finish,
    so a worker that finishes early starts the next trial instead of waiting for the other.

    A process per trial keeps memory flat across a search: TensorFlow keeps about 40 MiB per
    trained model after ``clear_session`` (measured: resident memory rose by that much per trial in
    one process), and no in-process reset gives it back. Starting a process costs a few seconds
    per trial.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(worker_threads(jobs), _STATE["plan"], _STATE["base"],
                                         _STATE["detector_class"], _STATE["metric"], _STATE["benign_labels"]),
                               max_tasks_per_child=1)

    def run(trials: dict[int, dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        futures = {pool.submit(evaluate_params, params): k for k, params in trials.items()}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    run.shutdown = pool.shutdown  # type: ignore[attr-defined]
    return run


# -- the search loop -------------------------------------------------------------------------------
def refuse_existing_journal(directory: Path) -> None:
    """A new search must not write over a journal of finished trials (nested searches keep theirs
    in ``outer-K`` sub-folders); ``tune`` checks this before it reads the data, too."""
    if any(read_journal(path.parent) for path in sorted(Path(directory).rglob(JOURNAL))):
        raise _journal_exists(directory)


def _journal_exists(directory: Path) -> ConfigError:
    return ConfigError(f"a search journal already exists in {directory}",
                       hint="pass --resume to continue it, or choose another --out")


def read_journal(directory: Path) -> list[dict[str, Any]]:
    """Finished trials, in trial order; a half-written last line (a kill mid-write) is ignored."""
    path = directory / JOURNAL
    if not path.exists():
        return []
    trials = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            trials.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    by_number = {t["trial"]: t for t in trials}
    return [by_number[k] for k in sorted(by_number)]




def _append(directory: Path, record: dict[str, Any]) -> None:
    with open(directory / JOURNAL, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=jsonable) + "\n")
        handle.flush()


def _changed_settings(previous: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The settings that differ, the context's by their own names (``data_sha256``, ``folds``).

    >>> _changed_settings({"seed": 0, "context": {"folds": 3, "data_sha256": "a"}},
    ...                   {"seed": 0, "context": {"folds": 2, "data_sha256": "a"}})
    ['folds']
    """
    changed = []
    for key in sorted(set(previous) | set(now)):
        old, new = previous.get(key), now.get(key)
        if old == new:
            continue
        if key == "context" and isinstance(old, dict) and isinstance(new, dict):
            changed += sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        else:
            changed.append(key)
    return changed


def jsonable(value: Any) -> Any:
    """``json.dumps`` default for search records: numpy scalars, sets, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


@dataclass(frozen=True)
class SearchConfig:
    strategy: str = "random"
    trials: int = 20
    metric: str = "pr_auc"
    grid_points: int = 3
    seed: int = 0
    jobs: int = 1

    def __post_init__(self) -> None:
        validate_types(self)
        validate_choice("strategy", self.strategy, STRATEGIES)
        validate_choice("metric", self.metric, METRICS)
        validate_seed(self.seed)
        if self.trials < 1 or self.jobs < 1:
            raise ConfigError("--trials and --jobs must be at least 1")


def run_search(space: list[Param], search: SearchConfig, evaluate: Callable[[dict[str, Any]], dict[str, Any]],
               directory: str | Path, *, resume: bool = False, progress: Any = None,
               parallel_evaluate: Callable[[dict[int, dict[str, Any]]], Iterable[tuple[int, dict[str, Any]]]]
               | None = None, cost: Callable[[dict[str, Any]], float] | None = None,
               context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run (or continue) a search; ``evaluate(params)`` returns ``{"score", ...}`` for one trial.

    Finished trials are appended to ``directory/trials.jsonl`` as they end (in any order when they
    run in parallel); with ``resume`` the search runs the trials the journal lacks, otherwise an
    existing journal is an error. ``parallel_evaluate({trial: params})`` yields ``(trial, outcome)``
    as trials finish (see :func:`parallel_evaluator`); ``cost(params)``, a relative training cost,
    orders queued trials longest first (it changes when trials run, never what they find).
    ``context`` (the data's checksum, the folds, the base configuration) joins the search settings
    that a resumed search must share with the journal: trials scored on other folds or other data
    would not be comparable.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive_use(directory, "the search journal"):  # a second search would run the same trials
        history = read_journal(directory)
        if resume:
            drop_partial_line(directory / JOURNAL)
        if history and not resume:
            raise _journal_exists(directory)
        settings = {"strategy": search.strategy, "metric": search.metric, "seed": search.seed,
                    "grid_points": search.grid_points, "space": [p.__dict__ for p in space], "context": context or {}}
        settings_path = directory / "search.json"
        if settings_path.exists() and resume:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
            changed = _changed_settings(previous, json.loads(json.dumps(settings, default=jsonable)))
            if changed:
                raise ConfigError(f"--resume with other settings than the journal's (changed: {', '.join(changed)})",
                                  path=settings_path, hint="resume with the same data and options, or start a new --out")
        settings_path.write_text(json.dumps(settings, indent=2, default=jsonable), encoding="utf-8")
        total = search.trials
        if search.strategy == "grid":
            total = min(total, grid_size(space, search.grid_points))
        if progress is not None:
            progress.start(f"{search.strategy} search", total)
            for _ in history[:total]:
                progress.advance()
        done = {h["trial"] for h in history}
        pending = [k for k in range(total) if k not in done]
        # random and grid trials do not depend on earlier results: they all queue at once and finish in
        # any order. tpe's depend on earlier ones, so they run in blocks of ``jobs`` (trials k*jobs ..
        # k*jobs + jobs - 1), each block seeing the blocks before it: a block cut short by a kill is
        # finished with the same history, whatever order its trials had finished in.
        independent = search.strategy in ("random", "grid")
        jobs = max(1, search.jobs)
        while pending:
            if independent:
                batch, known = pending, history
            else:
                block = pending[0] // jobs
                batch = [k for k in pending if k // jobs == block]
                known = [h for h in history if h["trial"] < block * jobs]
            params = {k: trial_params(space, search.strategy, trial=k, seed=search.seed, history=known,
                                      grid_points=search.grid_points, trials=search.trials) for k in batch}
            if cost is not None and independent:
                # longest first: the search's last minutes then run short trials on every worker, not one
                # long trial on one worker while the others sit idle
                params = dict(sorted(params.items(), key=lambda item: (-cost(item[1]), item[0])))
            started = time.perf_counter()
            if parallel_evaluate is not None:
                outcomes = parallel_evaluate(params)
            else:
                outcomes = ((k, evaluate(p)) for k, p in params.items())
            for k, outcome in outcomes:
                record = {"trial": k, "params": params[k], **outcome,
                          "seconds": round(outcome.get("seconds", time.perf_counter() - started), 2)}
                _append(directory, record)
                history.append(json.loads(json.dumps(record, default=jsonable)))
                if progress is not None:
                    progress.advance(best=max(h["score"] for h in history))
            history.sort(key=lambda h: h["trial"])  # the order tpe and the leaderboard read
            pending = [k for k in pending if k not in params]
        if progress is not None:
            progress.finish()
        return history[:total]


def leaderboard(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials best first (ties broken by trial number, so the order is reproducible)."""
    return sorted(history, key=lambda t: (-t["score"], t["trial"]))


def write_leaderboard(history: list[dict[str, Any]], directory: str | Path, metric: str) -> Path:
    """leaderboard.csv (one row per trial, best first) and leaderboard.png (score by trial)."""
    import pandas as pd

    from .report import _pyplot

    directory = Path(directory)
    board = leaderboard(history)
    rows = [{"rank": i + 1, "trial": t["trial"], metric: t["score"], "std": t.get("std"),
             "seconds": t.get("seconds"), "rss_mib": t.get("rss_mib"),
             **{k: json.dumps(v) if isinstance(v, (list, tuple)) else v
                                             for k, v in t["params"].items()}}
            for i, t in enumerate(board)]
    path = directory / "leaderboard.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    scores = [t["score"] for t in history]
    ax.plot(range(len(scores)), scores, "o", label="trial")
    ax.plot(range(len(scores)), np.maximum.accumulate(scores), "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (mean over validation folds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(directory / "leaderboard.png", dpi=110)
    plt.close(fig)
    return path
