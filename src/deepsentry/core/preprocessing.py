"""Tabular preprocessing fitted on training rows only and saved as plain JSON.

Numeric columns: inf -> missing, missing -> training median (counted), constant columns dropped,
heavy-tailed counts log-scaled (signed ``log1p``), then standardised and clipped. With
``ple_bins > 0`` each numeric column is also given a piecewise-linear encoding over training
quantile bins (Gorishniy et al., "On Embeddings for Numerical Features in Tabular Deep Learning",
NeurIPS 2022): header fields and counts whose meaning is not monotone (versions, alignments, flag
words) become easy for a small network to separate. Categorical columns: one-hot over the training
categories plus an ``unknown`` bucket, so a category never seen in training never crashes detection.

>>> import pandas as pd
>>> frame = pd.DataFrame({"bytes": [1, 10, 1000, 10**6], "proto": ["tcp", "udp", "tcp", "icmp"]})
>>> prep = TabularPreprocessor().fit(frame)
>>> prep.transform(pd.DataFrame({"bytes": [5], "proto": ["sctp"]})).shape
(1, 5)
>>> prep.feature_names_[-1]
'proto=<unknown>'
"""

from __future__ import annotations

import itertools
import operator
import warnings
from dataclasses import dataclass, field
from typing import Any, Self, Sequence

import numpy as np
import pandas as pd

from .errors import InputError, check_is_fitted, json_kind
from .tables import arrow_numeric_matrix, text_number

PREPROCESSING_VERSION = 1
UNKNOWN = "<unknown>"
CLIP = 20.0


def missing_columns_error(missing: list[str]) -> InputError:
    """The error for records that lack columns the model was trained on."""
    return InputError(f"missing column(s) the model was trained on: {', '.join(missing[:10])}"
                      + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
                      hint="score data of the same format and feature set as the training data")


@dataclass
class PreprocessingReport:
    """Counts of what preprocessing changed in the data it saw."""

    rows: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    infinite: dict[str, int] = field(default_factory=dict)
    unseen_categories: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "missing": self.missing, "infinite": self.infinite,
                "unseen_categories": self.unseen_categories}


def category_text(value: Any) -> str:
    """A category value as text; a missing one (null, NaN, an absent field) reads as an empty CSV
    field does, ``""``, so a table scores the same from CSV, Parquet or JSON records.

    >>> category_text(None), category_text(float("nan")), category_text(6)
    ('', '', '6')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def category_code(index: dict[str, int], value: str, unknown: int) -> int:
    """The one-hot position of a category's text: as trained, else as trained once the blanks
    around it are gone (``" tcp"`` from a CSV written with ", " between fields), else ``unknown``.

    >>> category_code({"tcp": 0, "udp": 1}, " udp ", 2), category_code({"tcp": 0}, "icmp", 1)
    (1, 1)
    """
    code = index.get(value)
    return code if code is not None else index.get(value.strip(), unknown)


def one_value_only(columns: list[Any]) -> InputError:
    """The error for training data in which no column varies (nothing tells one row from another)."""
    shown = ", ".join(map(str, columns[:5])) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return InputError(f"no feature to learn from: every column has one value only ({shown})")


def require_features(columns: Sequence[Any]) -> None:
    """Refuse data with no feature column before anything is fitted on it (a network with no
    inputs aborts the process inside oneDNN; every row would be a duplicate of every other)."""
    if len(columns) == 0:
        raise InputError("no feature to learn from: the data has no feature columns",
                         hint="identifier columns (addresses, ids, timestamps) are left out when the data "
                              "is read: the warnings above name them, and --keep-column keeps one")


class TabularPreprocessor:
    """Numeric scaling and one-hot encoding fitted on training data; ``to_json``/``from_json``."""

    def __init__(self, *, max_categories: int = 100, log_skew: float = 2.0, ple_bins: int = 0) -> None:
        if ple_bins < 0 or ple_bins == 1:
            raise ValueError(f"ple_bins must be 0 (off) or at least 2, got {ple_bins}")
        self.max_categories = max_categories
        self.log_skew = log_skew
        self.ple_bins = ple_bins

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: Any = None) -> Self:
        if frame.shape[0] == 0:
            raise InputError("cannot fit preprocessing on zero rows")
        self.input_columns_ = [str(c) for c in frame.columns]
        numeric, categorical = [], []
        for column in frame.columns:
            (numeric if pd.api.types.is_numeric_dtype(frame[column]) else categorical).append(column)
        self.fit_report_ = PreprocessingReport(rows=len(frame))
        values = self._numeric_matrix(frame, numeric, self.fit_report_)
        with warnings.catch_warnings():  # all-missing columns are expected (they become constant)
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nanmedian(values, axis=0) if values.size else np.zeros(0)
        medians = np.where(np.isnan(medians), 0.0, medians)
        values = np.where(np.isnan(values), medians, values)
        spread = values.max(axis=0) - values.min(axis=0) if values.size else np.zeros(0)
        keep = spread > 0
        self.constant_columns_ = [c for c, k in zip(numeric, keep) if not k]
        self.numeric_columns_ = [c for c, k in zip(numeric, keep) if k]
        values, medians = values[:, keep], medians[keep]
        self.ple_edges_ = _quantile_edges(values, self.ple_bins) if self.ple_bins else []
        self.log_columns_ = [c for c, v in zip(self.numeric_columns_, values.T) if self._heavy_tailed(v)]
        log_mask = np.isin(self.numeric_columns_, self.log_columns_)
        values[:, log_mask] = _signed_log(values[:, log_mask])
        self.medians_ = medians.tolist()
        self.means_ = values.mean(axis=0).tolist()
        std = values.std(axis=0)
        self.scales_ = np.where(std > 0, std, 1.0).tolist()
        self.categories_: dict[str, list[str]] = {}
        for column in categorical:
            values = frame[column]
            text = values.astype(str).where(values.notna(), "")  # as category_text and category_code read them
            counts = text.str.strip().value_counts()
            self.categories_[column] = sorted(counts.index[: self.max_categories].tolist())
        self.feature_names_ = list(self.numeric_columns_) + [
            f"{c}@bin{b}" for c, edges in zip(self.numeric_columns_, self.ple_edges_)
            for b in range(len(edges) - 1)
        ] + [f"{c}={v}" for c, cats in self.categories_.items() for v in [*cats, UNKNOWN]]
        if not self.feature_names_:  # a network with no inputs aborts the process inside oneDNN
            if self.constant_columns_:
                raise one_value_only(self.constant_columns_)
            require_features(frame.columns)
        self._compile()
        return self

    def _heavy_tailed(self, column: np.ndarray) -> bool:
        """Counts and byte totals spanning orders of magnitude get log-scaled."""
        if np.unique(column[:10000]).size <= 2:
            return False
        magnitude = np.abs(column)
        if magnitude.max() < 100:
            return False
        if magnitude.max() > 100 * (np.median(magnitude) + 1):  # spans orders of magnitude
            return True
        std = column.std()
        skew = float(np.mean(((column - column.mean()) / std) ** 3)) if std > 0 else 0.0
        return abs(skew) > self.log_skew

    # -- transforming --------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame, report: PreprocessingReport | None = None, *,
                  fill_missing: bool = False) -> np.ndarray:
        """Feature matrix (float32) for ``frame``; missing columns are an error (with
        ``fill_missing``: missing values, as absent keys of a record), extra ones ignored."""
        missing = self.missing_columns(frame.columns)
        if missing and fill_missing:
            frame = frame.assign(**{c: np.nan for c in missing})
        elif missing:
            raise missing_columns_error(missing)
        report = report if report is not None else PreprocessingReport()
        report.rows += len(frame)
        out, k = self._encode_numeric(self._numeric_matrix(frame, self.numeric_columns_, report))
        self._encode_categories(frame, out, k, report)
        return out

    def missing_columns(self, columns: Any) -> list[str]:
        """The columns the model reads that ``columns`` lacks (constant ones it does not need)."""
        check_is_fitted(self, ("medians_",))
        present = set(columns)
        return [c for c in self.input_columns_ if c not in present and c not in self.constant_columns_]

    def transform_table(self, table: Any, report: PreprocessingReport | None = None) -> np.ndarray:
        """:meth:`transform` of an Arrow table (a CSV request body) with ``fill_missing``: numbers
        straight from Arrow into the matrix (no pandas frame of the whole table; about half the
        time of the frame path on a 10,000-row body), categories through pandas as there.
        A value that is not a number is an :class:`InputError` naming the record and the field."""
        check_is_fitted(self, ("medians_",))
        if table.num_rows and not set(table.column_names) & set(self.input_columns_):
            raise InputError("no column of the body is a field the model was trained on",
                             hint=self._fields_hint(table.column_names))
        report = report if report is not None else PreprocessingReport()
        report.rows += table.num_rows
        values = arrow_numeric_matrix(table, self.numeric_columns_)
        self._count_missing(values, self.numeric_columns_, report)
        out, k = self._encode_numeric(values)
        present = [c for c in self.categories_ if c in table.column_names]
        frame = table.select(present).to_pandas() if present else pd.DataFrame(index=range(table.num_rows))
        frame = frame.assign(**{c: np.nan for c in self.categories_ if c not in present})
        self._encode_categories(frame, out, k, report)
        return out

    def _encode_categories(self, frame: pd.DataFrame, out: np.ndarray, k: int,
                           report: PreprocessingReport) -> None:
        """Fill the one-hot blocks of ``out`` from ``frame``'s categorical columns (from column ``k``)."""
        n = len(frame)
        for column, cats in self.categories_.items():
            width = len(cats) + 1
            # factorize first: the distinct values are few, so only they are turned into text
            found, distinct = pd.factorize(frame[column], use_na_sentinel=False)
            index = self._category_index[column]
            lookup = np.array([category_code(index, category_text(value), width - 1) for value in distinct],
                              dtype=np.int64)
            codes = lookup[found]
            unseen = int(np.count_nonzero(codes == width - 1))
            if unseen:
                report.unseen_categories[column] = report.unseen_categories.get(column, 0) + unseen
            out[np.arange(n), k + codes] = 1.0
            k += width

    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Feature matrix for JSON-like records (dicts), without pandas: the low-latency path
        used by the service. A missing key or ``null`` is a missing value (filled with the training
        median); a value that is not a number where one is expected is an :class:`InputError`
        naming the record (0-based) and the field. Unknown keys are ignored.
        """
        check_is_fitted(self, ("medians_",))
        if len(records) == 1:
            one = self._transform_one(records[0])
            if one is not None:
                return one
        n, m = len(records), len(self.numeric_columns_)
        try:
            # fast path: every key present, every value a number, a numeric string or null (NaN);
            # one flat iterator into numpy (a list of row tuples cost a third more)
            values = np.fromiter(itertools.chain.from_iterable(map(self._numeric_getter, records)),
                                 dtype=np.float64, count=n * m).reshape(n, m)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._check_shared_fields(records)
            values = self._record_values(records)  # names the record and field that is wrong
        values[~np.isfinite(values)] = np.nan
        out, k = self._encode_numeric(values)
        rows = np.arange(n)
        for column, index, unknown in self._one_hot:
            found = [record.get(column) for record in records]
            if all(type(value) is str for value in found):
                # text categories (the usual case): look up each distinct value once
                codes, distinct = pd.factorize(np.array(found, dtype=object))
                lookup = np.array([category_code(index, value, unknown) for value in distinct], dtype=np.int64)
                out[rows, k + lookup[codes]] = 1.0
            else:  # numbers and nulls: by their text, as the frame path does
                for i, value in enumerate(found):
                    if isinstance(value, (dict, list)):
                        raise InputError(f"{json_kind(value)}, not a category (a string or number)",
                                         row=i, column=column)
                    out[i, k + category_code(index, category_text(value), unknown)] = 1.0
            k += unknown + 1
        return out

    def feature_fields(self) -> list[str]:
        """The input column each encoded feature comes from, in feature order (from the encoding
        itself, not parsed out of ``feature_names_``: a column name may hold ``=`` or ``@bin``)."""
        check_is_fitted(self, ("feature_names_",))
        return [*self.numeric_columns_,
                *(c for c, edges in zip(self.numeric_columns_, self.ple_edges_) for _ in range(len(edges) - 1)),
                *(c for c, cats in self.categories_.items() for _ in range(len(cats) + 1))]  # + the unknown bucket

    def baseline(self) -> np.ndarray:
        """The feature row of a record whose every field is missing: the training medians, each
        category as a null value is encoded (the reference point of explanations)."""
        check_is_fitted(self, ("medians_",))
        out, k = self._encode_numeric(np.full((1, len(self.numeric_columns_)), np.nan))
        for _, index, unknown in self._one_hot:
            out[0, k + index.get(category_text(None), unknown)] = 1.0
            k += unknown + 1
        return out[0]

    def _check_shared_fields(self, records: list[Any]) -> None:
        """Missing fields are missing values, but records with *none* of the model's fields (a
        client using other names) would be scored as the training medians: refuse them."""
        wanted = set(self.input_columns_)
        dicts = [r for r in records if isinstance(r, dict)]
        if dicts and not any(wanted.intersection(r) for r in dicts):
            received = list(dict.fromkeys(k for r in dicts[:20] for k in r))
            raise InputError("no record has a field the model was trained on", hint=self._fields_hint(received))

    def _fields_hint(self, received: list[str]) -> str:
        def some(names: list[str]) -> str:
            return ", ".join(map(str, names[:6])) + (", ..." if len(names) > 6 else "")

        return f"the model's fields: {some(self.input_columns_)}; received: {some(received) or 'none'}"

    def _transform_one(self, record: Any) -> np.ndarray | None:
        """:meth:`transform_records` of one record that has every numeric field, in a few
        whole-row numpy calls (the service's one-record case, where per-call overhead is the
        cost); ``None`` sends anything else (an absent field, a value numpy does not read as a
        number, a nested category) to the general path, which names what is wrong. Same numbers
        as that path (tested against it)."""
        try:
            values = np.array(self._numeric_getter(record), dtype=np.float64)  # null -> NaN
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        n = len(self.numeric_columns_)
        if values.shape != (n,):
            return None
        if self._ple_column.size or not np.isfinite(values).all():
            # nulls and non-finite values take the training medians; binned features: the
            # general arithmetic on one row
            values[~np.isfinite(values)] = np.nan
            out, k = self._encode_numeric(values.reshape(1, n))
            return self._one_hot_one(record, out, k)
        if self._log_index.size:
            logged = values[self._log_index]
            values[self._log_index] = np.copysign(np.log1p(np.abs(logged)), logged)
        with np.errstate(over="ignore"):  # a huge value (1e308) overflows here, then is clipped
            np.subtract(values, self._means, out=values)
            np.divide(values, self._scales, out=values)
        np.minimum(values, CLIP, out=values)
        np.maximum(values, -CLIP, out=values)
        out = np.zeros((1, len(self.feature_names_)), dtype=np.float32)
        out[0, :n] = values
        return self._one_hot_one(record, out, n)

    def _one_hot_one(self, record: Any, out: np.ndarray, k: int) -> np.ndarray | None:
        for column, index, unknown in self._one_hot:
            value = record.get(column)
            if isinstance(value, (dict, list)):
                return None  # the general path names it
            out[0, k + category_code(index, category_text(value), unknown)] = 1.0
            k += unknown + 1
        return out

    def _record_values(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Numeric values of records one by one: missing/null -> NaN, anything else that is not a
        number -> an error naming the record and the field."""
        values = np.empty((len(records), len(self.numeric_columns_)), dtype=np.float64)
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise InputError(f"{json_kind(record)}, not an object", row=i)
            for j, column in enumerate(self.numeric_columns_):
                value = record.get(column)
                if value is None or value == "":
                    values[i, j] = np.nan
                    continue
                try:
                    values[i, j] = float(value)  # bool, int, float and numeric strings
                except (TypeError, ValueError):
                    written = text_number(value) if isinstance(value, str) else None
                    if written is None:
                        raise InputError(f"not a number: {str(value)[:40]!r}", row=i, column=column) from None
                    values[i, j] = written
        return values

    def _numeric_matrix(self, frame: pd.DataFrame, columns: list[str],
                        report: PreprocessingReport) -> np.ndarray:
        if not columns:
            return np.zeros((len(frame), 0))
        # column-major: each column is written contiguously (row-major made every write strided)
        values = np.empty((len(frame), len(columns)), dtype=np.float64, order="F")
        for i, column in enumerate(columns):
            series = frame[column]
            if not pd.api.types.is_numeric_dtype(series):
                series = pd.to_numeric(series, errors="coerce")
            values[:, i] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        self._count_missing(values, columns, report)
        return values

    @staticmethod
    def _count_missing(values: np.ndarray, columns: list[str], report: PreprocessingReport) -> None:
        """Count infinite (turned into NaN, in place) and missing values per column in ``report``."""
        inf = np.isinf(values)
        if inf.any():
            for i in np.flatnonzero(inf.any(axis=0)):
                report.infinite[columns[i]] = report.infinite.get(columns[i], 0) + int(inf[:, i].sum())
            values[inf] = np.nan
        nan = np.isnan(values)
        if nan.any():
            for i in np.flatnonzero(nan.any(axis=0)):
                report.missing[columns[i]] = report.missing.get(columns[i], 0) + int(nan[:, i].sum())

    def unbinned_columns(self) -> list[int]:
        """Positions of the output features that are not piecewise-linear bins: the scaled
        numeric columns, then the one-hot columns (the bins sit between them)."""
        check_is_fitted(self, ("feature_names_",))
        n_numeric = len(self.numeric_columns_)
        n_bins = sum(len(edges) - 1 for edges in self.ple_edges_)
        return [*range(n_numeric), *range(n_numeric + n_bins, len(self.feature_names_))]

    def _encode_numeric(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """The output matrix with its numeric (and binned) block filled from raw ``values``
        (missing = NaN; changed in place); returns it and the first one-hot column."""
        np.copyto(values, self._medians, where=np.isnan(values))
        binned = self._piecewise_linear(values) if self._ple_column.size else None
        if self._log_mask.any():
            values[:, self._log_mask] = _signed_log(values[:, self._log_mask])
        with np.errstate(over="ignore"):  # a huge value (1e308) overflows here, then is clipped
            values -= self._means
            values /= self._scales
        np.clip(values, -CLIP, CLIP, out=values)
        out = np.zeros((len(values), len(self.feature_names_)), dtype=np.float32)
        k = values.shape[1]
        out[:, :k] = values
        if binned is not None:
            out[:, k:k + binned.shape[1]] = binned
            k += binned.shape[1]
        return out, k

    def _piecewise_linear(self, values: np.ndarray) -> np.ndarray:
        """Each bin's share of the way from its lower to its upper edge, clipped to [0, 1]."""
        with np.errstate(over="ignore"):  # as in _encode_numeric: clipped below
            encoded = values[:, self._ple_column] - self._ple_low
            encoded /= self._ple_width
        return np.clip(encoded, 0.0, 1.0, out=encoded)

    def _compile(self) -> None:
        self._medians = np.asarray(self.medians_, dtype=np.float64)
        self._means = np.asarray(self.means_, dtype=np.float64)
        self._scales = np.asarray(self.scales_, dtype=np.float64)
        self._log_mask = np.isin(self.numeric_columns_, self.log_columns_) if self.numeric_columns_ \
            else np.zeros(0, dtype=bool)
        self._category_index = {c: {v: i for i, v in enumerate(cats)} for c, cats in self.categories_.items()}
        self._log_index = np.flatnonzero(self._log_mask)
        self._one_hot = [(c, self._category_index[c], len(cats)) for c, cats in self.categories_.items()]
        columns = self.numeric_columns_
        # itemgetter of one key returns a bare value: wrap it so a record always gives a row
        self._numeric_getter = (operator.itemgetter(*columns) if len(columns) > 1 else
                                (lambda record: (record[columns[0]],)) if columns else (lambda record: ()))
        edges = [np.asarray(e, dtype=np.float64) for e in self.ple_edges_]
        self._ple_column = np.concatenate([np.full(len(e) - 1, i) for i, e in enumerate(edges)]
                                          ).astype(np.int64) if edges else np.zeros(0, dtype=np.int64)
        self._ple_low = np.concatenate([e[:-1] for e in edges]) if edges else np.zeros(0)
        self._ple_width = np.concatenate([np.maximum(np.diff(e), 1e-12) for e in edges]) if edges else np.zeros(0)

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        check_is_fitted(self, ("medians_",))
        return {
            "version": PREPROCESSING_VERSION,
            "params": {"max_categories": self.max_categories, "log_skew": self.log_skew,
                       "ple_bins": self.ple_bins},
            "input_columns": self.input_columns_,
            "constant_columns": self.constant_columns_,
            "numeric_columns": self.numeric_columns_,
            "log_columns": self.log_columns_,
            "medians": self.medians_,
            "means": self.means_,
            "scales": self.scales_,
            "ple_edges": self.ple_edges_,
            # a list, not a mapping: the one-hot block order must survive sort_keys JSON writers
            "categories": [[column, cats] for column, cats in self.categories_.items()],
            "feature_names": self.feature_names_,
            "fit_report": self.fit_report_.to_dict(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TabularPreprocessor":
        if data.get("version") != PREPROCESSING_VERSION:
            raise InputError(f"preprocessing version {data.get('version')!r} is not supported")
        prep = cls(**data["params"])
        prep.input_columns_ = list(data["input_columns"])
        prep.constant_columns_ = list(data["constant_columns"])
        prep.numeric_columns_ = list(data["numeric_columns"])
        prep.log_columns_ = list(data["log_columns"])
        prep.medians_ = [float(v) for v in data["medians"]]
        prep.means_ = [float(v) for v in data["means"]]
        prep.scales_ = [float(v) for v in data["scales"]]
        prep.ple_edges_ = [[float(v) for v in edges] for edges in data.get("ple_edges", [])]
        prep.categories_ = {str(column): list(cats) for column, cats in data["categories"]}
        prep.feature_names_ = list(data["feature_names"])
        report = data.get("fit_report", {})
        prep.fit_report_ = PreprocessingReport(rows=report.get("rows", 0), missing=report.get("missing", {}),
                                               infinite=report.get("infinite", {}))
        n_num = len(prep.numeric_columns_)
        if not (len(prep.medians_) == len(prep.means_) == len(prep.scales_) == n_num) or \
                len(prep.ple_edges_) not in (0, n_num) or any(len(e) < 2 for e in prep.ple_edges_):
            raise InputError("preprocessing.json is inconsistent: statistics do not match the columns")
        prep._compile()
        return prep


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _quantile_edges(values: np.ndarray, bins: int) -> list[list[float]]:
    """Distinct training quantiles of each column: at most ``bins`` bins, at least one."""
    quantiles = np.linspace(0.0, 1.0, bins + 1)
    edges = []
    for column in values.T:
        unique = np.unique(np.quantile(column, quantiles))
        if unique.size < 2:  # cannot happen for a kept (non-constant) column, but stay safe
            unique = np.array([unique[0], unique[0] + 1.0])
        edges.append(unique.tolist())
    return edges
