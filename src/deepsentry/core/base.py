"""The contract every learnable deepsentry component follows (the estimator contract).

* ``fit(X, y=None) -> self`` learns from training data only and chooses the operating threshold on
  a validation split carved from that training data;
* ``score_samples(X)`` returns one float per record, higher = more malicious;
* ``predict(X)`` returns 0/1 alerts at the threshold chosen in ``fit``;
* learned state lives in attributes ending in ``_``; constructor arguments are stored unchanged;
* ``save(path)`` writes a versioned bundle and ``load(path)`` reads it back (never a pickle).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import types
import typing
from dataclasses import asdict, fields, is_dataclass
from typing import Any, Self

import numpy as np

from .errors import ConfigError, check_is_fitted
from .thresholds import ThresholdChoice


class Detector(ABC):
    """Base class: subclasses implement ``fit``, ``score_samples``, ``save`` and ``load``."""

    #: the bundle kind this detector writes (``flows``, ``logs``, ``malware``)
    kind: str = "generic"
    threshold_: ThresholdChoice

    @abstractmethod
    def fit(self, X: Any, y: Any = None) -> Self:
        """Learn from ``X`` (and labels ``y`` when the detector is supervised)."""

    @abstractmethod
    def score_samples(self, X: Any) -> np.ndarray:
        """One score per record; higher means more malicious."""

    def predict(self, X: Any) -> np.ndarray:
        """0/1 alerts at the operating threshold chosen in ``fit``."""
        check_is_fitted(self, ("threshold_",))
        return (self.score_samples(X) > self.threshold_.threshold).astype(np.int8)

    @abstractmethod
    def save(self, path: Any) -> Any:
        """Write this fitted detector as a bundle."""

    @classmethod
    @abstractmethod
    def load(cls, path: Any) -> Self:
        """Read a detector written by :meth:`save`."""

    def get_params(self) -> dict[str, Any]:
        config = getattr(self, "config", None)
        return asdict(config) if is_dataclass(config) else {}


def validate_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def validate_types(config: Any) -> None:
    """Raise a :class:`ConfigError` naming the first field of dataclass ``config`` whose value is not
    of its annotated type (``int``, ``float``, ``bool``, ``str``, ``None`` unions, ``tuple[int, ...]``).

    Config values come from YAML search spaces, JSON bundles and keyword arguments; without this a
    wrong type surfaces deep inside training (``epochs=1.5``) or passes as truthy (``dedupe="no"``).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     epochs: int = 1
    >>> validate_types(C(epochs=1.5))
    Traceback (most recent call last):
    deepsentry.core.errors.ConfigError: epochs must be an integer; got 1.5
    """
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        hint = hints.get(f.name)
        value = getattr(config, f.name)
        expected = _type_problem(hint, value)
        if expected:
            raise ConfigError(f"{f.name} must be {expected}; got {value!r}")


def _type_problem(hint: Any, value: Any) -> str | None:
    """What ``value`` should have been to match ``hint``, or None when it matches (or the hint is
    not one this checks)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(a, value) for a in args if a is not type(None)]
        return None if any(p is None for p in problems) else " or ".join(p for p in problems if p)
    if hint is bool:
        return None if isinstance(value, (bool, np.bool_)) else "true or false"
    if hint is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        return None if ok else "an integer"
    if hint is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        return None if ok else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, (tuple, list)):
            return f"a list of {_type_name(args[0])}"
        if any(_type_problem(args[0], v) for v in value):
            return f"a list of {_type_name(args[0])}"
    return None


def _type_name(hint: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}.get(hint, str(hint))


def validate_range(name: str, value: float, low: float | None = None, high: float | None = None,
                   *, low_open: bool = False, high_open: bool = False) -> None:
    """Raise a :class:`ConfigError` unless ``low <= value <= high`` (open ends as asked); NaN,
    which every comparison lets through, is never in range."""
    bad = value != value or (
        (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
    )
    if bad:
        lo = "" if low is None else f"{'(' if low_open else '['}{low}"
        hi = "" if high is None else f"{high}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be in {lo or '(-inf'}, {hi or 'inf)'}; got {value!r}")


#: the largest seed a setting may take: numpy's legacy seeding (which Keras and scikit-learn use)
#: takes 0 to 2**32 - 1, and folds and trials add their index to the seed
MAX_SEED = 2**31 - 1


def validate_seed(seed: int) -> None:
    """Raise a :class:`ConfigError` for a seed numpy's legacy seeding would refuse mid-run.

    >>> validate_seed(-1)
    Traceback (most recent call last):
    ...
    deepsentry.core.errors.ConfigError: seed must be in [0, 2147483647]; got -1
    """
    validate_range("seed", seed, 0, MAX_SEED)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build config dataclass ``cls`` from ``data``, rejecting unknown keys with a clear error."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} parameter(s): {', '.join(unknown)}",
                          hint=f"known: {', '.join(sorted(known))}")
    return cls(**data)
