"""An experiment: labelled training data of one domain, a base configuration and a seed; what
``cv`` and ``tune`` run on. Keeps the CLI thin and records what a report needs to be reproduced.

>>> exp = load_experiment("KDDTrain+.txt", domain="flows", seed=0)       # doctest: +SKIP
>>> plan = exp.splits(folds=5)                                            # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..core.base import validate_range
from ..core.bundle import package_versions, sha256_file
from ..core.errors import ConfigError
from ..core.tables import LabelledTable
from ..core.tabular import DetectorConfig
from .splits import INPUT_ORDER, SplitConfig, SplitPlan, make_splits

DOMAINS = {"flows": "deepsentry.flows.detector:FlowDetector",
           "malware": "deepsentry.malware.detector:MalwareDetector",
           "logs": "deepsentry.evaluation.log_folds:LogFoldDetector"}
#: ``--time-column`` for log sequences: the order they appear in the input (windows: time order)
LOG_ORDER = "order"


@dataclass
class Experiment:
    domain: str
    data: LabelledTable
    base: DetectorConfig
    source: Path
    aux_columns: tuple[str, ...] = ()
    checksum: str = ""
    notes: list[str] = field(default_factory=list)
    #: logs: the training sequences and how they were read (what the final bundle keeps)
    log_data: Any = None

    @property
    def detector_class(self) -> str:
        return DOMAINS[self.domain]

    @property
    def benign_labels(self) -> tuple[str, ...]:
        return tuple(self.data.benign_labels)

    def _cls(self) -> Any:
        import importlib

        module, _, name = self.detector_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def make_detector(self, seed: int, config: DetectorConfig | None = None) -> Any:
        return self._cls()(dataclasses.replace(config or self.base, seed=seed))

    def splits(self, *, folds: int, group_column: str | None = None, time_column: str | None = None,
               seed: int | None = None, novel: bool = False) -> SplitPlan:
        if self.domain == "logs":
            if group_column or novel:
                raise ConfigError("log sequences split stratified or in time order only",
                                  hint=f"drop --group-column/--novel-attacks; --time-column {LOG_ORDER} "
                                       "splits them in input order")
            if time_column not in (None, LOG_ORDER):
                raise ConfigError(f"log sequences have no column {time_column!r}",
                                  hint=f"--time-column {LOG_ORDER} splits them in the order of the input")
            time_column = INPUT_ORDER if time_column else None
        config = SplitConfig.from_columns(folds=folds, group_column=group_column, time_column=time_column,
                                          seed=self.base.seed if seed is None else seed, novel=novel)
        # attack types: the labels as written (NSL-KDD's attack names), finer than the classes
        types = self.data.raw_labels if getattr(self.data, "raw_labels", None) is not None else None
        plan = make_splits(self.data.features, self.data.labels, config, attack_types=types,
                           benign_labels=self.benign_labels)
        drop = [c for c in self.aux_columns if c in plan.X.columns]
        if drop:  # an aux column that was not the split column is still not a feature
            plan.X = plan.X.drop(columns=drop)
        self.notes.extend(plan.notes)
        return plan

    def fit_final(self, config: DetectorConfig, progress: Any = None) -> Any:
        """Fit on all the training data, through the domain's own fit (it records how to read)."""
        if self.domain == "logs":  # the sequences as read, with their reader for the bundle
            from ..logs.detector import LogSequenceDetector

            return self.log_data.fit(LogSequenceDetector(config))
        features = self.data.features.drop(columns=[c for c in self.aux_columns
                                                    if c in self.data.features.columns])
        data = dataclasses.replace(self.data, features=features)
        detector = self._cls()(config)
        if self.domain == "flows":
            return detector.fit_flows(data, progress=progress, source=self.source)
        return detector.fit_table(data, progress=progress, source=self.source)

    def record(self) -> dict[str, Any]:
        """What a report needs for reproduction: seed, config, data checksum, package versions."""
        return {"reproducibility": {"seed": self.base.seed, "domain": self.domain,
                                    "config": dataclasses.asdict(self.base), "data": str(self.source),
                                    "data_sha256": self.checksum, "packages": package_versions()}}


def config_class(domain: str) -> type:
    """The configuration dataclass of ``domain``'s models (what a search space may name)."""
    if domain == "logs":
        from ..logs.detector import LogConfig

        return LogConfig
    return DetectorConfig


def load_experiment(data: str | Path | None, *, domain: str = "flows", model: str | None = None,
                    epochs: int | None = None, augment: str = "none", seed: int = 0,
                    label_column: str | None = None, benign_labels: tuple[str, ...] = (),
                    format: str | None = None, keep_columns: tuple[str, ...] = (),
                    log_input: Any = None, labels_file: str | Path | None = None) -> Experiment:
    """Read labelled training data of ``domain`` and the domain's default configuration.

    For ``logs``, ``log_input`` (a :class:`~deepsentry.logs.pipeline.LogInput`) says how to read
    the sequences; ``data`` and ``format`` fill its ``data`` and ``fmt`` when it leaves them out.
    For ``malware``, ``data`` may be a folder of samples labelled by ``labels_file`` (features
    extracted with the ``clamp`` set, as ``train malware`` does by default).
    """
    if domain not in DOMAINS:
        raise ConfigError(f"unknown domain {domain!r}", hint=f"choose one of: {', '.join(DOMAINS)}")
    if domain == "logs":
        return _load_log_experiment(data, log_input, model=model, epochs=epochs, augment=augment, seed=seed,
                                    label_column=label_column, benign_labels=benign_labels, format=format)
    if data is None:
        raise ConfigError("give the training data with --data")
    source = Path(data)
    overrides = {k: v for k, v in {"model": model, "epochs": epochs}.items() if v is not None}
    # the configuration first: a bad setting is refused before minutes of reading
    if domain == "flows":
        from ..flows import ReadOptions
        from ..flows.detector import read_training_flows

        base = DetectorConfig(seed=seed, augment=augment, **overrides)
        table = read_training_flows(source, ReadOptions(format=format, label_column=label_column,
                                                        benign_labels=benign_labels, keep_columns=keep_columns,
                                                        require_labels=True))
    else:
        from ..malware import malware_config, read_labelled_files, read_pe_features

        base = malware_config(seed=seed, augment=augment, **overrides)
        if format is not None:
            raise ConfigError(f"--format {format} names a flow or log format; PE-feature tables are recognised "
                              "by their content", path=source)
        if source.is_dir():
            if labels_file is None:
                raise ConfigError("a folder of samples needs --labels (sha256 or file name, label)", path=source)
            table = read_labelled_files(source, labels_file)
        elif labels_file is not None:
            raise ConfigError("--labels labels a folder of samples; a feature table carries a label column",
                              path=source, hint="name it with --label-column")
        else:
            table = read_pe_features(source, label_column=label_column, require_labels=True)
    if table.labels is None:
        raise ConfigError("cross-validation and tuning need labelled data", path=source,
                          hint="name the label column with --label-column")
    checksum = sha256_file(source) if source.is_file() else ""
    return Experiment(domain=domain, data=table, base=base, source=source, aux_columns=keep_columns,
                      checksum=checksum)


def _load_log_experiment(data: str | Path | None, log_input: Any, *, model: str | None, epochs: int | None,
                         augment: str, seed: int, label_column: str | None, benign_labels: tuple[str, ...],
                         format: str | None) -> Experiment:
    import hashlib

    from ..logs.detector import LogConfig
    from ..logs.pipeline import LogInput
    from .log_folds import sequence_table

    if augment != "none":
        raise ConfigError("--augment resamples feature tables; log sequences are not augmented",
                          hint="the log classifier weights its classes instead")
    if label_column or benign_labels:
        raise ConfigError("--label-column and --benign-label are for tables; log sequences take their labels "
                          "from a Label column, --labels, per-line labels or --normal/--abnormal")
    base = LogConfig(seed=seed, **{k: v for k, v in {"model": model, "epochs": epochs}.items() if v is not None})
    log_input = log_input or LogInput()
    if log_input.data is None and data is not None:
        log_input = dataclasses.replace(log_input, data=Path(data))
    if log_input.fmt is None and format is not None:
        log_input = dataclasses.replace(log_input, fmt=format)
    training = log_input.read()
    source = log_input.files[0]
    table = sequence_table(training.sequences, source)
    if (table.labels == table.benign_labels[0]).all() or (table.labels != table.benign_labels[0]).all():
        raise ConfigError("cross-validation and tuning need normal and anomalous sequences", path=source,
                          hint="give --abnormal sequences, or --labels for raw logs")
    # one checksum over every file read (data, sequence files, labels), in a fixed order
    digest = hashlib.sha256()
    for path in log_input.files:
        digest.update(sha256_file(path).encode() if path.is_file() else b"-")
    exp = Experiment(domain="logs", data=table, base=base, source=source, checksum=digest.hexdigest(),
                     log_data=training)
    if training.miner is not None:
        exp.notes.append("Templates were mined from all the log lines before splitting (no labels are used "
                         "for that), as train logs does; the folds then split the sessions.")
    return exp


def check_split_options(*, folds: int, outer_folds: int = 0, group_column: str | None = None,
                        time_column: str | None = None, novel: bool = False) -> None:
    """Refuse fold settings before any data is read (``cv`` and ``tune`` read it next).

    >>> check_split_options(folds=3, outer_folds=1)
    Traceback (most recent call last):
    ...
    deepsentry.core.errors.ConfigError: outer_folds must be in [2, 100]; got 1
    """
    SplitConfig.from_columns(folds=folds, group_column=group_column, time_column=time_column, seed=0, novel=novel)
    if outer_folds:
        validate_range("outer_folds", outer_folds, 2, 100)


def search_journal(out_dir: str | Path) -> Path:
    """Where ``tune --out DIR`` keeps its search journal and leaderboard: ``DIR.search``."""
    out_dir = Path(out_dir)
    return out_dir.parent / (out_dir.name + ".search")


def run_tuning(exp: Experiment, space: list, search: Any, out_dir: str | Path, *, folds: int = 3,
               outer_folds: int = 0, group_column: str | None = None, time_column: str | None = None,
               novel: bool = False, resume: bool = False, progress: Any = None) -> dict[str, Any]:
    """Search on CV folds of the training data, optionally estimate the tuned model by nested CV,
    retrain the best configuration on all the data and save it with its search record."""
    from .cv import clear_keras, fold_metrics
    import functools

    from .tuning import (config_for, evaluate_params, init_objective, jsonable, leaderboard, parallel_evaluator,
                         refuse_existing_journal, run_search, training_cost, write_leaderboard)

    check_split_options(folds=folds, outer_folds=outer_folds)
    out_dir = Path(out_dir)
    journal = search_journal(out_dir)
    if not resume:  # nested searches first write outer-K journals inside it
        refuse_existing_journal(journal)

    def search_on(plan: SplitPlan, directory: Path, bar: Any) -> list[dict[str, Any]]:
        init_objective(plan, exp.base, exp.detector_class, search.metric, exp.benign_labels)
        parallel = parallel_evaluator(search.jobs)  # also for one job: a process per trial
        try:
            context = {"domain": exp.domain, "data_sha256": exp.checksum, "base_config": dataclasses.asdict(exp.base),
                       "folds": {k: v for k, v in plan.describe().items() if k != "notes"}}
            return run_search(space, search, evaluate_params, directory, resume=resume, progress=bar,
                              parallel_evaluate=parallel, cost=functools.partial(training_cost, exp.base),
                              context=context)
        finally:
            if parallel is not None:
                parallel.shutdown()

    nested = None
    if outer_folds:
        outer = exp.splits(folds=outer_folds, group_column=group_column, time_column=time_column, novel=novel)
        scores = []
        for k, (train, test) in enumerate(outer.folds):
            inner_config = SplitConfig(folds=folds, seed=search.seed, dedupe=False)
            inner = make_splits(outer.X.iloc[train], outer.y[train], inner_config)
            history = search_on(inner, journal / f"outer-{k}", None)
            best = leaderboard(history)[0]
            detector = exp.make_detector(search.seed, config_for(exp.base, best["params"]))
            detector.fit(outer.X.iloc[train], outer.y[train], benign_labels=exp.benign_labels)
            metrics, _ = fold_metrics(detector, outer.X.iloc[test], outer.y[test])
            scores.append(metrics.get(search.metric))
            del detector
            clear_keras()
        values = [s for s in scores if s is not None]
        nested = {"outer_folds": outer_folds, "scores": scores,
                  "mean": statistics.fmean(values) if values else float("nan"),
                  "std": statistics.pstdev(values) if values else float("nan")}

    plan = exp.splits(folds=folds, group_column=group_column, time_column=time_column, novel=novel)
    history = search_on(plan, journal, progress)
    write_leaderboard(history, journal, search.metric)
    board = leaderboard(history)
    best_config = config_for(exp.base, board[0]["params"])
    detector = exp.fit_final(best_config)
    record = {"strategy": search.strategy, "metric": search.metric, "seed": search.seed,
              "trials": len(history), "folds": folds, "plan": plan.describe(), "best": board[0],
              "leaderboard": board[:50], "nested_cv": nested, "journal": str(journal),
              **exp.record()}
    record = json.loads(json.dumps(record, default=jsonable))
    path = detector.save(out_dir, extra_files={"search.json": record})
    try:
        from ..core.onnx import export_onnx

        if path.is_dir() and exp.domain != "logs":  # sequence models score through Keras
            export_onnx(detector, path)
    except Exception as exc:  # ONNX is an accelerator, not a requirement
        exp.notes.append(f"model.onnx not written ({exc})")
    (journal / "search-record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return {"leaderboard": board, "nested": nested, "journal": journal, "bundle": path}

