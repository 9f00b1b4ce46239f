"""From files to verdicts for logs: template extraction, training inputs and per-group detection.

A model trained on raw logs keeps its line format, session pattern (or, for logs without session
ids, its window in lines or seconds) and template miner in the bundle (``logs.json``,
``templates.json``, ``detector.json``), so ``detect`` turns new raw logs into the same event ids
and groups; a model trained on pre-parsed sequences scores sequence files directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ConfigError, InputError
from ..core.tables import ReadReport, check_output, read_small_csv, write_table
from .drain import TemplateMiner
from .formats import LogFormat
from .sequences import (SequenceData, iter_file_lines, read_event_lines, read_log_sessions, read_log_windows,
                        read_sequences, sequence_label)


def extract_templates(path: str | Path, fmt: str, out: str | Path, *,
                      miner: TemplateMiner | None = None) -> dict[str, Any]:
    """Write one row per input line (``line``, ``template_id``, ``template``, in order; for a
    folder, ``file`` first: line numbers start again in each file) to ``out`` and the template
    table (``template_id``, ``template``, ``count``) beside it (``<out stem>.templates`` with the
    suffix of ``out``). Lines that match no format keep a row with an empty template."""
    out = Path(out)
    table = out.with_name(out.stem + ".templates" + out.suffix)
    check_output(out, path, table=True)
    check_output(table, path)
    fmt_ = LogFormat.from_spec(fmt)
    miner = miner or TemplateMiner()
    report = ReadReport()
    sources, numbers, ids = [], [], []
    for source, number, line in iter_file_lines(path, report):
        fields = fmt_.parse(line)
        sources.append(source)
        numbers.append(number)
        if fields is None:
            report.malformed_rows += 1
            ids.append(-1)
            continue
        ids.append(miner.add(fields.get("Content") or "")[0])
    templates = {c.id: c.template for c in miner.clusters}
    rows = pd.DataFrame({"line": numbers, "template_id": [f"E{i}" if i >= 0 else "" for i in ids],
                         "template": [templates.get(i, "") for i in ids]})
    if str(path) != "-" and Path(path).is_dir():
        rows.insert(0, "file", [str(Path(f).relative_to(path)) for f in sources])
    out = write_table(rows, out)
    write_table(pd.DataFrame({"template_id": [f"E{c.id}" for c in miner.clusters],
                              "template": [c.template for c in miner.clusters],
                              "count": [c.size for c in miner.clusters]}), table)
    return {"lines": len(numbers), "unmatched": report.malformed_rows, "templates": len(miner.clusters),
            "table": str(table), "problems": dict(report.bad_values)}


@dataclass
class LogSource:
    """How raw logs become sessions (kept in the bundle as ``logs.json``); without a session
    pattern, lines are cut into the windows the detector keeps (``window_lines_``, ``window_seconds_``)."""

    format: str
    session: str | None

    def to_json(self) -> dict[str, str]:
        return {"format": self.format, "session": self.session}


@dataclass(frozen=True)
class LogInput:
    """Where labelled training sequences come from, as ``train logs``, ``cv`` and ``tune`` take them:
    raw logs (``fmt`` and ``session``, labels from ``labels``; or ``fmt`` and a window), a labelled
    sequence CSV, per-line events cut into windows, or ``normal`` (and ``abnormal``) sequence files."""

    data: Path | None = None
    normal: Path | None = None
    abnormal: Path | None = None
    fmt: str | None = None
    session: str | None = None
    labels: Path | None = None
    window: int | None = None
    window_seconds: float | None = None

    @property
    def files(self) -> list[Path]:
        """The files read, in a fixed order (their checksums identify the training data)."""
        return [Path(p) for p in (self.data, self.normal, self.abnormal, self.labels) if p is not None]

    def read(self) -> "LogTrainingData":
        sequences, source, miner = training_data(data=self.data, normal=self.normal, abnormal=self.abnormal,
                                                 fmt=self.fmt, session=self.session, labels=self.labels,
                                                 window=self.window, window_seconds=self.window_seconds)
        report = sequences.report
        if not len(sequences.sequences) and report.malformed_rows:  # say why, not "too few sequences (0)"
            raise InputError(f"none of the {report.malformed_rows} record(s) read could be used; first: "
                             f"{report.examples[0] if report.examples else 'not recorded'}",
                             path=self.data or self.normal,
                             hint="check --format (and --session) against the lines")
        return LogTrainingData(sequences, source, miner, self.window, self.window_seconds)


@dataclass
class LogTrainingData:
    """Training sequences and how they were read from the files."""

    sequences: SequenceData
    source: LogSource | None = None
    miner: TemplateMiner | None = None
    window: int | None = None
    window_seconds: float | None = None

    def fit(self, detector: Any, *, progress: Any = None) -> Any:
        """Fit ``detector`` on these sequences and keep how they were read in it, so that
        ``detect`` and ``watch`` read new logs alike (``progress``: told each training epoch)."""
        if self.source is not None:
            detector.read_raw_logs_with(self.source, self.miner)
        detector.window_lines_, detector.window_seconds_ = self.window, self.window_seconds
        return detector.fit(self.sequences.sequences, self.sequences.labels, progress=progress)


def training_data(*, data: str | Path | None = None, normal: str | Path | None = None,
                  abnormal: str | Path | None = None, fmt: str | None = None, session: str | None = None,
                  labels: str | Path | None = None, window: int | None = None,
                  window_seconds: float | None = None,
                  ) -> tuple[SequenceData, LogSource | None, TemplateMiner | None]:
    """Sequences (with labels: 1 = anomalous) from raw logs, a labelled sequence CSV, or
    normal/abnormal sequence files."""
    if normal is not None:
        parts = [read_sequences(normal, label=0)]
        if abnormal is not None:
            parts.append(read_sequences(abnormal, label=1))
        ids = [i for p in parts for i in p.ids]
        return SequenceData(ids, [s for p in parts for s in p.sequences],
                            np.concatenate([p.labels for p in parts]), parts[0].report), None, None
    if data is None:
        raise ConfigError("give --data (raw logs or a sequence CSV) or --normal [--abnormal]")
    windowed = window is not None or window_seconds is not None
    if windowed and session is not None:
        raise ConfigError("group raw lines by --session or cut them into windows (--window, --window-seconds), "
                          "not both")
    if windowed and fmt is not None:
        if labels is not None:
            raise ConfigError("--labels names sessions; windows of raw lines take their labels from the lines "
                              "(a Label field of the format, as BGL's)")
        miner = TemplateMiner()
        windows = read_log_windows(data, LogFormat.from_spec(fmt), miner, window=window,
                                   window_seconds=window_seconds)
        return windows, LogSource(fmt, None), miner
    if windowed:
        return read_event_lines(data, window=window, window_seconds=window_seconds), None, None
    if fmt is None:
        found = read_sequences(data)
        return found, None, None
    if session is None:
        raise ConfigError("raw logs need --session, a regular expression for the session id, or a window "
                          "(--window lines, --window-seconds) for logs without one",
                          hint="e.g. --session 'blk_-?\\d+' for HDFS block ids, or --window 20")
    miner = TemplateMiner()
    sessions = read_log_sessions(data, LogFormat.from_spec(fmt), session, miner)
    if labels is not None:
        sessions.labels = session_labels(labels, sessions.ids)
    return sessions, LogSource(fmt, session), miner


def session_labels(labels: str | Path, ids: list[str]) -> np.ndarray:
    """1 (anomalous) or 0 for each session id, from a labels file: the id first, then a ``Label``
    column (HDFS's ``BlockId,Label`` with Anomaly/Normal, or 1/0, or the other words of
    :func:`sequence_label`; any other value is an error naming its line); ids it does not list are
    normal."""
    table = read_small_csv(labels, dtype=str)
    key, label = table.columns[0], next((c for c in table.columns if c.lower() == "label"), None)
    if label is None:
        raise InputError("labels file needs a Label column", path=labels)
    values = table[label].fillna("")
    meaning = {}
    for value in values.unique():  # a few distinct values: an unknown one is named, never read as normal
        try:
            meaning[value] = sequence_label(value)
        except ConfigError as exc:
            line = int(np.flatnonzero((values == value).to_numpy())[0]) + 2  # 1-based, after the header
            raise InputError(exc.message, path=labels, row=line, column=label) from None
    by_id = dict(zip(table[key].fillna("").str.strip(), values.map(meaning)))
    # a labels file often covers more sessions than one log holds (a test half); none at all is a
    # mismatch, e.g. ids written without the prefix the session pattern keeps
    if by_id and ids and not set(by_id) & set(ids):
        raise InputError(f"none of its {len(by_id)} session ids names a session of the logs (first: "
                         f"{next(iter(by_id))!r}; the sessions found look like {ids[0]!r})",
                         path=labels, hint="the ids must be what --session matches in the lines")
    return np.asarray([int(by_id.get(i, False)) for i in ids], dtype=np.int8)


def read_for_detection(detector: Any, path: str | Path, *, strict: bool = False) -> SequenceData:
    """New input read the way ``detector``'s training input was; with ``strict``, a malformed
    record (a line that matches no format, a bad sequence line) is an error naming the first one."""
    data = _read_like_training(detector, path)
    if strict and data.report.malformed_rows:
        first = f"; first: {data.report.examples[0]}" if data.report.examples else ""
        raise InputError(f"{data.report.malformed_rows} malformed record(s) (--strict){first}", path=path)
    return data


def _read_like_training(detector: Any, path: str | Path) -> SequenceData:
    source = getattr(detector, "log_source_", None)
    if source is None:
        window = getattr(detector, "window_lines_", None)
        seconds = getattr(detector, "window_seconds_", None)
        if window or seconds:
            return read_event_lines(path, window=window, window_seconds=seconds)
        return read_sequences(path)
    miner = TemplateMiner.from_json(detector.templates_)
    fmt = LogFormat.from_spec(source["format"])
    if source.get("session") is None:
        return read_log_windows(path, fmt, miner, window=getattr(detector, "window_lines_", None),
                                window_seconds=getattr(detector, "window_seconds_", None), learn=False)
    return read_log_sessions(path, fmt, source["session"], miner, learn=False)


#: below this many events an input may be all new by chance; above it, none known means wrong input
KNOWN_EVENTS_MIN = 50


def check_known_events(detector: Any, sequences: list[list[str]], path: str | Path | None) -> None:
    """Refuse input none of whose events the model has seen (at least :data:`KNOWN_EVENTS_MIN`
    of them): another system's logs, another format, or flow records given to a log model would
    otherwise all be scored as unknown events, i.e. all alerts."""
    vocabulary = getattr(detector, "vocabulary_", None)
    events = sum(len(s) for s in sequences)
    if not vocabulary or events < KNOWN_EVENTS_MIN:
        return
    if not any(event in vocabulary for sequence in sequences for event in sequence):
        shown = ", ".join(repr(e[:40] + ("..." if len(e) > 40 else ""))
                          for e in list(dict.fromkeys(e for s in sequences for e in s))[:3])
        raise InputError(f"none of the {events} events is one the model was trained on (first: {shown})",
                         path=path, hint="is this input of the system and format the model was trained on? "
                                         f"(its events: {', '.join(detector.events_[:3])}, ...)")


def detect_groups(detector: Any, path: str | Path, *, strict: bool = False) -> tuple[pd.DataFrame, SequenceData]:
    """One row per group (session or sequence): ``id``, ``score``, ``alert``, ``events``, and for
    alerts of deeplog (the event that broke the expectation and the expected ones) and of the
    autoencoder (the events whose counts did, observed and expected) ``explanation``."""
    data = read_for_detection(detector, path, strict=strict)
    return score_groups(detector, data, path), data


def sequences_from_records(records: list[Any]) -> SequenceData:
    """Sequences sent as JSON (the detection service): each record a list of event ids, or an
    object with ``events`` (a list of event ids) and optionally ``id``; a bad record is an error
    naming its position."""
    ids, sequences = [], []
    for position, record in enumerate(records):
        events = record.get("events") if isinstance(record, dict) else record
        if not isinstance(events, list) or not all(isinstance(e, (str, int)) and not isinstance(e, bool)
                                                   for e in events):
            raise InputError("not a sequence of event ids", row=position,
                             hint='send a list of event ids, or {"id": ..., "events": [event ids]}')
        sequences.append([str(e) for e in events])
        ids.append(str(record.get("id", position)) if isinstance(record, dict) else str(position))
    return SequenceData(ids, sequences)


def score_groups(detector: Any, data: SequenceData, path: str | Path | None = None) -> pd.DataFrame:
    """:func:`detect_groups`'s table for sequences already read (``path`` names their source in errors)."""
    if not len(data):
        detail = ""
        if data.report.malformed_rows and data.report.examples:
            detail = (f" ({data.report.malformed_rows} line(s) could not be read as the model reads its input; "
                      f"first: {data.report.examples[0]})")
        raise InputError("no sessions or sequences found" + detail, path=path,
                         hint="is this input of the system and format the model was trained on?")
    check_known_events(detector, data.sequences, path)
    scores, explanations = detector.score_and_explain(data.sequences)
    alert = (scores > detector.threshold_.threshold).astype(np.int8)
    frame = pd.DataFrame({"id": data.ids, "score": scores, "alert": alert,
                          "events": [len(s) for s in data.sequences]})
    if detector.model_ in ("deeplog", "autoencoder"):
        frame["explanation"] = [json.dumps(why) if a else "" for why, a in zip(explanations, alert)]
    if data.labels is not None:
        frame["label"] = data.labels
    return frame
