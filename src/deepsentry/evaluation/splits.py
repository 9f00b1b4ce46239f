"""One splitter for ``cv``, ``tune`` and the benchmarks: stratified, grouped and time-ordered folds,
made after de-duplication so no identical record sits on both sides of a split.

>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"a": [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]})
>>> y = np.array(["n", "n", "n", "n", "n", "a", "a", "a", "a", "a"])
>>> plan = make_splits(X, y, SplitConfig(folds=2, seed=0))
>>> plan.duplicates_removed, len(plan.folds), len(plan.X)
(1, 2, 9)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.base import validate_choice, validate_range
from ..core.errors import ConfigError, InputError
from ..core.tabular import _dedupe

STRATEGIES = ("stratified", "group", "time")


@dataclass(frozen=True)
class SplitConfig:
    """How to split; ``group_column`` / ``time_column`` pick the grouped and time-ordered splits."""

    folds: int = 5
    strategy: str = "stratified"
    group_column: str | None = None
    time_column: str | None = None
    dedupe: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        validate_range("folds", self.folds, 2, 100)
        validate_choice("strategy", self.strategy, STRATEGIES)
        if self.strategy == "group" and not self.group_column:
            raise ConfigError("grouped splits need a group column", hint="pass --group-column")
        if self.strategy == "time" and not self.time_column:
            raise ConfigError("time-ordered splits need a time column", hint="pass --time-column")

    @classmethod
    def from_columns(cls, *, folds: int, group_column: str | None, time_column: str | None,
                     seed: int, dedupe: bool = True) -> "SplitConfig":
        if group_column and time_column:
            raise ConfigError("choose one of --group-column and --time-column")
        strategy = "group" if group_column else "time" if time_column else "stratified"
        return cls(folds=folds, strategy=strategy, group_column=group_column, time_column=time_column,
                   dedupe=dedupe, seed=seed)


@dataclass
class SplitPlan:
    """The de-duplicated data and its folds: (train indices, test indices) into ``X``/``y``."""

    X: pd.DataFrame
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    duplicates_removed: int = 0
    conflicting_duplicates: int = 0
    config: SplitConfig = field(default_factory=SplitConfig)

    def describe(self) -> dict:
        return {"strategy": self.config.strategy, "folds": len(self.folds), "seed": self.config.seed,
                "rows": len(self.y), "duplicates_removed": self.duplicates_removed,
                "conflicting_duplicates": self.conflicting_duplicates,
                "group_column": self.config.group_column, "time_column": self.config.time_column,
                "fold_sizes": [[int(len(a)), int(len(b))] for a, b in self.folds]}


def make_splits(X: pd.DataFrame, y: np.ndarray, config: SplitConfig | None = None) -> SplitPlan:
    """De-duplicate ``X``/``y`` (features + label), then make the folds.

    The group and time columns take part in de-duplication (two identical records from different
    hosts are different records) and are removed from the returned features.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold, TimeSeriesSplit

    config = config or SplitConfig()
    y = np.asarray(y).astype(str).astype(object)
    removed = conflicting = 0
    if config.dedupe:
        X, y, removed, conflicting = _dedupe(X.reset_index(drop=True), y)
    else:
        X = X.reset_index(drop=True)
    aux = None
    if config.strategy in ("group", "time"):
        column = config.group_column if config.strategy == "group" else config.time_column
        if column not in X.columns:
            raise InputError(f"column {column!r} not found",
                             hint=f"columns are: {', '.join(map(str, X.columns[:12]))}")
        aux = X[column].to_numpy()
        X = X.drop(columns=[column])
    index = np.arange(len(y))
    if config.strategy == "stratified":
        splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
        folds = list(splitter.split(index, y))
    elif config.strategy == "group":
        n_groups = len(pd.unique(aux))
        if n_groups < config.folds:
            raise InputError(f"{n_groups} groups in {config.group_column!r}, fewer than {config.folds} folds")
        # GroupKFold is deterministic; shuffle group identities with the seed for other fold sets
        codes, uniques = pd.factorize(aux)
        permutation = np.random.default_rng(config.seed).permutation(len(uniques))
        folds = list(GroupKFold(config.folds).split(index, y, permutation[codes]))
    else:
        order = np.argsort(_time_keys(aux), kind="stable")
        folds = [(order[a], order[b]) for a, b in TimeSeriesSplit(config.folds).split(order)]
    folds = [(np.sort(a), np.sort(b)) for a, b in folds]
    return SplitPlan(X=X, y=y, folds=folds, duplicates_removed=removed,
                     conflicting_duplicates=conflicting, config=config)


def _time_keys(values: np.ndarray) -> np.ndarray:
    """Sortable keys for a time column: numbers (epoch seconds, counters) or date-time text."""
    series = pd.Series(values)
    numeric = pd.to_numeric(series, errors="coerce")
    if numeric.notna().mean() < 0.5:
        stamps = pd.to_datetime(series, errors="coerce", utc=True)
        if stamps.notna().mean() < 0.5:
            raise InputError("the time column holds neither numbers nor date-times")
        numeric = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return numeric.fillna(-np.inf).to_numpy(dtype=np.float64)
