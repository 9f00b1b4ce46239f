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
from ..core.tables import BadRecord, LabelledTable, ReadReport, open_bytes, open_text

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


def _numbered_lines(path: Path, bad: Callable[[int, str], None]) -> Iterator[tuple[int, str]]:
    """The file's lines with their numbers; a compressed file cut short ends them, told to ``bad``
    as a malformed record (the records before it are kept)."""
    number = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.rstrip("\n")
    except (OSError, EOFError, zlib.error) as exc:
        bad(number + 1, f"file ends early or is corrupt ({exc})")


def zeek_records(lines: Iterable[tuple[int, str]], bad: Callable[[int, str], None], *,
                 path: str | Path | None = None) -> Iterator[dict[str, Any]]:
    r"""The records of a Zeek log's numbered lines, TSV (``#fields`` header) or JSON lines, as
    field -> value as written; a malformed record is told to ``bad`` (its line, what is wrong).

    >>> lines = enumerate(["#separator \\x09", "#fields\tuid\tduration", "C1\t0.5"], 1)
    >>> list(zeek_records(lines, print))
    [{'uid': 'C1', 'duration': '0.5'}]
    """
    lines = iter(lines)
    first = next(((number, line) for number, line in lines if line.strip()), None)
    lines = itertools.chain([first] if first else [], lines)
    if first is not None and first[1].lstrip().startswith("{"):
        for number, line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:  # its own "line 1 column n" would name the wrong line
                bad(number, f"not JSON ({exc.msg}, character {exc.pos + 1})")
                continue
            except (ValueError, RecursionError):
                bad(number, "not JSON (nested too deeply or malformed)")
                continue
            if not isinstance(record, dict):
                bad(number, f"not a JSON object ({type(record).__name__})")
                continue
            yield record
        return
    separator, fields, spaced = "\t", None, False
    for number, line in lines:
        if line.startswith("#separator"):
            written = line[len("#separator"):].strip()
            try:
                named = written.encode().decode("unicode_escape")
            except UnicodeDecodeError:
                named = ""
            if len(named) == 1 and named not in "\r\n":
                separator = named
            else:  # a header line cut or corrupt: Zeek writes a tab, which stays
                bad(number, f"#separator {written!r} is not one character; tab kept")
        elif line.startswith("#fields"):
            fields = line.split(separator)[1:]
            # IoT-23's conn.log.labeled joins its last three columns (tunnel_parents, label,
            # detailed-label) with runs of spaces, in the header and in every record
            spaced = any(_SPACES.search(f.strip()) for f in fields)
            if spaced:
                fields = [part for f in fields for part in _SPACES.split(f.strip())]
        elif line.startswith("#") or not line.strip():
            continue
        elif fields is None:
            raise InputError("a Zeek TSV log needs its #fields header before the records", path=path, row=number)
        else:
            values = line.split(separator)
            if spaced:
                values = [part for v in values for part in _SPACES.split(v)]
            if len(values) != len(fields):
                bad(number, f"expected {len(fields)} fields, found {len(values)}")
                continue
            yield dict(zip(fields, values))


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
    rows: list[dict[str, Any]] = []
    positions: list[int] = []  # record index (see below) of each row
    # record index (0-based, good and malformed records alike) -> what is wrong, and the record's
    # name: detect keeps it as an error row in its place, named by its line (it may have no uid)
    malformed: dict[int, str] = {}
    malformed_ids: dict[int, str] = {}

    def bad(number: int, message: str) -> None:
        if strict:
            raise InputError(message, path=path, row=number)
        index = len(rows) + len(malformed)
        malformed[index], malformed_ids[index] = message, f"line {number}"
        report.malformed_rows += 1
        report.add(BadRecord(str(path), number, None, message))

    for record in zeek_records(_numbered_lines(path, bad), bad, path=path):
        positions.append(len(rows) + len(malformed))
        rows.append(record)
    if not rows and not allow_empty:
        first_bad = f" (all {len(malformed)} are malformed; first: {report.examples[0]})" if malformed else ""
        raise InputError(f"no connection records{first_bad}", path=path)
    frame = pd.DataFrame(rows).replace(dict.fromkeys(MISSING, np.nan))
    if rows and not any(c in frame for c in ("conn_state", "orig_bytes", "duration")):
        kind = zeek_log_kind(path)
        raise InputError(f"a Zeek {kind + ' ' if kind not in (None, 'unknown') else ''}log, not a conn.log: "
                         "its records have no connection fields (duration, orig_bytes, conn_state)", path=path,
                         hint="flows are read from Zeek's conn.log")
    features = pd.DataFrame(index=frame.index)
    for column in NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(np.nan, index=frame.index)
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
    if absent and rows:  # a typo would otherwise pass unnoticed
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
                         ids=frame["uid"].to_numpy() if "uid" in frame else np.asarray(positions), format="zeek",
                         benign_labels=tuple(benign_labels) or ("benign", "-", "normal"), report=report,
                         positions=np.asarray(positions, dtype=np.int64),
                         total_rows=len(rows) + report.malformed_rows, label_column=label_col,
                         malformed_positions=malformed, malformed_ids=malformed_ids,
                         id_column="uid" if "uid" in frame else None,
                         identifiers=identifiers.reset_index(drop=True))
