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

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.tables import BadRecord, LabelledTable, ReadReport

NUMERIC = ("duration", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "orig_ip_bytes",
           "resp_pkts", "resp_ip_bytes", "id.resp_p")
CATEGORICAL = ("proto", "service", "conn_state")
IDENTIFIERS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h")
_SPACES = re.compile(r"\s{2,}")
LABELS = ("label", "detailed-label", "tunnel_parents")  # Zeek-based datasets (e.g. IoT-23) add labels


def looks_like_zeek(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    return first.startswith("#separator") or (first.startswith("{") and '"id.orig_h"' in first)


def read_zeek(path: str | Path, *, strict: bool = False) -> LabelledTable:
    path = Path(path)
    report = ReadReport(files=[str(path)])
    text = path.read_text(encoding="utf-8", errors="replace")
    rows, numbers = [], []
    if text.lstrip().startswith("{"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                if strict:
                    raise InputError(f"not a JSON object ({exc})", path=path, row=number) from None
                report.malformed_rows += 1
                report.add(BadRecord(str(path), number, None, "not a JSON object"))
                continue
            rows.append(record)
            numbers.append(number)
    else:
        separator, fields, spaced = "\t", None, False
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("#separator"):
                separator = line.split(" ", 1)[1].encode().decode("unicode_escape")
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
                    if strict:
                        raise InputError(f"expected {len(fields)} fields, found {len(values)}", path=path, row=number)
                    report.malformed_rows += 1
                    report.add(BadRecord(str(path), number, None, f"expected {len(fields)} fields, found {len(values)}"))
                    continue
                rows.append(dict(zip(fields, values)))
                numbers.append(number)
    if not rows:
        raise InputError("no connection records", path=path)
    frame = pd.DataFrame(rows).replace({"-": np.nan, "(empty)": np.nan})
    features = pd.DataFrame(index=frame.index)
    for column in NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(np.nan, index=frame.index)
        bad = values.isna() & frame[column].notna() if column in frame else values.isna() & False
        if bad.any():
            report.bad_values[column] = int(bad.sum())
        features[column] = values.astype(np.float64)
    for column in CATEGORICAL:
        features[column] = frame[column].fillna("-").astype(str) if column in frame else "-"
    label_col = next((c for c in ("detailed-label", "label") if c in frame), None)
    labels = frame[label_col].fillna("benign").astype(str).str.strip().to_numpy(dtype=object) if label_col else None
    report.rows = len(features)
    report.identifier_columns = [c for c in IDENTIFIERS if c in frame]
    positions = np.asarray(numbers, dtype=np.int64) - 1
    identifiers = frame[[c for c in IDENTIFIERS if c in frame] + (["id.resp_p"] if "id.resp_p" in frame else [])]
    identifiers = identifiers.rename(columns={"id.orig_h": "src_ip", "id.orig_p": "src_port", "id.resp_h": "dst_ip",
                                              "id.resp_p": "dst_port"})
    return LabelledTable(features=features, labels=labels, raw_labels=labels,
                         ids=frame["uid"].to_numpy() if "uid" in frame else positions, format="zeek",
                         benign_labels=("benign", "-", "normal"), report=report, positions=positions,
                         total_rows=len(rows) + report.malformed_rows, label_column=label_col,
                         identifiers=identifiers.reset_index(drop=True))
