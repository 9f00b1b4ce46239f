"""Reading flow records (CSV, Parquet, a directory of either) into a :class:`FlowData`.

Nothing is lost silently: rows with the wrong number of fields and values that do not parse are
counted in a :class:`ReadReport` with their line numbers, or rejected with ``strict=True``.

>>> from deepsentry.flows.readers import read_flows   # doctest: +SKIP
>>> data = read_flows("KDDTrain+.txt")                 # doctest: +SKIP
>>> data.format, data.features.shape                   # doctest: +SKIP
('nsl-kdd', (125973, 41))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..core.errors import ConfigError, InputError
from .formats import FORMATS, NSL_KDD_COLUMNS, FlowFormat, detect_format, is_identifier, normalise_name

log = logging.getLogger(__name__)

_DELIMITERS = (",", ";", "\t", "|")
_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq")
MAX_EXAMPLES = 20


@dataclass
class BadRecord:
    """One record that could not be used as it is, and why."""

    path: str
    row: int | None  # 1-based line number in the file, when known
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.path + (f", line {self.row}" if self.row else "")
        where += f", column {self.column}" if self.column else ""
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """What was read, what was dropped as an identifier, and every problem found."""

    rows: int = 0
    malformed_rows: int = 0
    bad_values: dict[str, int] = field(default_factory=dict)
    examples: list[BadRecord] = field(default_factory=list)
    identifier_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, record: BadRecord) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(record)

    @property
    def problems(self) -> int:
        return self.malformed_rows + sum(self.bad_values.values())

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "rows": self.rows,
            "malformed_rows": self.malformed_rows,
            "bad_values": dict(self.bad_values),
            "identifier_columns": self.identifier_columns,
            "label_columns": self.label_columns,
            "examples": [str(e) for e in self.examples],
        }


@dataclass
class FlowData:
    """Flow records split into features, labels and ids."""

    features: pd.DataFrame
    labels: np.ndarray | None  # class names (str); None when the input has no label column
    raw_labels: np.ndarray | None  # labels as written (e.g. NSL-KDD attack names)
    ids: np.ndarray
    format: str
    benign_labels: tuple[str, ...]
    report: ReadReport
    #: input row index (0-based, header excluded) of each kept record; malformed rows leave gaps
    positions: np.ndarray
    #: total data rows in the input, malformed ones included
    total_rows: int = 0
    #: name of the label column as found in the file
    label_column: str | None = None
    malformed_positions: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def is_malicious(self) -> np.ndarray:
        """1 where the label is not a benign label."""
        if self.labels is None:
            raise InputError("the input has no labels")
        benign = {b.lower() for b in self.benign_labels}
        return np.fromiter((str(v).lower() not in benign for v in self.labels), dtype=np.int8,
                           count=len(self.labels))


@dataclass(frozen=True)
class ReadOptions:
    """How to read flow records; every field has a command-line twin."""

    format: str | None = None
    label_column: str | None = None
    benign_labels: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    strict: bool = False
    require_labels: bool = False


def list_inputs(path: str | os.PathLike[str]) -> list[Path]:
    """The data files a path stands for: the file itself, or the CSV/Parquet files of a directory."""
    source = Path(path)
    if not source.exists():
        raise InputError("no such file or directory", path=source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES
                       and not p.name.startswith("."))
        # Reference/description files that ship beside some datasets are not flows.
        files = [p for p in files if "header_reference" not in p.name]
        if not files:
            raise InputError("directory holds no .csv, .txt or .parquet files", path=source)
        return files
    return [source]


def read_flows(path: str | os.PathLike[str], options: ReadOptions | None = None) -> FlowData:
    """Read a flow file (or a directory of them, as one set) into features, labels and ids."""
    options = options or ReadOptions()
    if options.format is not None and options.format not in FORMATS:
        raise ConfigError(f"unknown flow format {options.format!r}",
                          hint=f"choose one of {', '.join(FORMATS)}")
    parts = [_read_one(file, options) for file in list_inputs(path)]
    data = parts[0] if len(parts) == 1 else _concat(parts, str(path))
    if data.report.identifier_columns:
        log.warning("%s: dropped identifier column(s) %s (keep one with --keep-column)",
                    path, ", ".join(data.report.identifier_columns))
    return data


def _concat(parts: list[FlowData], where: str) -> FlowData:
    formats = {p.format for p in parts}
    if len(formats) > 1:
        raise InputError(f"files of different formats in one directory: {', '.join(sorted(formats))}",
                         path=where)
    columns = list(parts[0].features.columns)
    for p in parts[1:]:
        if list(p.features.columns) != columns:
            diff = sorted(set(columns).symmetric_difference(p.features.columns))
            raise InputError(f"columns differ from the first file ({', '.join(diff[:5]) or 'order'})",
                             path=p.report.files[0])
    report = ReadReport()
    offset = 0
    positions, malformed = [], {}
    for p in parts:
        report.rows += p.report.rows
        report.malformed_rows += p.report.malformed_rows
        for k, v in p.report.bad_values.items():
            report.bad_values[k] = report.bad_values.get(k, 0) + v
        for e in p.report.examples:
            report.add(e)
        report.files += p.report.files
        positions.append(p.positions + offset)
        malformed.update({k + offset: v for k, v in p.malformed_positions.items()})
        offset += p.total_rows
    report.identifier_columns = parts[0].report.identifier_columns
    report.label_columns = parts[0].report.label_columns
    labels = None if parts[0].labels is None else np.concatenate([p.labels for p in parts])
    raw = None if parts[0].raw_labels is None else np.concatenate([p.raw_labels for p in parts])
    return FlowData(
        features=pd.concat([p.features for p in parts], ignore_index=True),
        labels=labels, raw_labels=raw,
        ids=np.concatenate([p.ids.astype(str) for p in parts]) if len({p.ids.dtype for p in parts}) > 1
        else np.concatenate([p.ids for p in parts]),
        format=parts[0].format, benign_labels=parts[0].benign_labels, report=report,
        positions=np.concatenate(positions), total_rows=offset, malformed_positions=malformed,
        label_column=parts[0].label_column,
    )


def _sniff(path: Path) -> tuple[str, list[str]]:
    """Delimiter and first-record fields, from the first line of a text file."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if b"\x00" in head:
        raise InputError("file is binary, not delimited text", path=path)
    text = head.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise InputError("file is empty", path=path)
    first = text.lstrip("\r\n").splitlines()[0]
    counts = {d: first.count(d) for d in _DELIMITERS}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        raise InputError(
            "first line holds a single field",
            path=path, row=1,
            hint="flow files are delimited by one of , ; tab |; is this the right file?",
        )
    return delimiter, [f.strip().strip('"') for f in first.split(delimiter)]


def _read_one(path: Path, options: ReadOptions) -> FlowData:
    report = ReadReport(files=[str(path)])
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read Parquet ({exc})", path=path) from None
        frame = table.to_pandas()
        fmt_name = options.format or detect_format(list(frame.columns))
        fmt = FORMATS[fmt_name]
        malformed: dict[int, str] = {}
        total = len(frame)
    else:
        delimiter, first = _sniff(path)
        fmt_name = options.format or detect_format(first)
        fmt = FORMATS[fmt_name]
        frame, malformed, total = _read_csv(path, delimiter, fmt, first, report, options.strict)
    if frame.empty:
        raise InputError("no data rows", path=path)
    return _split_columns(path, frame, fmt, options, report, malformed, total)


def _read_csv(path: Path, delimiter: str, fmt: FlowFormat, first: list[str], report: ReadReport,
              strict: bool) -> tuple[pd.DataFrame, dict[int, str], int]:
    if not fmt.header:
        n = len(first)
        names = list(NSL_KDD_COLUMNS) + ["label", "difficulty"][: n - len(NSL_KDD_COLUMNS)]
        if n not in (len(NSL_KDD_COLUMNS) + 1, len(NSL_KDD_COLUMNS) + 2):
            raise InputError(f"NSL-KDD records have 42 or 43 fields, this one has {n}", path=path, row=1)
        read_opts = dict(column_names=names)
        header_lines = 0
    else:
        read_opts = dict()
        header_lines = 1
    bad: list[tuple[int | None, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        # Raising here would be swallowed by pyarrow; "error" makes it stop with ArrowInvalid.
        return "error" if strict else "skip"

    def read(threads: bool) -> pa.Table:
        bad.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=1 << 24, **read_opts),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )

    try:
        # Single-threaded reading knows each bad row's line number: used in strict mode, and
        # to re-read the (rare) files that have malformed rows.
        table = read(not strict)
        if bad and any(number is None for number, _ in bad):
            table = read(False)
    except pa.ArrowInvalid as exc:
        if strict and bad:
            raise InputError(bad[-1][1], path=path, row=bad[-1][0]) from None
        raise InputError(f"cannot parse as delimited text ({str(exc).splitlines()[0]})", path=path) from None
    frame = table.to_pandas()
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    malformed: dict[int, str] = {}
    for number, reason in bad:
        report.malformed_rows += 1
        report.add(BadRecord(str(path), number, None, reason))
        if number is not None:
            malformed[number - 1 - header_lines] = reason
    total = len(frame) + len(bad)
    if bad:
        log.warning("%s: %d malformed row(s) skipped (first: line %s, %s)",
                    path, len(bad), bad[0][0], bad[0][1])
    return frame, malformed, total


def _split_columns(path: Path, frame: pd.DataFrame, fmt: FlowFormat, options: ReadOptions,
                   report: ReadReport, malformed: dict[int, str], total: int) -> FlowData:
    by_norm = {normalise_name(c): c for c in frame.columns}

    def find(name: str | None) -> str | None:
        return None if name is None else by_norm.get(normalise_name(name))

    label_name = options.label_column or fmt.label_column
    label_col = find(label_name)
    if label_name is not None and label_col is None and options.require_labels:
        raise InputError(
            f"label column {label_name!r} not found",
            path=path,
            hint=f"columns are: {', '.join(list(frame.columns)[:12])}{'...' if frame.shape[1] > 12 else ''}; "
                 "name the label with --label-column",
        )
    if label_col is None and options.require_labels:
        raise InputError("no label column", path=path,
                         hint="name the label column with --label-column (and --benign-label)")
    label_cols = {c for c in (label_col, *(find(n) for n in fmt.other_label_columns)) if c}
    # A binary twin of the class column (e.g. UNSW 'label') is a label, not a feature.
    for alias in ("label", "attack", "class", "attack_cat"):
        if (col := find(alias)) is not None and label_col is not None:
            label_cols.add(col)
    id_col = find(fmt.id_column)
    keep = {normalise_name(k) for k in options.keep_columns}
    identifiers = [c for c in frame.columns
                   if c not in label_cols and is_identifier(c) and normalise_name(c) not in keep]
    report.identifier_columns = identifiers
    report.label_columns = sorted(label_cols)
    report.rows = len(frame)

    ids = frame[id_col].to_numpy() if id_col is not None else None
    positions = _positions(total, malformed)
    if ids is None:
        ids = positions.copy()
    labels = raw = None
    if label_col is not None:
        raw = frame[label_col].astype(str).str.strip().to_numpy(dtype=object)
        if fmt.class_map:
            unknown = sorted({r for r in raw if r.lower() not in fmt.class_map})
            if unknown:
                raise InputError(f"unknown {fmt.name} label(s): {', '.join(unknown[:5])}", path=path,
                                 column=label_col)
            labels = np.array([fmt.class_map[r.lower()] for r in raw], dtype=object)
        else:
            labels = raw
    benign = tuple(options.benign_labels) or fmt.benign_labels
    features = frame.drop(columns=sorted(label_cols | set(identifiers)))
    features = _coerce_numeric(path, features, fmt, report, options.strict, positions)
    return FlowData(features=features, labels=labels, raw_labels=raw, ids=ids, format=fmt.name,
                    benign_labels=benign, report=report, positions=positions, total_rows=total,
                    label_column=label_col, malformed_positions=malformed)


def _positions(total: int, malformed: dict[int, str]) -> np.ndarray:
    if not malformed:
        return np.arange(total, dtype=np.int64)
    mask = np.ones(total, dtype=bool)
    idx = [i for i in malformed if 0 <= i < total]
    mask[idx] = False
    kept = np.flatnonzero(mask)
    return kept[: total - len(malformed)]


# Columns that are categorical in the known formats; everything else is meant to be numeric.
CATEGORICAL = {"protocoltype", "service", "flag", "proto", "state"}


def _coerce_numeric(path: Path, features: pd.DataFrame, fmt: FlowFormat, report: ReadReport,
                    strict: bool, positions: np.ndarray) -> pd.DataFrame:
    """Turn text columns that are meant to be numbers into numbers, counting values that are not."""
    for column in features.columns:
        series = features[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if normalise_name(column) in CATEGORICAL:
            features[column] = series.astype(str)
            continue
        text = series.astype(str).str.strip()
        numbers = pd.to_numeric(text.str.replace(r"^(?i:infinity)$", "inf", regex=True), errors="coerce")
        bad = numbers.isna() & ~text.str.lower().isin(["", "nan", "null", "none", "na"])
        if fmt.name == "csv" and bad.mean() > 0.5:
            features[column] = text  # a genuinely categorical column of a generic CSV
            continue
        n_bad = int(bad.sum())
        if n_bad:
            first = int(np.flatnonzero(bad.to_numpy())[0])
            header = 0 if not fmt.header else 1
            line = int(positions[first]) + 1 + header if first < len(positions) else None
            value = text.iloc[first]
            if strict:
                raise InputError(f"not a number: {value[:40]!r}", path=path, row=line, column=column)
            report.bad_values[column] = report.bad_values.get(column, 0) + n_bad
            report.add(BadRecord(str(path), line, column, f"not a number: {value[:40]!r} "
                                 f"({n_bad} such value(s) in this column, treated as missing)"))
            log.warning("%s: column %s has %d non-numeric value(s), treated as missing (first: line %s)",
                        path, column, n_bad, line)
        features[column] = numbers.astype(np.float64)
    return features

