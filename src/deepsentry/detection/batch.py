"""Batch detection and evaluation over files: the library behind ``detect`` and ``evaluate``.

Output contract of :func:`detect_file`: one row per input record, in input order, with ``id``,
``score`` (higher = more malicious), ``alert`` (0/1 at the bundle's threshold), ``predicted`` (class
name, when the model has classes) and ``error`` (empty, or why the record could not be scored; such
a record has an empty score and ``alert`` 0).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..core.base import validate_range
from ..core.bundle import read_bundle
from ..core.errors import ConfigError, DeepSentryError, InputError
from ..core.preprocessing import PreprocessingReport, missing_columns_error
from ..core.tables import (JSON_LINES_SUFFIXES, MAX_EXAMPLES, STDOUT, BadRecord, LabelledTable, ReadReport,
                           TableWriter, check_output, check_writable, copy_named_as, input_name, is_json_lines,
                           is_pipe, one_spelling_per_class, pipe_as_file, write_table)
from ..evaluation.metrics import binary_metrics, class_metrics, group_detection
from ..evaluation.report import write_report
from ..flows import FlowDetector
from ..flows.readers import table_pieces
from ..logs.detector import LogSequenceDetector
from ..malware import MalwareDetector

PIPELINE_ROWS = 65_536  # rows per block when preprocessing overlaps scoring
#: ``detect`` scores a flow table larger than this in pieces of about this size, so that its memory
#: stays bounded (a table read whole takes 4 to 5 times its size)
PIECE_BYTES = 32 << 20
_DETECTORS = {"flows": FlowDetector, "malware": MalwareDetector, "logs": LogSequenceDetector}


def load_detector(path: str | Path, *, onnx: bool = True, keras_model: bool = True) -> Any:
    """Load any deepsentry bundle, choosing the detector class from its manifest.

    With ``onnx=True`` and a ``model.onnx`` in the bundle, scoring runs on ONNX Runtime; with
    ``keras_model=False`` too, Keras/TensorFlow are not even imported.
    """
    contents = read_bundle(path)
    kind = contents.manifest.get("kind")
    contents.close()
    if kind not in _DETECTORS:
        raise ConfigError(f"bundle kind {kind!r} is not supported by this version", path=path)
    detector = _DETECTORS[kind].load(path, keras_model=keras_model or not onnx)
    if onnx and getattr(detector, "onnx_bytes_", None) and getattr(detector, "onnx_session_", None) is None:
        from ..core.onnx import attach_onnx

        attach_onnx(detector)
    return detector


TABLE_ROWS_KEPT = "row(s) not scored (score empty, 'error' set)"
LOG_LINES_LEFT_OUT = "line(s) left out (they join no scored session or window)"
PACKETS_LEFT_OUT = "packet record(s) (the flows before each are kept)"


@dataclass
class DetectSummary:
    """Counts from one detection run, printed by the CLI and returned to library users."""

    input: str
    output: str | None
    rows: int = 0  # output rows: one per input record, malformed ones included
    scored: int = 0  # records that got a score (malformed ones kept in place did not)
    alerts: int = 0
    malformed_rows: int = 0
    #: what became of the malformed records: they keep their place in the output (tables); log
    #: lines that cannot be read belong to no scored session or window, and a capture's broken
    #: packet records to no flow, so neither has a row of its own
    malformed_fate: str = TABLE_ROWS_KEPT
    bad_values: dict[str, int] = field(default_factory=dict)
    unseen_categories: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    predicted_counts: dict[str, int] = field(default_factory=dict)
    #: alerts that did not reach ``--alerts`` (a webhook that failed), said in one line
    alert_delivery_problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score_file(detector: Any, path: str | Path, *, strict: bool = False,
               format: str | None = None, require_labels: bool = False, capture_label: str | None = None,
               labels_file: str | Path | None = None, absent_columns: set[str] | None = None
               ) -> tuple[pd.DataFrame, Any, DetectSummary]:
    """Score every record of a file the detector can read (flows, PE-feature tables);
    returns (output frame, the data read, summary). ``capture_label`` labels packet captures'
    flows (flow models; see ``FlowDetector.read_input``); ``labels_file`` labels a folder of PE
    samples (malware models; see ``MalwareDetector.read_input``). Where ``absent_columns`` is given
    (a piece of a file, whose other pieces may have them), a column the model needs that the
    records lack is read as missing values, and added to it."""
    if is_pipe(path):  # the readers need a file they can read more than once
        with pipe_as_file(path) as copy:
            frame, data, summary = score_file(detector, copy, strict=strict, format=format,
                                              require_labels=require_labels, capture_label=capture_label,
                                              labels_file=labels_file)
        data.report.relabel_copy(copy, input_name(path))
        summary.input, summary.examples = str(path), [str(e) for e in data.report.examples]
        return frame, data, summary
    labelled: dict[str, Any] = {}
    if capture_label is not None:
        if getattr(detector, "kind", None) != "flows":
            raise ConfigError("a label for every record applies to packet captures (flow models) and log "
                              "sequences (log models)", path=path)
        labelled["capture_label"] = capture_label
    if labels_file is not None:
        if getattr(detector, "kind", None) != "malware":
            raise ConfigError("a labels file applies to folders of PE samples (malware models) and log sessions "
                              "(log models)", path=path, hint="flow tables carry a label column")
        labelled["labels_file"] = labels_file
    data = detector.read_input(path, strict=strict, format=format, require_labels=require_labels, **labelled)
    report = PreprocessingReport()
    if len(data.features) == 0:  # a header alone, or only malformed records (JSON lines: no columns at all)
        out = detector.score_features(np.zeros((0, len(detector.preprocessor_.feature_names_)), np.float32))
    else:
        try:
            if absent_columns is not None and (absent := detector.preprocessor_.missing_columns(data.features.columns)):
                absent_columns.update(absent)
                data.features = data.features.assign(**dict.fromkeys(absent, np.nan))
            out = transform_and_score(detector, data.features, report)
        except DeepSentryError as exc:  # the model's view of the records (missing columns): name the file
            raise exc.relocated(None, path) from None
    summary = DetectSummary(input=str(path), output=None, malformed_rows=data.report.malformed_rows,
                            malformed_fate=PACKETS_LEFT_OUT if data.format == "capture" else TABLE_ROWS_KEPT,
                            bad_values=data.report.bad_values, unseen_categories=report.unseen_categories,
                            missing_values=report.missing,
                            examples=[str(e) for e in data.report.examples])
    frame = pd.DataFrame({"id": data.ids, "score": out["score"], "alert": out["alert"]})
    if "predicted" in out:
        frame["predicted"] = out["predicted"]
    frame["error"] = ""
    if data.format == "capture":  # flows from packets: the 5-tuple and times lead each row
        frame = pd.concat([data.identifiers.reset_index(drop=True), frame], axis=1)
    if data.malformed_positions:
        frame.index = data.positions
        frame = _with_malformed_rows(frame, data.malformed_positions, getattr(data, "malformed_ids", {}))
    summary.rows, summary.scored = len(frame), len(out["score"])
    summary.alerts = int(frame["alert"].sum())
    if "predicted" in frame:
        counts = frame.loc[frame["alert"] == 1, "predicted"].value_counts()
        summary.predicted_counts = {str(k): int(v) for k, v in counts.items()}
    return frame, data, summary


def _with_malformed_rows(frame: pd.DataFrame, malformed: dict[int, str], known_ids: dict[int, str]) -> pd.DataFrame:
    """``frame``, indexed by record position, with a row for each malformed record in its place:
    no score, no alert, what is wrong as its error, its id a name where ``known_ids`` has one (a
    Zeek record's line), else its position (a row number)."""
    filler = pd.DataFrame({"id": [known_ids.get(p, p) for p in malformed], "score": np.nan, "alert": np.int8(0),
                           "error": list(malformed.values())}, index=list(malformed))
    if "predicted" in frame:
        filler["predicted"] = ""
    frame = pd.concat([frame, filler[frame.columns]]).sort_index().reset_index(drop=True)
    if frame["id"].dtype == object and frame["id"].map(type).nunique() > 1:
        frame["id"] = frame["id"].astype(str)  # row numbers beside string ids: one type for the writers
    return frame


def _with_fault_row(frame: pd.DataFrame, data: Any, summary: DetectSummary, piece: Any, path: str | Path,
                    strict: bool) -> pd.DataFrame:
    """The last piece of a file cut short or corrupt (``piece.fault``) with the malformed record
    that ends it, after its rows, as the file's reader has it read whole (numbered within the
    piece, as its other rows are)."""
    line = piece.text.count(b"\n") + 1  # the line cut short, where the whole file's reader stops
    if strict:
        raise InputError(piece.fault, path=path, row=line + piece.lines_before)
    position = data.total_rows
    named = {position: f"line {line}"} if data.format == "zeek" else {}  # as read_zeek names its malformed records
    frame = _with_malformed_rows(frame, {position: piece.fault}, named)
    data.total_rows += 1
    data.malformed_positions[position] = piece.fault
    data.malformed_ids.update(named)
    data.report.malformed_rows += 1
    data.report.add(BadRecord(str(path), line, None, piece.fault))
    summary.rows, summary.malformed_rows = len(frame), summary.malformed_rows + 1
    return frame


def transform_and_score(detector: Any, frame: pd.DataFrame, report: PreprocessingReport,
                        block_rows: int = PIPELINE_ROWS) -> dict[str, np.ndarray]:
    """``score_features(transform(frame))`` in blocks of rows: block i+1 is preprocessed in a
    worker thread while the network scores block i (ONNX Runtime and numpy release the GIL), so
    the two overlap on a multi-core machine. The result equals one ``score_features`` call."""
    n = len(frame)
    if n <= block_rows:
        return detector.score_features(detector.transform(frame, report))
    from concurrent.futures import ThreadPoolExecutor

    parts = []
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(detector.transform, frame.iloc[:block_rows], report)
        for start in range(0, n, block_rows):
            features = pending.result()
            following = start + block_rows
            if following < n:
                pending = pool.submit(detector.transform, frame.iloc[following:following + block_rows], report)
            parts.append(detector.score_features(features))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def detect_file(detector: Any, path: str | Path, out: str | Path | None, *, strict: bool = False,
                format: str | None = None, explain: int = 0, alerts: str | None = None,
                model_name: str = "model", progress: Any = None,
                piece_bytes: int = PIECE_BYTES) -> tuple[pd.DataFrame | None, DetectSummary]:
    """Score a file and write the predictions (when ``out`` is given).

    ``explain=K`` adds an ``explanation`` column (the K fields that pushed each alert most; about
    10 ms an alert, reported to ``progress``); ``alerts`` also writes one ECS alert per alerting
    record to a file, ``-`` or a webhook. A flow table larger than ``piece_bytes`` that is written
    to ``out`` is read, scored and written piece by piece (see :func:`flows.readers.table_pieces`);
    the frame returned is then None. The predictions are those of the whole file read at once (the
    scores to float32 rounding where Keras scores them: TensorFlow's sums can depend on the batch size).
    """
    from .alerts import AlertSink

    validate_range("explain", explain, 0)
    if out is not None:
        check_output(out, path, table=True, stdout=True)
    sink = AlertSink(alerts, inputs=[path]) if alerts else None  # checks a file destination before the work
    if sink is not None and sink.kind == "stdout" and out is not None and str(out) == STDOUT:
        raise ConfigError("the alerts and the predictions would both go to standard output, mixed in one stream",
                          hint="write the predictions to a file with --out, or the alerts with --alerts FILE")
    if sink is not None and sink.kind == "file" and out is not None and Path(alerts).resolve() == Path(out).resolve():
        raise ConfigError("the alerts file is the predictions file: the predictions would overwrite the alerts",
                          path=out, hint="give --alerts and --out a file each")
    if detector.kind == "logs":
        frame, summary = _detect_log_groups(detector, path, out, sink, model_name, strict=strict, format=format)
    elif out is not None and detector.kind == "flows" and \
            (pieces := table_pieces(path, format or getattr(detector, "format_", None), piece_bytes)) is not None:
        frame, summary = None, _detect_in_pieces(detector, path, out, pieces, strict=strict, format=format,
                                                  explain=explain, sink=sink, model_name=model_name, progress=progress)
    else:
        frame, data, summary = score_file(detector, path, strict=strict, format=format)
        if explain or sink:
            frame = _add_alerts(detector, data, frame, explain, sink, model_name, progress)
        if out is not None:
            write_table(frame, out)
            summary.output = str(out)
    summary.alert_delivery_problem = sink.problem() if sink is not None else None
    return frame, summary


def _scored_pieces(detector: Any, path: str | Path, pieces: Any, total: DetectSummary, *, rows_before: int = 0,
                   **options: Any) -> Iterator[tuple[Any, ...]]:
    """(piece, output frame, data read) of each piece of a large flow table, numbered as rows and
    lines of the whole file: each piece is written to a temporary file (read as the file itself:
    messages name the file and its lines) and scored by :func:`score_file` with ``options``; its
    summary is added to ``total``, whose alerts per class are ordered as the whole file's once the
    last piece is done. A column the model needs that a piece's records lack (JSON records name
    their fields; a piece's may all leave one out) is read as missing values there, as it is read
    whole; one that no piece has is the whole file's error, raised after the last piece.
    ``rows_before``: the records before the first piece (a watcher resuming), for the row ids."""
    import tempfile

    never_seen: set[str] | None = None  # the model's columns that no piece so far has had
    keys_vary: bool | None = None  # a delimited table's pieces share its header (asked once the file is there)
    with tempfile.TemporaryDirectory(prefix="deepsentry-piece-") as folder:
        copy = Path(folder) / Path(path).name.removesuffix(".gz")  # pieces are written decompressed
        for number, piece in enumerate(pieces):
            if keys_vary is None:
                keys_vary = is_json_lines(Path(path))
            copy.write_bytes(piece.text)
            absent: set[str] = set()
            with copy_named_as(copy, str(path), lines_before=piece.lines_before, quiet=number > 0):
                frame, data, summary = score_file(detector, copy, absent_columns=absent if keys_vary else None,
                                                  **options)
            if piece.fault is not None:
                frame = _with_fault_row(frame, data, summary, piece, path, options.get("strict", False))
            if len(data.features):  # a piece of malformed records only says nothing of the columns
                never_seen = absent if never_seen is None else never_seen & absent
            _number_within_file(frame, data, summary, str(path), rows_before, piece.lines_before,
                                data.id_column is not None)
            data.report.files = [str(path)]
            _add_up(total, summary)
            yield piece, frame, data
            rows_before += data.total_rows
    # as the whole file's summary has them (value_counts): most alerts first
    total.predicted_counts = dict(sorted(total.predicted_counts.items(), key=lambda item: -item[1]))
    if never_seen:
        missing = [c for c in detector.preprocessor_.input_columns_ if c in never_seen]
        raise missing_columns_error(missing).relocated(None, path)


def _detect_in_pieces(detector: Any, path: str | Path, out: str | Path, pieces: Any, *,
                      strict: bool, format: str | None, explain: int, sink: Any, model_name: str,
                      progress: Any) -> DetectSummary:
    """:func:`detect_file` for a large flow table, piece by piece (see :func:`_scored_pieces`):
    each piece's rows are appended to ``out``, which appears, complete, once the last piece is
    written."""
    import os

    import pyarrow as pa

    total = DetectSummary(input=str(path), output=str(out))
    partial = out if str(out) == STDOUT else Path(out).with_name(f".{Path(out).stem}.partial{Path(out).suffix}")
    try:
        with TableWriter(partial) as writer:
            for piece, frame, data in _scored_pieces(detector, path, pieces, total, strict=strict, format=format):
                if explain or sink:
                    frame = _add_alerts(detector, data, frame, explain, sink, model_name, progress)
                try:
                    writer.write(frame)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    # a piece whose record ids are all text where those before were integers, or
                    # the other way round: the reader settles a mix within a piece, not across
                    first = piece.lines_before + piece.header_lines + 1
                    last = first - 1 + data.total_rows
                    where = f"lines {first}-{last}" if last > first else f"line {first}"
                    kind = "integers" if pd.api.types.is_integer_dtype(frame["id"]) else "text"
                    raise InputError(f"the record ids change kind: on {where} they are {kind}, before them not",
                                     path=path, hint="score the parts before and after apart") from None
        if partial is not out:
            os.replace(partial, out)
    finally:
        if partial is not out:
            Path(partial).unlink(missing_ok=True)
    return total


def _score_labelled_pieces(detector: Any, path: str | Path, pieces: Any, **options: Any
                           ) -> tuple[pd.DataFrame, LabelledTable, DetectSummary]:
    """:func:`score_file` of a large labelled flow table, piece by piece (see
    :func:`_scored_pieces`): the output rows, the labels (the features are not kept: a piece's are
    let go once it is scored) and the summary of the whole file, as evaluation needs them."""
    frames, labels, raw_labels, benign = [], [], [], {}
    total, report, first = DetectSummary(input=str(path), output=None), ReadReport(files=[str(path)]), None
    for _, frame, data in _scored_pieces(detector, path, pieces, total, require_labels=True, **options):
        if first is None:
            first = data
        frames.append(frame)
        if data.labels is not None:
            labels.append(data.labels)
            raw_labels.append(data.raw_labels if data.raw_labels is not None else data.labels)
        benign.update(dict.fromkeys(data.benign_labels))
        report.absorb(data.report)
    report.identifier_columns, report.label_columns = first.report.identifier_columns, first.report.label_columns
    frame = pd.concat(frames, ignore_index=True)
    truth = None
    if labels and len(labels) == len(frames):
        # one spelling per class across the pieces, as each piece (and the whole file) has it
        truth, _ = one_spelling_per_class(np.concatenate(labels))
    data = LabelledTable(features=pd.DataFrame(index=range(total.scored)), labels=truth,
                         raw_labels=None if truth is None else np.concatenate(raw_labels), ids=frame["id"].to_numpy(),
                         format=first.format, benign_labels=tuple(benign), report=report,
                         positions=np.arange(len(frame)), total_rows=len(frame), label_column=first.label_column)
    return frame, data, total


def _number_within_file(frame: pd.DataFrame, data: Any, summary: DetectSummary, path: str, rows_before: int,
                        lines_before: int, has_id: bool) -> None:
    """A piece's output rows and problems numbered as rows and lines of the whole file: record
    ids that are row numbers (every id without an id column; a malformed record's id), and the
    lines of the problems found."""
    def moved_on(value: Any) -> Any:
        if isinstance(value, (int, np.integer)):
            return value + rows_before
        if str(value).startswith("line "):  # a Zeek log's malformed record, named by its line
            return _lines_on(str(value), lines_before)
        return str(int(value) + rows_before)

    malformed = (frame["error"] != "").to_numpy()
    shift = malformed if has_id else np.ones(len(frame), bool)
    if shift.any():  # row numbers, written as text where the ids are text
        if pd.api.types.is_float_dtype(frame["id"]):
            frame["id"] = frame["id"].astype(object)  # decimal ids (no integer among them): beside text
        frame.loc[shift, "id"] = [moved_on(v) for v in frame.loc[shift, "id"]]
    if malformed.any() and lines_before:
        frame.loc[malformed, "error"] = frame.loc[malformed, "error"].map(lambda text: _lines_on(text, lines_before))
    for example in data.report.examples:
        example.path = path
        if example.row is not None:
            example.row += lines_before
    summary.examples = [str(e) for e in data.report.examples]


_LINE_NUMBERS = re.compile(r"\b(lines?) (\d+)(?:-(\d+))?")


def _lines_on(text: str, lines: int) -> str:
    """``text`` with its line numbers moved on by ``lines`` (a reason that names lines: a quote
    left open).

    >>> _lines_on("a quote opened on line 7 is not closed there, so lines 7-9 were read as one", 100)
    'a quote opened on line 107 is not closed there, so lines 107-109 were read as one'
    """
    return _LINE_NUMBERS.sub(lambda m: f"{m[1]} {int(m[2]) + lines}" + (f"-{int(m[3]) + lines}" if m[3] else ""),
                             text)


def _add_up(total: DetectSummary, piece: DetectSummary) -> None:
    for name in ("rows", "scored", "alerts", "malformed_rows"):
        setattr(total, name, getattr(total, name) + getattr(piece, name))
    for name in ("bad_values", "unseen_categories", "missing_values", "predicted_counts"):
        counts = getattr(total, name)
        for key, n in getattr(piece, name).items():
            counts[key] = counts.get(key, 0) + n
    total.examples += piece.examples[:MAX_EXAMPLES - len(total.examples)]


def scan_files(detector: Any, paths: list[str | Path], out: str | Path | None = None, *,
               limits: Any = None, recursive: bool = True, on_file: Any = None) -> dict[str, int]:
    """Scan files and folders (into subfolders when ``recursive``) with a malware model and write
    one JSON verdict line per file (to ``out``, a ``.jsonl`` file, or to stdout: None or ``-``); returns counts by
    verdict. ``on_file(record)`` is called after each line, for progress."""
    if out is not None and str(out) == STDOUT:
        out = None
    if out is not None:  # before it is opened: "w" would empty a scanned file named by mistake
        if Path(out).suffix.lower() not in JSON_LINES_SUFFIXES:
            raise ConfigError(f"scan writes JSON lines; --out must end in .jsonl (got {Path(out).name!r})",
                              hint="extract pe writes feature tables as .csv or .parquet")
        check_output(out, paths)
    if not hasattr(detector, "scan"):
        model = getattr(detector, "bundle_path_", None)
        raise ConfigError(f"{'a' if model else 'the model is a'} {detector.kind} model; scan needs a malware model",
                          path=model)
    counts: dict[str, int] = {}
    handle = open(out, "w", encoding="utf-8") if out is not None else sys.stdout
    try:
        for record in detector.scan([str(p) for p in paths], limits=limits, recursive=recursive):
            handle.write(json.dumps(record) + "\n")
            counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
            if on_file is not None:
                on_file(record)
    finally:
        if out is not None:
            handle.close()
    return counts


def _detect_log_groups(detector: Any, path: str | Path, out: str | Path | None, sink: Any = None,
                       model_name: str = "model", *, strict: bool = False,
                       format: str | None = None) -> tuple[pd.DataFrame, DetectSummary]:
    from ..logs.pipeline import detect_groups
    from .alerts import log_group_alerts

    if format is not None:
        raise ConfigError(f"--format {format} names a flow format; a logs model reads its input in the "
                          "format it was trained on", path=path)
    frame, data = detect_groups(detector, path, strict=strict)
    if sink is not None:
        sink.write(list(log_group_alerts(frame, data.lines, model=model_name,
                                                      threshold=detector.threshold_.threshold,
                                                      source=str(path)).values()))
    summary = DetectSummary(input=str(path), output=None, rows=len(frame), scored=len(frame),
                            alerts=int(frame["alert"].sum()),
                            malformed_rows=data.report.malformed_rows, malformed_fate=LOG_LINES_LEFT_OUT,
                            bad_values=data.report.bad_values, examples=[str(e) for e in data.report.examples])
    if out is not None:
        write_table(frame, out)
        summary.output = str(out)
    return frame, summary


def _add_alerts(detector: Any, data: Any, frame: pd.DataFrame, explain: int, sink: Any,
                model_name: str, progress: Any = None) -> pd.DataFrame:
    from .alerts import ecs_alert
    from .explain import explain as explain_rows

    scored = np.flatnonzero((frame["error"] == "").to_numpy())  # rows of frame that hold a record
    alert_rows = scored[frame["alert"].to_numpy()[scored] == 1]
    # the k-th scored frame row is the k-th record read
    record_index = {int(r): k for k, r in enumerate(scored)}
    explanations: dict[int, Any] = {}
    if explain and len(alert_rows):
        which = [record_index[int(r)] for r in alert_rows]
        features = detector.transform(data.features.iloc[which])
        records = data.features.iloc[which].to_dict("records")
        for row, why in zip(alert_rows, explain_rows(detector, features, records, top=explain, progress=progress)):
            explanations[int(row)] = why
        frame["explanation"] = [json.dumps(explanations[i]) if i in explanations else "" for i in range(len(frame))]
    if sink is not None:
        threshold = detector.threshold_.threshold
        alerts = []
        for row in alert_rows:
            record = data.features.iloc[record_index[int(row)]].to_dict()
            alerts.append(ecs_alert(model=model_name, kind=detector.kind, score=float(frame["score"].iat[row]),
                                    threshold=threshold, predicted=frame["predicted"].iat[row] if "predicted" in frame else None,
                                    record={**record, **_identifiers(data, record_index[int(row)])},
                                    explanation=explanations.get(int(row)), record_id=_plain_id(frame["id"].iat[row])))
        sink.write(alerts)
    return frame


def _identifiers(data: Any, k: int) -> dict[str, Any]:
    """Identifier columns (addresses, ports) are not features, but alerts need them."""
    extra = getattr(data, "identifiers", None)
    return {} if extra is None else extra.iloc[k].to_dict()


def _plain_id(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evaluate_file(detector: Any, path: str | Path, report_dir: str | Path, *, strict: bool = False,
                  format: str | None = None, label: str | None = None,
                  labels_file: str | Path | None = None, piece_bytes: int = PIECE_BYTES) -> dict[str, Any]:
    """Score labelled data, compute security metrics and write a report directory.

    ``label`` labels every record of an input that has none: each flow of packet captures (flow
    models), each sequence of a log input (log models). ``labels_file`` gives log sessions' labels
    by session id, or the labels of a folder of PE samples by sha256 or file name (malware models).
    A flow table larger than ``piece_bytes`` is read and scored piece by piece, as ``detect`` reads
    it: only the scores and labels of the whole file are kept."""
    check_writable(report_dir, directory=True)  # before the scoring, not after it
    if detector.kind == "logs":
        return _evaluate_log_groups(detector, path, report_dir, label=label, labels_file=labels_file, strict=strict,
                                    format=format)
    if detector.kind == "flows" and label is None and \
            (pieces := table_pieces(path, format or getattr(detector, "format_", None), piece_bytes)) is not None:
        frame, data, summary = _score_labelled_pieces(detector, path, pieces, strict=strict, format=format)
    else:
        frame, data, summary = score_file(detector, path, strict=strict, format=format,
                                          require_labels=True, capture_label=label, labels_file=labels_file)
    if data.labels is None:
        raise InputError("evaluation needs labelled data, and no label column was found", path=path,
                         hint="name it with --label-column")
    scored = frame[frame["error"] == ""].reset_index(drop=True)
    if scored.empty:
        raise InputError("nothing to evaluate: " + (f"none of its {summary.rows} record(s) could be read"
                                                    if summary.rows else "the file has no data rows"), path=path)
    y = data.is_malicious
    scores = scored["score"].to_numpy(dtype=np.float64)
    alert = scored["alert"].to_numpy()
    metrics: dict[str, Any] = {
        "input": str(path),
        "model": str(getattr(detector, "bundle_path_", "")),
        "threshold_rule": detector.threshold_.to_dict(),
        "binary": binary_metrics(y, scores, detector.threshold_.threshold),
        "read_report": data.report.to_dict(),
        "detect_summary": summary.to_dict(),
    }
    groups = np.where(y == 1, "malicious", "benign")
    truth = _comparable_classes(detector, data) if "predicted" in scored else None
    # class metrics compare names: labels none of which is one of the model's attack classes
    # (captures labelled 'attack') get the binary metrics and the per-label shares only
    attack_classes = set(detector.classes_) - {detector.benign_class_}
    if truth is not None and (not (y == 1).any() or set(truth[y == 1].tolist()) & attack_classes):
        groups = truth
        metrics["classes"] = class_metrics(groups, scored["predicted"].to_numpy())
    if data.raw_labels is not None:
        metrics["per_label_detection"] = group_detection(data.raw_labels, alert)
    notes = [
        f"Model {metrics['model']} scored {len(scored)} rows of {path}.",
        f"Threshold {detector.threshold_.threshold:.4g} was chosen in training by rule "
        f"'{detector.threshold_.rule}' on a validation split carved from the training data "
        f"(validation false-positive rate {detector.threshold_.validation_fpr:.4f}); "
        "it was not tuned on this data.",
    ]
    if summary.malformed_rows:
        notes.append(f"{summary.malformed_rows} malformed row(s) could not be scored and are excluded.")
    write_report(report_dir, title="deepsentry evaluation", metrics=metrics, y=y, scores=scores,
                 threshold=detector.threshold_.threshold, score_groups=np.asarray(groups), notes=notes)
    return metrics


def _evaluate_log_groups(detector: Any, path: str | Path, report_dir: str | Path, *, label: str | None,
                         labels_file: str | Path | None, strict: bool = False,
                         format: str | None = None) -> dict[str, Any]:
    """:func:`evaluate_file` for a log model: one scored row per session, window or sequence."""
    from ..logs.pipeline import sequence_label, session_labels

    frame, summary = _detect_log_groups(detector, path, None, strict=strict, format=format)
    if labels_file is not None:
        y = session_labels(labels_file, [str(i) for i in frame["id"]])
    elif label is not None:
        y = np.full(len(frame), sequence_label(label), dtype=np.int8)
    elif "label" in frame:
        y = frame["label"].to_numpy(dtype=np.int8)
    else:
        raise InputError("evaluation needs labelled sessions, and this input has no labels", path=path,
                         hint="a sequence CSV with a Label column, --labels FILE (session id, Label), or "
                              "--label normal|anomalous for every sequence of the input")
    scores = frame["score"].to_numpy(dtype=np.float64)
    threshold = detector.threshold_.threshold
    metrics: dict[str, Any] = {
        "input": str(path), "model": str(getattr(detector, "bundle_path_", "")),
        "threshold_rule": detector.threshold_.to_dict(),
        "binary": binary_metrics(y, scores, threshold),
        "detect_summary": summary.to_dict(),
    }
    notes = [f"Model {metrics['model']} scored {len(frame)} sessions or sequences of {path}.",
             f"Threshold {threshold:.4g} was chosen in training by rule '{detector.threshold_.rule}' on "
             "sequences carved from the training data; it was not tuned on this data."]
    write_report(report_dir, title="deepsentry evaluation", metrics=metrics, y=y, scores=scores,
                 threshold=threshold, score_groups=np.where(y == 1, "anomalous", "normal"), notes=notes)
    return metrics


def _comparable_classes(detector: Any, data: Any) -> np.ndarray:
    """True class names in the model's vocabulary: benign labels become the model's benign class,
    a class under another case its model spelling ('DDoS' for 'ddos'); for a binary model every
    attack becomes its attack class."""
    benign = {b.lower() for b in data.benign_labels}
    spelling = {str(c).casefold(): str(c) for c in detector.classes_}
    truth = np.array([detector.benign_class_ if str(v).lower() in benign else spelling.get(str(v).casefold(), str(v))
                      for v in data.labels], dtype=object)
    if not detector.multiclass_:
        truth = np.where(truth == detector.benign_class_, truth, detector.attack_class_)
    return truth


def summary_json(summary: DetectSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2, default=str)
