"""One splitter for ``cv``, ``tune`` and the benchmarks: stratified, grouped, time-ordered and
novel-attack folds, made after de-duplication so no identical record sits on both sides of a split.

Novel-attack folds (leave attack types out) put every record of an attack type in one test fold and
spread benign records evenly, so each test fold holds only attack types its training folds never
saw: how a detector does on the attacks of tomorrow, not on more of today's.

>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"a": [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]})
>>> y = np.array(["n", "n", "n", "n", "n", "a", "a", "a", "a", "a"])
>>> plan = make_splits(X, y, SplitConfig(folds=2, seed=0))
>>> plan.duplicates_removed, len(plan.folds), len(plan.X)
(1, 2, 9)
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.base import validate_choice, validate_range, validate_seed, validate_types
from ..core.errors import ConfigError, InputError
from ..core.preprocessing import require_features
from ..core.tabular import _dedupe

STRATEGIES = ("stratified", "group", "time", "novel")
ATTACK_TYPE = "__attack_type__"
#: time column meaning "the records' order in the input" (log sequences and windows)
INPUT_ORDER = "input order"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitConfig:
    """How to split; ``group_column`` / ``time_column`` pick the grouped and time-ordered splits,
    strategy ``novel`` the leave-attack-types-out folds."""

    folds: int = 5
    strategy: str = "stratified"
    group_column: str | None = None
    time_column: str | None = None
    dedupe: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        validate_types(self)
        validate_range("folds", self.folds, 2, 100)
        validate_seed(self.seed)
        validate_choice("strategy", self.strategy, STRATEGIES)
        if self.strategy == "group" and not self.group_column:
            raise ConfigError("grouped splits need a group column", hint="pass --group-column")
        if self.strategy == "time" and not self.time_column:
            raise ConfigError("time-ordered splits need a time column", hint="pass --time-column")

    @classmethod
    def from_columns(cls, *, folds: int, group_column: str | None, time_column: str | None,
                     seed: int, dedupe: bool = True, novel: bool = False) -> "SplitConfig":
        if sum(map(bool, (group_column, time_column, novel))) > 1:
            raise ConfigError("choose one of --group-column, --time-column and --novel-attacks")
        strategy = "group" if group_column else "time" if time_column else "novel" if novel else "stratified"
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
    #: novel-attack folds: the attack types of each test fold
    test_attack_types: list[list[str]] | None = None
    #: what the split did with records it could not place as asked (also logged as warnings)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"strategy": self.config.strategy, "folds": len(self.folds), "seed": self.config.seed,
                "rows": len(self.y), "duplicates_removed": self.duplicates_removed,
                "conflicting_duplicates": self.conflicting_duplicates,
                "group_column": self.config.group_column, "time_column": self.config.time_column,
                "fold_sizes": [[int(len(a)), int(len(b))] for a, b in self.folds],
                **({"test_attack_types": self.test_attack_types} if self.test_attack_types else {}),
                **({"notes": self.notes} if self.notes else {})}


def make_splits(X: pd.DataFrame, y: np.ndarray, config: SplitConfig | None = None, *,
                attack_types: np.ndarray | None = None, benign_labels: tuple[str, ...] = ()) -> SplitPlan:
    """De-duplicate ``X``/``y`` (features + label), then make the folds.

    The group and time columns take part in de-duplication (two identical records from different
    hosts are different records) and are removed from the returned features. Novel-attack folds
    need ``benign_labels`` and may take ``attack_types`` (finer than ``y``, e.g. NSL-KDD's attack
    names under its categories; default ``y``).
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    config = config or SplitConfig()
    y = np.asarray(y).astype(str).astype(object)
    if config.strategy == "novel":
        if not benign_labels:
            raise ConfigError("novel-attack folds need the benign label(s)")
        types = y if attack_types is None else np.asarray(attack_types).astype(str).astype(object)
        if len(types) != len(y):
            raise ConfigError("attack_types must have one entry per record")
        X = X.reset_index(drop=True).assign(**{ATTACK_TYPE: types})
    # the columns only: a dropped copy of the frame would cost a pass over every row
    require_features([c for c in X.columns if c not in (config.group_column, config.time_column, ATTACK_TYPE)])
    removed = conflicting = 0
    if config.dedupe:
        X, y, removed, conflicting = _dedupe(X.reset_index(drop=True), y)
    else:
        X = X.reset_index(drop=True)
    aux = None
    if config.strategy in ("group", "time", "novel"):
        column = {"group": config.group_column, "time": config.time_column, "novel": ATTACK_TYPE}[config.strategy]
        if column == INPUT_ORDER and column not in X.columns:  # after de-duplication: first occurrences
            X = X.assign(**{INPUT_ORDER: np.arange(len(X))})
        if column not in X.columns:
            raise InputError(f"column {column!r} not found",
                             hint=f"columns are: {', '.join(map(str, X.columns[:12]))}")
        aux = X[column].to_numpy()
        X = X.drop(columns=[column])
    index = np.arange(len(y))
    held_out = None  # novel-attack folds: each test fold's attack types
    notes: list[str] = []
    if config.strategy == "stratified":
        counts = pd.Series(y).value_counts().sort_index()
        if len(counts) and counts.max() < config.folds:  # sklearn's own error names no class
            raise InputError(f"too few records for {config.folds} folds after de-duplication ({removed} duplicates "
                             "removed): " + ", ".join(f"class {name!r} {n}" for name, n in counts.items()),
                             hint="use fewer --folds, or more data")
        splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
        folds = list(splitter.split(index, y))
    elif config.strategy == "group":
        # records without a group value form one group of their own: they must not join some
        # host's group by accident (factorize's default code -1 would index the last group)
        blank = pd.isna(aux) | (pd.Series(aux, dtype=object).astype(str).str.strip() == "").to_numpy()
        codes, uniques = pd.factorize(np.where(blank, None, aux), use_na_sentinel=False)
        missing = int(blank.sum())  # a blank CSV field reads as "", not as a missing value
        if missing:
            notes.append(f"{missing} records have no value in group column {config.group_column!r}; "
                         "they form one group of their own")
        n_groups = len(uniques)
        if n_groups < config.folds:
            raise InputError(f"{n_groups} groups in {config.group_column!r}, fewer than {config.folds} folds")
        # GroupKFold is deterministic; shuffle group identities with the seed for other fold sets
        permutation = np.random.default_rng(config.seed).permutation(len(uniques))
        folds = list(GroupKFold(config.folds).split(index, y, permutation[codes]))
    elif config.strategy == "novel":
        folds, held_out = _novel_folds(y, aux, benign_labels, config.folds, config.seed)
    else:
        keys = _time_keys(aux, config.time_column)
        unreadable = int(np.isneginf(keys).sum())
        if unreadable:
            notes.append(f"{unreadable} records have no readable time in {config.time_column!r}; "
                         "they count as the oldest (always on the training side)")
        folds = _forward_chaining(keys, config.folds, config.time_column)
    folds = [(np.sort(a), np.sort(b)) for a, b in folds]
    for note in notes:
        log.warning("%s", note)
    return SplitPlan(X=X, y=y, folds=folds, duplicates_removed=removed, conflicting_duplicates=conflicting,
                     config=config, test_attack_types=held_out, notes=notes)


def _novel_folds(y: np.ndarray, types: np.ndarray, benign_labels: tuple[str, ...], folds: int,
                 seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[list[str]]]:
    """Each attack type in exactly one test fold (types dealt largest first to the fold with the
    fewest attack records, ties in a seeded order); benign records dealt evenly at random.
    Returns the folds and each test fold's attack types."""
    rng = np.random.default_rng(seed)
    benign = np.isin(np.char.lower(y.astype(str)), [b.lower() for b in benign_labels])
    if not benign.any():
        raise InputError(f"no benign records (labels {', '.join(benign_labels)}) to spread over the folds")
    names, counts = np.unique(types[~benign], return_counts=True)
    if len(names) < folds:
        raise InputError(f"{len(names)} attack types, fewer than {folds} folds",
                         hint="use fewer --folds, or label attacks by type")
    order = sorted(zip(rng.permutation(len(names)), names, counts), key=lambda t: (-t[2], t[0]))
    load, fold_of = np.zeros(folds, dtype=np.int64), {}
    for _, name, count in order:
        k = int(np.argmin(load))
        fold_of[name] = k
        load[k] += count
    assignment = np.empty(len(y), dtype=np.int64)
    benign_rows = rng.permutation(np.flatnonzero(benign))
    assignment[benign_rows] = np.arange(len(benign_rows)) % folds
    attack_rows = np.flatnonzero(~benign)
    assignment[attack_rows] = [fold_of[t] for t in types[attack_rows]]
    index = np.arange(len(y))
    held_out = [sorted(str(name) for name, fold in fold_of.items() if fold == k) for k in range(folds)]
    return [(index[assignment != k], index[assignment == k]) for k in range(folds)], held_out


def _forward_chaining(keys: np.ndarray, folds: int, column: str | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward-chaining folds over time ``keys`` (TimeSeriesSplit's blocks), each boundary moved
    past any run of equal times, so that records of one instant never sit on both sides.

    >>> [(a.tolist(), b.tolist()) for a, b in _forward_chaining(np.array([3., 1., 1., 2., 2., 2.]), 2, "t")]
    [([1, 2], [3, 4, 5]), ([1, 2, 3, 4, 5], [0])]
    """
    from sklearn.model_selection import TimeSeriesSplit

    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    result = []
    for _, test in TimeSeriesSplit(folds).split(order):
        start, end = (int(np.searchsorted(ordered, ordered[i], side="right")) for i in (test[0] - 1, test[-1]))
        if start >= end and np.isneginf(ordered[test[0]]):
            raise InputError(f"{int(np.isneginf(ordered).sum())} of {len(keys)} records have no readable time in "
                             f"{column!r}: counted as the oldest, they fill a whole test fold of {folds}",
                             hint="use fewer --folds, or give those records a time")
        if start >= end:
            raise InputError(f"time column {column!r} has too few distinct times ({len(np.unique(ordered))}) for "
                             f"{folds} forward-chaining folds: records of one time stay on one side of a split",
                             hint="use fewer --folds, or a finer time column")
        result.append((order[:start], order[start:end]))
    return result


def _time_keys(values: np.ndarray, column: str) -> np.ndarray:
    """Sortable keys for a time column: numbers (epoch seconds, counters) or date-time text."""
    series = pd.Series(values)
    numeric = pd.to_numeric(series, errors="coerce")
    if numeric.notna().mean() < 0.5:
        with warnings.catch_warnings():  # "could not infer format": it then parses each value, as wanted
            warnings.simplefilter("ignore", UserWarning)
            stamps = pd.to_datetime(series, errors="coerce", utc=True)
        if stamps.notna().mean() < 0.5:
            bad = series[stamps.isna() & numeric.isna() & series.notna()]
            example = f"; e.g. {str(bad.iloc[0])[:40]!r}" if len(bad) else ""
            raise InputError(f"time column {column!r} holds neither numbers nor date-times (read as numbers: "
                             f"{numeric.notna().mean():.0%}, as date-times: {stamps.notna().mean():.0%}{example})",
                             hint="split by a column of epoch seconds, counters or ISO 8601 times")
        numeric = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return numeric.fillna(-np.inf).to_numpy(dtype=np.float64)
