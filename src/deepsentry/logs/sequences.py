"""Event sequences: pre-parsed sequence files, and sessions grouped from raw log lines.

Formats read by :func:`read_sequences`: ``<id>,<space-separated event ids>`` per line (HDFS and
Hadoop sequence files), and CSVs with a header holding an id column, a ``Label`` column and a
sequence column (``EventSequence``). Raw logs become sessions with :func:`read_log_sessions`: each
line is parsed by a :class:`~deepsentry.logs.formats.LogFormat`, mined into a template, and grouped
by the first match of a session pattern (e.g. HDFS block ids ``blk_-?\\d+``).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "seqs"
>>> _ = path.write_text("blk_1,5 5 22\\nbroken line\\nblk_2,5 11\\n")
>>> data = read_sequences(path)
>>> data.ids, data.sequences, data.report.malformed_rows
(['blk_1', 'blk_2'], [['5', '5', '22'], ['5', '11']], 1)
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..core.errors import ConfigError, InputError
from ..core.tables import UNREADABLE_FILE, BadRecord, ReadReport, ends_early, is_pipe, open_text, read_small_csv
from .evtx import is_evtx, iter_evtx_lines
from .formats import mismatch_with_suggestion

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20  # longer lines are cut (counted): a megabyte of one line is not a log line


@dataclass
class SequenceData:
    ids: list[str]
    sequences: list[list[str]]
    labels: np.ndarray | None = None  # 1 = anomalous
    report: ReadReport = field(default_factory=ReadReport)
    #: for sessions from raw logs: the line numbers of each session's events
    lines: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.ids)


def iter_lines(path: str | os.PathLike[str], report: ReadReport) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for a file, gzip file, directory (files in name order) or ``-``;
    an ``.evtx`` file gives one JSON line per event (see :mod:`deepsentry.logs.evtx`).

    NUL bytes and over-long lines are counted in ``report`` (and cleaned or cut), never fatal.
    """
    for _, number, line in iter_file_lines(path, report):
        yield number, line


def iter_file_lines(path: str | os.PathLike[str], report: ReadReport) -> Iterator[tuple[str, int, str]]:
    """:func:`iter_lines` with the file each line comes from: in a directory, line numbers start
    again in each file, and only the file makes them mean something."""
    folder = str(path) != "-" and Path(path).is_dir()
    paths = sorted(p for p in Path(path).rglob("*") if p.is_file()) if folder else [path]
    for one in paths:
        report.files.append(str(one))
        for number, line in _lines_of(one, report, in_folder=folder):
            yield str(one), number, line


def _lines_of(one: Any, report: ReadReport, in_folder: bool = False) -> Iterator[tuple[int, str]]:
    if not is_pipe(one) and is_evtx(one):  # binary Windows event log: one JSON line per event
        yield from iter_evtx_lines(one, report)
        return
    number = 0
    try:
        try:
            handle = open_text(one)
        except InputError as exc:  # compressed otherwise than with gzip: a folder goes on without it
            if not in_folder:
                raise
            report.bad_values[UNREADABLE_FILE] = report.bad_values.get(UNREADABLE_FILE, 0) + 1
            report.add(BadRecord(str(one), None, None, f"{exc.message}; file left out"))
            log.warning("%s; file left out", exc)
            return
        with handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                if len(line) > MAX_LINE_BYTES:
                    report.bad_values["line too long (cut)"] = report.bad_values.get("line too long (cut)", 0) + 1
                    line = line[:MAX_LINE_BYTES]
                if "\x00" in line or "\ufffd" in line:
                    key = "binary or invalid UTF-8"
                    report.bad_values[key] = report.bad_values.get(key, 0) + 1
                    if report.bad_values[key] <= 3:
                        report.add(BadRecord(str(one), number, None, key))
                    line = line.replace("\x00", "")
                report.rows += 1
                yield number, line
    except (EOFError, OSError, zlib.error) as exc:  # a truncated or corrupt gzip file
        report.malformed_rows += 1
        report.add(BadRecord(str(one), number + 1, None, ends_early(exc, "lines")))


def read_sequences(path: str | os.PathLike[str], *, label: int | None = None) -> SequenceData:
    """Sequences from ``<id>,<events>`` lines or a CSV with id/Label/EventSequence columns.

    ``label`` (0 or 1) labels every sequence of a file that has no label column.
    """
    report = ReadReport()
    lines = iter_lines(path, report)
    first = next(lines, None)
    if first is None:
        raise InputError("no sequences", path=path)
    header = [h.strip().lower() for h in next(csv.reader([first[1]]), [])]
    if "eventsequence" in header or "features" in header:
        return _read_csv_sequences(path, header, lines, report)
    head = [first, *itertools.islice(lines, 49)]  # read once: a pipe or a folder cannot be read again
    _refuse_raw_log_lines(path, [line for _, line in head])
    lines = itertools.chain(head[1:], lines)
    if "," not in first[1] and first[1].split():
        # DeepLog's files (hdfs_train, hdfs_test_abnormal...): one sequence per line, no id
        ids, sequences = [], []
        for number, line in [first, *lines]:
            if line.split():
                ids.append(str(number))
                sequences.append(line.split())
        labels = None if label is None else np.full(len(ids), int(label), dtype=np.int8)
        return SequenceData(ids, sequences, labels, report)
    ids, sequences = [], []
    for number, line in [first, *lines]:
        key, sep, events = line.partition(",")
        if not sep or not key.strip():
            if line.strip():
                report.malformed_rows += 1
                report.add(BadRecord(str(path), number, None, "expected '<id>,<space-separated event ids>'"))
            continue
        ids.append(key.strip())
        sequences.append(events.split())
    if not ids:
        raise InputError("no sequences in the '<id>,<events>' format", path=path)
    labels = None if label is None else np.full(len(ids), int(label), dtype=np.int8)
    return SequenceData(ids, sequences, labels, report)


#: an event id: letters, digits and _ . - (E5, 22, 7f3a9c, blk_-1); raw log lines hold words with
#: ':', '=', '[' and the like (HDFS's "dfs.DataNode$PacketResponder:", a syslog "sshd[42]:")
_EVENT_ID = re.compile(r"[\w.\-]+")
_COLUMN_NAME = re.compile(r"[\w .\-]*")


def _refuse_raw_log_lines(path: Any, first_lines: list[str], *,
                          expected: str = "event-id sequences ('<id>,<space-separated event ids>')") -> None:
    """An error when most of the first lines of a sequence file are raw log lines: read as
    sequences, their words would become event ids and the model would learn noise."""
    sample = [line for line in first_lines if line.strip()]
    raw = sum(1 for line in sample
              if not all(_EVENT_ID.fullmatch(token) for token in line.partition(",")[2 if "," in line else 0].split()))
    if sample and raw * 2 > len(sample):
        raise InputError(f"{raw} of the first {len(sample)} lines hold words that are not event ids: these look like "
                         f"raw log lines, not {expected}", path=path,
                         hint="parse raw logs with --format (a preset such as hdfs or syslog, or '<Date> <Time> "
                              "<Content>') and group them with --session REGEX or --window N")


#: what a sequence's or a session's label may say (lower case), in sequence files, labels files
#: and a label given for a whole input alike: Loghub writes Success/Fail, others 0/1 or words
ANOMALOUS_LABELS = ("anomalous", "1", "true", "anomaly", "abnormal", "fail", "failure", "attack", "malicious")
NORMAL_LABELS = ("normal", "0", "false", "success", "benign")


def sequence_label(value: str) -> int:
    """1 for an anomalous sequence's label, 0 for a normal one's (see :data:`ANOMALOUS_LABELS`).

    >>> sequence_label(" Fail "), sequence_label("benign")
    (1, 0)
    """
    key = str(value).strip().lower()
    if key in ANOMALOUS_LABELS or key in NORMAL_LABELS:
        return int(key in ANOMALOUS_LABELS)
    raise ConfigError(f"label {value!r} is neither normal ({', '.join(NORMAL_LABELS)}) "
                      f"nor anomalous ({', '.join(ANOMALOUS_LABELS)})")


_EVENT_SEPARATORS = re.compile(r"[\s,]+")


def _read_csv_sequences(path: Any, header: list[str], lines: Iterator[tuple[int, str]],
                        report: ReadReport) -> SequenceData:
    """A CSV of sequences: ``EventSequence`` (space-separated ids), or Loghub's preprocessed HDFS
    ``Event_traces.csv`` (``Features`` as a quoted ``[E5,E22,...]`` list, ``Label`` Success/Fail)."""
    id_col = next((i for i, h in enumerate(header) if h in ("blockid", "id", "sessionid", "session")), 0)
    seq_col = header.index("eventsequence") if "eventsequence" in header else header.index("features")
    label_col = header.index("label") if "label" in header else None
    ids, sequences, labels = [], [], []
    for number, line in lines:
        if not line.strip():  # a blank line is no record, as in every other table read
            continue
        parts = next(csv.reader([line]), [])
        if len(parts) != len(header):
            report.malformed_rows += 1
            report.add(BadRecord(str(path), number, None, f"expected {len(header)} fields, found {len(parts)}"))
            continue
        label = None
        if label_col is not None:
            try:
                label = sequence_label(parts[label_col])
            except ConfigError as exc:
                report.malformed_rows += 1
                report.add(BadRecord(str(path), number, header[label_col], exc.message))
                continue
        ids.append(parts[id_col])
        events = parts[seq_col].strip().strip("[]")
        sequences.append([e.strip("'\"") for e in _EVENT_SEPARATORS.split(events) if e.strip("'\"")])
        if label is not None:
            labels.append(label)
    return SequenceData(ids, sequences, np.asarray(labels, dtype=np.int8) if label_col is not None else None, report)


def session_pattern(session: str) -> re.Pattern[str]:
    """The compiled session-id pattern, or a :class:`ConfigError` saying what is wrong with it.

    >>> session_pattern("(blk_\\d+)?")
    Traceback (most recent call last):
    deepsentry.core.errors.ConfigError: the session pattern '(blk_\\d+)?' matches empty text (it must match the id itself, e.g. --session 'blk_-?\\d+')
    """
    try:
        pattern = re.compile(session)
    except re.error as exc:
        raise ConfigError(f"the session pattern '{session}' is not a valid regular expression ({exc})",
                          hint="e.g. --session 'blk_-?\\d+'") from None
    if pattern.search("") is not None:  # every line would hold an (empty) id: one session of everything
        raise ConfigError(f"the session pattern '{session}' matches empty text",
                          hint="it must match the id itself, e.g. --session 'blk_-?\\d+'")
    return pattern


def session_ids(pattern: re.Pattern[str], line: str) -> list[str]:
    """The session ids a line mentions, each once, in order: the group named ``session`` where
    the pattern has one, else its only group, else the whole match.

    >>> session_ids(session_pattern(r"blk_-?\d+"), "Receiving block blk_-160899 src: blk_7")
    ['blk_-160899', 'blk_7']
    >>> session_ids(session_pattern(r"user=(\w+) pid=(\d+)"), "sshd: user=bob pid=12")
    ['user=bob pid=12']
    """
    if "session" in pattern.groupindex:
        found = (m.group("session") for m in pattern.finditer(line))
    elif pattern.groups == 1:
        found = (m.group(1) for m in pattern.finditer(line))
    else:
        found = (m.group(0) for m in pattern.finditer(line))
    return list(dict.fromkeys(key for key in found if key))


def read_log_sessions(path: str | os.PathLike[str], fmt: Any, session: str, miner: Any, *,
                      learn: bool = True, strict: bool = False) -> SequenceData:
    """Parse, mine and group raw log lines into sessions (in order of first appearance).

    Lines that match no format are counted (or rejected with ``strict``); lines with no session
    id are counted and not grouped.
    """
    pattern = session_pattern(session)
    report = ReadReport()
    groups: OrderedDict[str, list[str]] = OrderedDict()
    line_numbers: dict[str, list[int]] = {}
    for source, number, line in iter_file_lines(path, report):
        if not line.strip():
            continue
        fields = fmt.parse(line)
        if fields is None:
            reason = mismatch_with_suggestion(fmt, line, suggest=strict or not report.malformed_rows)
            if strict:
                raise InputError(reason, path=source, row=number)
            report.malformed_rows += 1
            report.add(BadRecord(source, number, None, reason))
            continue
        event = mined_event(miner, fields, learn)
        keys = session_ids(pattern, line)  # a line can mention several sessions
        if not keys:
            report.bad_values["no session id"] = report.bad_values.get("no session id", 0) + 1
            continue
        for key in keys:
            groups.setdefault(key, []).append(event)
            line_numbers.setdefault(key, []).append(number)
    if not groups and report.bad_values.get("no session id") and learn:
        raise InputError(f"the session pattern '{session}' matched no line "
                         f"({report.bad_values['no session id']} lines read)", path=path,
                         hint="check it against a line of the file, or use a window (--window 20)")
    if learn and len(groups) == 1 and len(next(iter(line_numbers.values()))) >= 100:
        log.warning("%s: the session pattern '%s' finds one session id (%r) in all %d lines it matched: "
                    "it must match the part of a line that tells sessions apart (e.g. blk_-?\\d+)",
                    path, session, next(iter(groups)), len(next(iter(line_numbers.values()))))
    return SequenceData(list(groups), list(groups.values()), None, report,
                        lines=[line_numbers[k] for k in groups])


def mined_event(miner: Any, fields: dict[str, Any], learn: bool) -> str:
    """The event id of a parsed line: its template, learned (training) or matched (detection,
    ``<new>`` for a line no training template matches)."""
    content = fields.get("Content") or ""
    if learn:
        template_id, _ = miner.add(content)
    else:
        found = miner.match(content)
        template_id = found[0] if found is not None else -1
    return f"E{template_id}" if template_id >= 0 else "<new>"


def read_log_windows(path: str | os.PathLike[str], fmt: Any, miner: Any, *, window: int | None = None,
                     window_seconds: float | None = None, learn: bool = True, strict: bool = False) -> SequenceData:
    """Parse and mine raw log lines, then cut them, in file order, into windows of ``window`` lines
    or fixed ``window_seconds`` time windows by each line's own time (see
    :class:`~deepsentry.logs.clock.LineClock`): for logs with no session id to group by.

    Lines that match no format, and for time windows lines whose time cannot be read, are counted
    (or rejected with ``strict``). Where the format has a ``Label`` field (BGL, Thunderbird: ``-``
    is normal), a window is anomalous when any of its lines is.
    """
    from .clock import LineClock

    _check_window(window, None, window_seconds)
    report = ReadReport()
    clocks: dict[str, LineClock] = {}  # one per file: each crosses New Year on its own
    has_labels = "Label" in fmt.fields
    by_file: OrderedDict[str, tuple[list[str], list[int], list[float], list[bool]]] = OrderedDict()
    for source, number, line in iter_file_lines(path, report):
        if not line.strip():
            continue
        fields = fmt.parse(line)
        problem = None if fields is not None else mismatch_with_suggestion(
            fmt, line, suggest=strict or not report.malformed_rows)
        clock = clocks.setdefault(source, LineClock()) if window_seconds is not None else None
        stamp = clock(fields) if clock is not None and fields is not None else None
        if clock is not None and fields is not None and stamp is None:
            problem = "no time this reader knows in the line (time windows need one)"
        if problem is not None:
            if strict:
                raise InputError(problem, path=source, row=number)
            report.malformed_rows += 1
            report.add(BadRecord(source, number, None, problem))
            continue
        events, numbers, stamps, line_labels = by_file.setdefault(source, ([], [], [], []))
        events.append(mined_event(miner, fields, learn))
        numbers.append(number)
        if stamp is not None:
            stamps.append(stamp)
        if has_labels:
            line_labels.append(str(fields.get("Label") or "-").strip().lower() not in _NORMAL_LINE)
    report.rows = sum(len(events) for events, *_ in by_file.values())
    # a folder's files are windowed one by one (a window never joins two files' lines), and a
    # window's id names its file: line numbers start again in each file
    folder = str(path) != "-" and Path(path).is_dir()
    windows = SequenceData([], [], np.zeros(0, dtype=np.int8) if has_labels else None, report, lines=[])
    for source, (events, numbers, stamps, line_labels) in by_file.items():
        labels = np.asarray(line_labels, dtype=bool) if has_labels else None
        if window_seconds is not None:
            part = _cut_time_windows(events, numbers, np.asarray(stamps, dtype=np.float64), labels, window_seconds,
                                     report)
        else:
            part = _cut_line_windows(events, numbers, labels, window, None, report)
        prefix = f"{Path(source).relative_to(path)}:" if folder else ""
        windows.ids += [prefix + i for i in part.ids]
        windows.sequences += part.sequences
        windows.lines += part.lines
        if has_labels:
            windows.labels = np.concatenate([windows.labels, part.labels])
    return windows


#: per-line labels that mean a normal line (BGL and Thunderbird write ``-``)
_NORMAL_LINE = frozenset({"-", "0", "normal", ""})


def _check_window(window: int | None, step: int | None, window_seconds: float | None) -> None:
    if (window is None) == (window_seconds is None):
        raise InputError("give a window in lines or in seconds (one of the two)")
    if window is not None and (window < 1 or (step is not None and step < 1)):
        raise InputError("window and step must be at least 1 line")
    if window_seconds is not None and window_seconds <= 0:
        raise InputError("window_seconds must be positive")


def _cut_line_windows(events: list[str], numbers: list[int], line_labels: np.ndarray | None, window: int,
                      step: int | None, report: ReadReport) -> SequenceData:
    """Windows of ``window`` lines every ``step`` (default ``window``: no overlap); the last window
    ends at the last line, shorter if need be, so that every line is scored."""
    step = step or window
    ids, sequences, labels, lines = [], [], [], []
    for start in range(0, len(events), step):
        end = min(start + window, len(events))
        ids.append(f"lines {numbers[start]}-{numbers[end - 1]}")
        sequences.append(events[start:end])
        lines.append(numbers[start:end])
        if line_labels is not None:
            labels.append(int(line_labels[start:end].any()))
        if end == len(events):
            break
    return SequenceData(ids, sequences, np.asarray(labels, dtype=np.int8) if line_labels is not None else None,
                        report, lines=lines)


def _cut_time_windows(events: list[str], numbers: list[int], stamps: np.ndarray, line_labels: np.ndarray | None,
                      seconds: float, report: ReadReport) -> SequenceData:
    """Fixed windows of ``seconds`` by time (lines without a time, NaN, are left out: the caller
    counted them), in order of each window's first line."""
    bucket = np.floor(stamps / seconds)
    groups: OrderedDict[float, list[int]] = OrderedDict()
    for i in range(len(events)):
        if not np.isnan(bucket[i]):
            groups.setdefault(bucket[i], []).append(i)
    ids, sequences, labels, lines = [], [], [], []
    for key, members in groups.items():
        ids.append(f"t={key * seconds:.0f}s")
        sequences.append([events[i] for i in members])
        lines.append([numbers[i] for i in members])
        if line_labels is not None:
            labels.append(int(line_labels[members].any()))
    return SequenceData(ids, sequences, np.asarray(labels, dtype=np.int8) if line_labels is not None else None,
                        report, lines=lines)


def read_event_lines(path: str | os.PathLike[str], *, window: int | None = None, step: int | None = None,
                     window_seconds: float | None = None) -> SequenceData:
    """Per-line events (a CSV with an event id column and optionally ``label`` and ``time``, one row
    per log line in time order, like the BGL structured file) cut into windows of ``window`` lines
    every ``step`` lines (default: no overlap), or into fixed ``window_seconds`` time windows by the
    ``time`` column. A window is anomalous when any of its lines is (a label other than ``-``,
    ``0``, ``normal``)."""

    _check_window(window, step, window_seconds)
    try:
        frame = read_small_csv(path, dtype=str, keep_default_na=False)
    except InputError:
        _refuse_raw_log_file(path)
        raise
    by_lower = {c.lower(): c for c in frame.columns}
    event_col = by_lower.get("event_id") or by_lower.get("eventid")
    if event_col is None:
        _refuse_raw_log_file(path)
        raise InputError("per-line events need an event_id (or EventId) column", path=path)
    events = frame[event_col].astype(str).tolist()
    label_col = by_lower.get("label")
    line_labels = None if label_col is None else \
        (~frame[label_col].str.strip().str.lower().isin(list(_NORMAL_LINE))).to_numpy()
    numbers = list(range(2, len(events) + 2))  # file line numbers (after the header)
    report = ReadReport(files=[str(path)], rows=len(events))
    if window_seconds is not None:
        stamps = _time_column(path, frame, by_lower, report)
        return _cut_time_windows(events, numbers, stamps, line_labels, window_seconds, report)
    return _cut_line_windows(events, numbers, line_labels, window, step, report)


def _refuse_raw_log_file(path: Any) -> None:
    """A raw log given without --format: say so, rather than only why it is not an event CSV. A
    first line of column names (words, no ':' or '[') is a CSV's header: its rows may hold text."""
    first_lines = [line for _, line in itertools.islice(iter_lines(path, ReadReport()), 50)]
    if first_lines and all(_COLUMN_NAME.fullmatch(name.strip()) for name in re.split(r"[,;\t|]", first_lines[0])):
        return
    _refuse_raw_log_lines(path, first_lines, expected="a per-line event CSV (an event_id column)")


def _time_column(path: Any, frame: Any, by_lower: dict[str, str], report: ReadReport) -> np.ndarray:
    """Seconds of the ``time`` column (numbers, or date-times; NaN where unreadable, counted)."""
    import pandas as pd

    time_col = by_lower.get("time") or by_lower.get("timestamp")
    if time_col is None:
        raise InputError("time windows need a time (or timestamp) column", path=path)
    raw = frame[time_col].astype(str)
    stamps = pd.to_numeric(raw, errors="coerce")
    if stamps.isna().mean() > 0.5:  # date-times; BGL writes 2005-06-03-15.42.50.363779
        text = raw.str.replace(r"^(\d{4}-\d\d-\d\d)-(\d\d)\.(\d\d)\.(\d\d)", r"\1 \2:\3:\4", regex=True)
        parsed = pd.to_datetime(text, errors="coerce", utc=True)
        stamps = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    bad = int(stamps.isna().sum())
    if bad:
        report.bad_values["unparsable time"] = bad
    return stamps.to_numpy(dtype=np.float64)
