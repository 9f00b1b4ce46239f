"""Zeek ``conn.log`` as flow records: the TSV form (``#fields`` header) and the JSON-lines form.

Features: duration, bytes and packets per direction (payload and IP bytes), missed bytes, protocol,
service and connection state. Identifiers (``ts``, ``uid``, ``id.orig_h``, ``id.orig_p``, ``id.resp_h``)
stay out of the features; ``id.resp_p`` is kept as the service port. Zeek writes ``-`` for unset and
``(empty)`` for empty fields: both read as missing.

>>> data = read_zeek("conn.log")                  # doctest: +SKIP
>>> data.format, list(data.features.columns)[:3]  # doctest: +SKIP
('zeek', ['duration', 'orig_bytes', 'resp_bytes'])
"""

from __future__ import annotations

import array
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.tables import (BATCH_CHARS, BadRecord, LabelledTable, ReadReport, json_lines_table, json_object,
                           numbered_lines, open_bytes, record_positions)

NUMERIC = ("duration", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "orig_ip_bytes",
           "resp_pkts", "resp_ip_bytes", "id.resp_p")
CATEGORICAL = ("proto", "service", "conn_state")
IDENTIFIERS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h")
_SPACES = re.compile(r"\s{2,}")
#: how Zeek writes an unset and an empty field: both read as missing
MISSING = ("-", "(empty)")
LABELS = ("label", "detailed-label", "tunnel_parents")  # Zeek-based datasets (e.g. IoT-23) add labels


def zeek_log_kind(path: Path) -> str | None:
    """The kind of Zeek log ``path`` is (``conn``, ``dns``, ...; ``unknown`` where it does not
    say), plain or gzip-compressed (Zeek compresses the logs it rotates); None for anything else.
    Read line by line, so the head of a log cut short still tells."""
    lines: list[str] = []
    try:
        with open_bytes(path) as handle:
            while len(lines) < 16 and (line := handle.readline(1 << 16)):
                if line.strip():
                    lines.append(line.decode("utf-8", errors="replace").strip())
    except (OSError, EOFError, zlib.error):
        pass
    if not lines:
        return None
    if lines[0].startswith("#separator"):
        named = next((line.split(None, 1)[1:] for line in lines if line.startswith("#path")), None)
        fields = next((line for line in lines if line.startswith("#fields")), "")
        return named[0].strip() if named else "conn" if "conn_state" in fields else "unknown"
    if lines[0].startswith("{") and '"id.orig_h"' in lines[0]:
        try:
            record = json.loads(lines[0])
        except ValueError:
            return "unknown"
        return str(record.get("_path") or ("conn" if "conn_state" in record or "orig_bytes" in record else "unknown"))
    return None


def looks_like_zeek(path: Path) -> bool:
    """Whether ``path`` is a Zeek log of any kind, TSV or JSON."""
    return zeek_log_kind(path) is not None


def record_as_read(record: dict[str, Any], text_fields: tuple[str, ...] = CATEGORICAL) -> dict[str, Any]:
    """A conn.log record given one by one (a service request's, TSV or JSON) with its missing
    values as :func:`read_zeek` reads them from a file, so that both score alike: Zeek's markers
    of an unset field missing, a missing text field (a category) ``-`` (Zeek's JSON leaves unset
    fields out).

    >>> record_as_read({"duration": "-", "proto": "tcp"})["service"]
    '-'
    """
    read = {k: None if isinstance(v, str) and v in MISSING else v for k, v in record.items()}
    for column in text_fields:
        if read.get(column) is None:
            read[column] = "-"
    return read


class _TsvHeader:
    """What a Zeek TSV log's ``#`` header lines say so far: the separator and the fields (both may
    change where a second log's header follows the first, as when logs are concatenated)."""

    def __init__(self) -> None:
        self.separator, self.fields, self.spaced = "\t", None, False

    def read(self, number: int, line: str, bad: Callable[[int, str], None]) -> bool:
        """Take in ``line`` when it is a header, comment or blank line (True); False for a record."""
        if line.startswith("#separator"):
            written = line[len("#separator"):].strip()
            try:
                named = written.encode().decode("unicode_escape")
            except UnicodeDecodeError:
                named = ""
            if len(named) == 1 and named not in "\r\n":
                self.separator = named
            else:  # a header line cut or corrupt: Zeek writes a tab, which stays
                bad(number, f"#separator {written!r} is not one character; tab kept")
        elif line.startswith("#fields"):
            fields = line.split(self.separator)[1:]
            # IoT-23's conn.log.labeled joins its last three columns (tunnel_parents, label,
            # detailed-label) with runs of spaces, in the header and in every record
            self.spaced = any(_SPACES.search(f.strip()) for f in fields)
            if self.spaced:
                fields = [part for f in fields for part in _SPACES.split(f.strip())]
            self.fields = fields
        elif not line.startswith("#") and line.strip():
            return False
        return True

    def values(self, number: int, line: str, bad: Callable[[int, str], None], path: str | Path | None
               ) -> list[str] | None:
        """The record's values, or None (told to ``bad``) when their number is not the fields'."""
        if self.fields is None:
            raise InputError("a Zeek TSV log needs its #fields header before the records", path=path, row=number)
        values = line.split(self.separator)
        if self.spaced:
            values = [part for v in values for part in _SPACES.split(v)]
        if len(values) != len(self.fields):
            bad(number, f"expected {len(self.fields)} fields, found {len(values)}")
            return None
        return values


def _first_line_opens_json(lines: Iterable[tuple[int, str]]) -> tuple[bool, Iterator[tuple[int, str]]]:
    """Whether the first non-blank line opens a JSON object (a JSON Zeek log), and the lines again."""
    lines = iter(lines)
    first = next(((number, line) for number, line in lines if line.strip()), None)
    return (first is not None and first[1].lstrip().startswith("{"),
            itertools.chain([first] if first else [], lines))


def _json_records(lines: Iterable[tuple[int, str]], bad: Callable[[int, str], None]
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
    """The line number and object of each record of a JSON Zeek log."""
    for number, line in lines:
        if not line.strip():
            continue
        record, why = json_object(line)
        if record is None:
            bad(number, why)
        else:
            yield number, record


def zeek_records(lines: Iterable[tuple[int, str]], bad: Callable[[int, str], None], *,
                 path: str | Path | None = None) -> Iterator[dict[str, Any]]:
    r"""The records of a Zeek log's numbered lines, TSV (``#fields`` header) or JSON lines, as
    field -> value as written; a malformed record is told to ``bad`` (its line, what is wrong).

    >>> lines = enumerate(["#separator \\x09", "#fields\tuid\tduration", "C1\t0.5"], 1)
    >>> list(zeek_records(lines, print))
    [{'uid': 'C1', 'duration': '0.5'}]
    """
    is_json, lines = _first_line_opens_json(lines)
    if is_json:
        yield from (record for _, record in _json_records(lines, bad))
        return
    header = _TsvHeader()
    for number, line in lines:
        if not header.read(number, line, bad) and (values := header.values(number, line, bad, path)) is not None:
            yield dict(zip(header.fields, values))


def _tsv_table(lines: Iterable[tuple[int, str]], bad: Callable[[int, str], None], path: str | Path | None
               ) -> tuple[pd.DataFrame, np.ndarray]:
    r"""A Zeek TSV log's records as one frame of text columns (Zeek's markers of unset and empty
    fields missing), as :func:`zeek_records` reads them, and the line number of each record.

    Lines are checked here, one by one (a malformed record is told to ``bad``, as there), and the
    good ones split into columns by pyarrow's CSV reader, with no quoting, a batch of lines at a
    time: a dict per record took about 20 times the text's size in memory, and most of the time.

    >>> lines = enumerate(["#fields\tuid\tduration", "C1\t0.5", "C2", "C3\t-"], 1)
    >>> frame, numbers = _tsv_table(lines, print, None)
    3 expected 2 fields, found 1
    >>> frame.to_dict("list"), numbers.tolist()
    ({'uid': ['C1', 'C3'], 'duration': ['0.5', nan]}, [2, 4])
    """
    import pyarrow as pa
    from pyarrow import csv

    header, tables, numbers = _TsvHeader(), [], array.array("q")
    kept: list[str] = []  # lines checked, not yet split: up to BATCH_CHARS of them
    kept_chars = 0
    fields: list[str] | None = None  # those of the lines kept, which a later header may change
    separator = "\t"

    def flush() -> None:
        nonlocal kept_chars
        if not kept:
            return
        text = "\n".join(kept).encode("utf-8")
        longest = max(map(len, kept))
        kept.clear()
        kept_chars = 0
        names = [str(i) for i in range(len(fields))]  # Zeek's names may repeat; the last one wins
        table = csv.read_csv(
            pa.BufferReader(text),
            # a block must hold a whole line: UTF-8 takes up to 4 bytes a character
            read_options=csv.ReadOptions(column_names=names, block_size=max(1 << 20, 4 * longest + 64),
                                         use_threads=False),
            parse_options=csv.ParseOptions(delimiter=separator, quote_char=False, double_quote=False,
                                           escape_char=False, newlines_in_values=False),
            convert_options=csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                               null_values=list(MISSING), strings_can_be_null=True))
        tables.append(pa.table(dict(zip(fields, table.columns))))

    for number, line in lines:
        if line[:1] == "#" or not line.strip():
            header.read(number, line, bad)
            continue
        # the common line (fields as many as the header's, none spaced) goes on as it is; others are
        # split here: refused without a #fields header, told to bad with a wrong count, or rejoined
        if header.spaced or header.fields is None or line.count(header.separator) != len(header.fields) - 1:
            values = header.values(number, line, bad, path)
            if values is None:
                continue
            line = header.separator.join(values)
        if header.fields is not fields or header.separator != separator or kept_chars > BATCH_CHARS:
            flush()
            fields, separator = header.fields, header.separator
        kept.append(line)
        kept_chars += len(line)
        numbers.append(number)
    flush()
    numbers = np.frombuffer(numbers, dtype=np.int64) if numbers else np.zeros(0, dtype=np.int64)
    if not tables:
        return pd.DataFrame(), numbers
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    return table.to_pandas(), numbers


def _numbers(column: pd.Series) -> pd.Series:
    """``column`` as float64, missing where it is missing or not a number, by pandas' rules. pyarrow's
    cast is several times faster and reads the numbers pandas reads alike, but not all of them
    (pandas also takes surrounding spaces, for one): a column it refuses goes to pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        try:
            values = pc.cast(pa.chunked_array(pa.array(column.array)), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            return pd.Series(values.to_numpy(), index=column.index, dtype=np.float64)
    return pd.to_numeric(column, errors="coerce").astype(np.float64)


def read_zeek(path: str | Path, *, strict: bool = False, label_column: str | None = None,
              benign_labels: tuple[str, ...] = (), require_labels: bool = False,
              allow_empty: bool = False, keep_columns: tuple[str, ...] = (),
              model_columns: tuple[str, ...] = (), numeric_columns: tuple[str, ...] = ()) -> LabelledTable:
    """Flow records of a Zeek conn.log. The label is ``label_column`` where given (it then leaves
    the features, when it is one), else a labelled dataset's own (``detailed-label``, ``label``).
    ``allow_empty``: a log with no readable record reads as zero flows (scoring writes the malformed
    ones as error rows) instead of an error. Fields named in ``keep_columns`` (which must exist) or
    ``model_columns`` (a model's inputs) join the features: numbers where ``numeric_columns`` names
    them or most of their values are, else text."""
    path = Path(path)
    report = ReadReport(files=[str(path)])
    # the line and what is wrong of each malformed record: detect keeps it as an error row in its
    # place, named by its line (it may have no uid)
    bad_lines: list[int] = []
    bad_messages: list[str] = []

    def bad(number: int, message: str) -> None:
        if strict:
            raise InputError(message, path=path, row=number)
        bad_lines.append(number)
        bad_messages.append(message)
        report.malformed_rows += 1
        report.add(BadRecord(str(path), number, None, message))

    faults: list[tuple[int, str]] = []
    is_json, lines = _first_line_opens_json(numbered_lines(path, lambda *fault: faults.append(fault)))
    if is_json:
        frame, numbers = json_lines_table(lines, bad, path=path)
        frame = frame.replace(dict.fromkeys(MISSING, np.nan))
    else:
        frame, numbers = _tsv_table(lines, bad, path)
    for fault in faults:  # told after the lines before it, which may be parsed a batch at a time
        bad(*fault)
    # record index (0-based, good and malformed records alike, in line order) of each
    positions, malformed_at = record_positions(numbers, bad_lines)
    malformed_at = malformed_at.tolist()
    malformed = dict(zip(malformed_at, bad_messages))
    malformed_ids = {index: f"line {number}" for index, number in zip(malformed_at, bad_lines)}
    if not len(numbers) and not allow_empty:
        first_bad = f" (all {len(malformed)} are malformed; first: {report.examples[0]})" if malformed else ""
        raise InputError(f"no connection records{first_bad}", path=path)
    if len(numbers) and not any(c in frame for c in ("conn_state", "orig_bytes", "duration")):
        kind = zeek_log_kind(path)
        raise InputError(f"a Zeek {kind + ' ' if kind not in (None, 'unknown') else ''}log, not a conn.log: "
                         "its records have no connection fields (duration, orig_bytes, conn_state)", path=path,
                         hint="flows are read from Zeek's conn.log")
    features = pd.DataFrame(index=frame.index)
    for column in NUMERIC:
        values = _numbers(frame[column]) if column in frame else pd.Series(np.nan, index=frame.index)
        unparsed = values.isna() & frame[column].notna() if column in frame else values.isna() & False
        if unparsed.any():
            report.bad_values[column] = int(unparsed.sum())
        features[column] = values.astype(np.float64)
    for column in CATEGORICAL:
        features[column] = frame[column].fillna("-").astype(str) if column in frame else "-"
    if label_column is not None and label_column not in frame:
        if require_labels:
            raise InputError(f"label column {label_column!r} not found", path=path,
                             hint=f"fields are: {', '.join(map(str, frame.columns))}")
        label_column = None
    label_col = label_column or next((c for c in ("detailed-label", "label") if c in frame), None)
    if label_col in features:  # as a feature it would hand the model the answer
        features = features.drop(columns=label_col)
    absent = [c for c in keep_columns if c not in frame]
    if absent and len(numbers):  # a typo would otherwise pass unnoticed
        raise InputError(f"column(s) {', '.join(map(repr, absent))} not found", path=path,
                         hint=f"fields are: {', '.join(map(str, frame.columns))}")
    for column in dict.fromkeys((*keep_columns, *model_columns)):
        if column in features or column not in frame or column == label_col:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        given = frame[column].notna()
        numeric = column in numeric_columns or (column not in model_columns and given.any()
                                                 and values[given].notna().mean() > 0.5)
        features[column] = values.astype(np.float64) if numeric else frame[column].fillna("-").astype(str)
    labels = frame[label_col].fillna("benign").astype(str).str.strip().to_numpy(dtype=object) if label_col else None
    report.rows = len(features)
    report.identifier_columns = [c for c in IDENTIFIERS if c in frame]
    identifiers = frame[[c for c in IDENTIFIERS if c in frame] + (["id.resp_p"] if "id.resp_p" in frame else [])]
    identifiers = identifiers.rename(columns={"id.orig_h": "src_ip", "id.orig_p": "src_port", "id.resp_h": "dst_ip",
                                              "id.resp_p": "dst_port"})
    return LabelledTable(features=features, labels=labels, raw_labels=labels,
                         ids=frame["uid"].to_numpy() if "uid" in frame else positions, format="zeek",
                         benign_labels=tuple(benign_labels) or ("benign", "-", "normal"), report=report,
                         positions=positions.astype(np.int64),
                         total_rows=len(numbers) + report.malformed_rows, label_column=label_col,
                         malformed_positions=malformed, malformed_ids=malformed_ids,
                         id_column="uid" if "uid" in frame else None,
                         identifiers=identifiers.reset_index(drop=True))
