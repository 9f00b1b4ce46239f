"""The ``deepsentry`` command line: a thin layer over the library.

Every command maps library errors to exit codes (see :mod:`deepsentry.core.errors`): 2 bad option,
3 bad input, 4 bad model bundle, 6 missing dependency.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from . import __version__
from .core.errors import DeepSentryError, InputError
from .core.tables import STDOUT, check_writable, is_pipe

app = typer.Typer(name="deepsentry", no_args_is_help=True, add_completion=False,
                  help="Deep-learning attack detection for network flows, security logs and malware.")
train_app = typer.Typer(no_args_is_help=True, help="Train a detector and save it as a model bundle.")
app.add_typer(train_app, name="train")
extract_app = typer.Typer(no_args_is_help=True, help="Extract features from raw inputs.")
app.add_typer(extract_app, name="extract")

# No console markup: messages carry file names, values and class names from the user's data, whose
# brackets rich would otherwise take for style tags (a value '[b]x[/b]' printed as 'x')
err = Console(stderr=True, markup=False)
out = Console(markup=False)

Strict = Annotated[bool, typer.Option("--strict", help="Reject the input at the first malformed record.")]
Workers = Annotated[int, typer.Option(help="Parser worker processes (0: one per core).")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds allowed per file before it is an error.")]
MaxSize = Annotated[int, typer.Option("--max-size", help="Largest file to parse, in bytes (larger: skipped).")]
Recursive = Annotated[bool, typer.Option("--recursive/--no-recursive", help="Walk directories recursively.")]
AugmentOpt = Annotated[str, typer.Option(
    help="Oversample minority classes in the training split: none, smote, borderline-smote, adasyn, "
         "random, noise or mixup.")]
FormatOpt = Annotated[Optional[str], typer.Option("--format", help="Input format (default: detected).")]


def _version(value: bool) -> None:
    if value:
        out.print(f"deepsentry {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(_expected_retracing)
    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s",
                        handlers=[handler], force=True)


def _expected_retracing(record: logging.LogRecord) -> bool:
    """Drop TensorFlow's retracing warning: every fold or trial builds a new network, and log models
    pad small batches to powers of two, so a bounded number of compilations is expected, not a bug."""
    return not (record.name.startswith("tensorflow") and "retracing" in record.getMessage())


@train_app.command("flows")
def train_flows(
    data: Annotated[Path, typer.Option("--data", help="Training flows: a CSV/Parquet file or a directory; or packet captures (portable features; labels from sub-folders, none for an autoencoder).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model bundle directory (or .zip) to write.")],
    model: Annotated[str, typer.Option(help="hybrid (default), mlp, seed or autoencoder.")] = "hybrid",
    format: FormatOpt = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the class/label.")] = None,
    benign_label: Annotated[Optional[list[str]], typer.Option(help="Label value meaning benign (repeatable).")] = None,
    keep_column: Annotated[Optional[list[str]], typer.Option(help="Keep an identifier column as a feature.")] = None,
    target_fpr: Annotated[Optional[float], typer.Option(help="Choose the threshold for this validation false-positive rate.")] = None,
    threshold_rule: Annotated[Optional[str], typer.Option(help="target_fpr (default), max_f1 or balanced.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs (default depends on the model).")] = None,
    binary: Annotated[bool, typer.Option("--binary", help="Malicious-vs-benign only, even when the data has classes.")] = False,
    feature_set: Annotated[str, typer.Option(help="native (every column) or portable (features that packet captures have too).")] = "native",
    augment: AugmentOpt = "none",
    class_weight: Annotated[Optional[str], typer.Option(help="none, sqrt (default) or balanced.")] = None,
    ple_bins: Annotated[Optional[int], typer.Option(help="Piecewise-linear quantile encoding of numeric features with this many bins (default 0: off; 16 lifts UNSW-NB15 macro-F1, see BENCHMARKS.md).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for splits, initialisation and shuffling.")] = 0,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="Also export model.onnx for fast scoring.")] = True,
    strict: Strict = False,
) -> None:
    """Train a flow intrusion detector (NSL-KDD, UNSW-NB15, CIC-IDS2017, NetFlow or any labelled CSV)."""
    _check_out(out_dir)
    from .core.progress import RichProgress
    from .core.tabular import DetectorConfig
    from .flows import FlowDetector, ReadOptions
    from .flows.detector import read_training_flows

    options = ReadOptions(format=format, label_column=label_column, benign_labels=tuple(benign_label or ()),
                          keep_columns=tuple(keep_column or ()), strict=strict,
                          require_labels=model != "autoencoder")
    overrides = {k: v for k, v in {"target_fpr": target_fpr, "threshold_rule": threshold_rule,
                                   "epochs": epochs, "class_weight": class_weight,
                                   "ple_bins": ple_bins}.items() if v is not None}
    config = DetectorConfig(model=model, seed=seed, multiclass=not binary, augment=augment, **overrides)
    flows = read_training_flows(data, options)
    _report_read(flows.report)
    detector = FlowDetector(config).fit_flows(flows, progress=RichProgress(), source=data, feature_set=feature_set)
    _finish_training(detector, out_dir, onnx)


@train_app.command("malware")
def train_malware(
    data: Annotated[Path, typer.Option("--data", help="PE-feature table (ClaMP-style CSV/Parquet) or a folder of PE files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model bundle directory (or .zip) to write.")],
    labels: Annotated[Optional[Path], typer.Option(help="Labels file for a folder of files (sha256 or file name, label).")] = None,
    feature_set: Annotated[str, typer.Option(help="Feature set extracted from files: clamp or ember-v2.")] = "clamp",
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a feature table (default: class).")] = None,
    model: Annotated[Optional[str], typer.Option(help="mlp (default), hybrid, seed or autoencoder.")] = None,
    target_fpr: Annotated[Optional[float], typer.Option(help="Validation false-positive rate for the threshold (default 0.01).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs (default 40).")] = None,
    augment: AugmentOpt = "none",
    seed: Annotated[int, typer.Option(help="Random seed for splits, initialisation and shuffling.")] = 0,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="Also export model.onnx for fast scoring.")] = True,
    strict: Strict = False,
) -> None:
    """Train a malware detector on PE features (ClaMP CSV) or on a labelled folder of PE files."""
    _check_out(out_dir)
    from .core.progress import RichProgress
    from .malware import MalwareDetector, malware_config, read_labelled_files, read_pe_features

    config = malware_config(model=model, target_fpr=target_fpr, epochs=epochs, seed=seed, augment=augment)
    if data.is_dir():
        if labels is None:
            from .core.errors import ConfigError

            raise ConfigError("training on a folder of files needs --labels", path=data)
        table = read_labelled_files(data, labels, feature_set, strict=strict)
    else:
        table = read_pe_features(data, label_column=label_column, strict=strict, require_labels=True)
    _report_read(table.report)
    detector = MalwareDetector(config).fit_table(table, progress=RichProgress(),
                                                 source=data if data.is_file() else None)
    _finish_training(detector, out_dir, onnx)


@train_app.command("logs")
def train_logs(
    out_dir: Annotated[Path, typer.Option("--out", help="Model bundle directory (or .zip) to write.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Raw logs, plain, gzip or Windows .evtx (with --format, and --session or a window) or a labelled sequence CSV.")] = None,
    normal: Annotated[Optional[Path], typer.Option(help="Normal sequences: '<id>,<event ids>' per line.")] = None,
    abnormal: Annotated[Optional[Path], typer.Option(help="Anomalous sequences (supervised training).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Log line format: a preset (hdfs, bgl, openssh, syslog, rfc3164, json, evtx...) or '<Date> <Time> <Content>'.")] = None,
    session: Annotated[Optional[str], typer.Option(help="Regular expression of the session id in raw lines (e.g. 'blk_-?\\d+').")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="Session labels for raw logs: CSV with the session id first and a Label column.")] = None,
    window: Annotated[Optional[int], typer.Option(help="Cut raw logs (with --format, for logs without session ids) or a per-line event CSV (event_id[, label, time]) into windows of this many lines.")] = None,
    window_seconds: Annotated[Optional[float], typer.Option(help="Cut raw logs (with --format; each line's own time) or a per-line event CSV (time column) into time windows of this many seconds.")] = None,
    model: Annotated[str, typer.Option(help="auto (deeplog for normal-only data; with anomalies, the classifier or the autoencoder, whichever ranks held-out training sequences better), deeplog, classifier, or autoencoder (event-count vectors).")] = "auto",
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs (default 8; 60 for the autoencoder).")] = None,
    target_fpr: Annotated[Optional[float], typer.Option(help="Validation false-positive rate for the threshold (default 0.005).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train a log anomaly detector on event sequences (raw logs are parsed and grouped first)."""
    _check_out(out_dir)
    from dataclasses import replace

    from .logs.detector import LogConfig, LogSequenceDetector
    from .logs.pipeline import LogInput

    config = LogConfig(model=model, seed=seed)  # checked before the logs are read
    config = replace(config, **{k: v for k, v in {"epochs": epochs, "target_fpr": target_fpr}.items() if v is not None})
    training = LogInput(data=data, normal=normal, abnormal=abnormal, fmt=format, session=session, labels=labels,
                        window=window, window_seconds=window_seconds).read()
    _report_read(training.sequences.report)
    from .core.progress import RichProgress

    detector = training.fit(LogSequenceDetector(config), progress=RichProgress())
    path = detector.save(out_dir)
    s = detector.summary_
    err.print(f"trained {detector.model_} on {s.train_sequences} sequences ({s.anomalous} anomalous in all, "
              f"{s.vocabulary} event types) in {s.seconds:.1f} s; threshold {detector.threshold_.threshold:.4g} at "
              f"validation FPR {s.validation_metrics['false_positive_rate']:.4f}")
    for note in s.notes:
        err.print(Text.assemble(("note:", "yellow"), f" {note}"))
    out.print(f"model bundle written to {path}")


@extract_app.command("templates")
def extract_templates_cmd(
    input: Annotated[Path, typer.Argument(help="Raw log file (plain, gzip or .evtx), directory, or - for stdin.")],
    out_file: Annotated[Path, typer.Option("--out", help="One row per line (line, template_id, template): .csv, .jsonl or .parquet.")],
    format: Annotated[str, typer.Option("--format", help="Line format preset (evtx for Windows event logs) or format string.")],
) -> None:
    """Mine log templates (Drain-style): one row per line, and the template table beside it."""
    from .logs.pipeline import extract_templates

    result = extract_templates(input, format, out_file)
    err.print(f"{result['lines']} lines, {result['templates']} templates, {result['unmatched']} lines matched no format")
    out.print(f"templates written to {out_file} and {result['table']}")


watch_app = typer.Typer(no_args_is_help=True, help="Detect continuously on growing inputs.")
app.add_typer(watch_app, name="watch")


@watch_app.command("flows")
def watch_flows_cmd(
    model: Annotated[Path, typer.Option("--model", help="Flows model: trained with --feature-set portable for traffic, on the log's format for a flow log.")],
    alerts: Annotated[str, typer.Option("--alerts", help="Alerts as JSON lines: a file (appended), - (stdout) or an http(s) webhook.")],
    capture: Annotated[Optional[Path], typer.Argument(help="A capture file that keeps growing (portable models), or a flow log that does: Suricata eve.json, Zeek conn.log, JSON lines or CSV, for a model trained on that format.")] = None,
    interface: Annotated[Optional[str], typer.Option(help="A live network interface (needs capture rights).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Read the capture (every flow final) or the flow log once and stop.")] = False,
    max_seconds: Annotated[Optional[float], typer.Option(help="Stop after this many seconds (flows not yet ended are counted as open, not scored).")] = None,
    from_end: Annotated[bool, typer.Option("--from-end", help="A flow log: skip the records already in it (score those written from now on).")] = False,
    state: Annotated[Optional[Path], typer.Option(help="A flow log: checkpoint folder, so a restart goes on where it stopped (default with an alerts file: <alerts>.state).")] = None,
) -> None:
    """Alert on flows from a live interface or a growing capture, as flows expire, or on the records of a growing flow log."""
    from .core.errors import ConfigError
    from .detection.batch import load_detector
    from .detection.watch_flows import is_flow_log, watch_flows

    if (capture is None) == (interface is None):
        raise ConfigError("give a capture file or flow log, or --interface (one of the two)")
    detector = load_detector(model, keras_model=False)
    alerts_file = alerts != "-" and not alerts.startswith(("http://", "https://"))
    if state is None and capture is not None and not is_pipe(capture) and alerts_file and is_flow_log(detector, capture):
        state = Path(alerts).with_suffix(".state")  # restart-safe by default, as watch logs is
    if capture is not None and not once and not capture.exists() and not is_pipe(capture):  # - is refused next
        err.print(f"{capture} does not exist yet; waiting for it to appear")
    counts = watch_flows(detector, interface or str(capture), alerts=alerts, interface=interface is not None,
                         once=once, model_name=model.name, max_seconds=max_seconds, from_end=from_end,
                         state_dir=state)
    err.print(", ".join(f"{k} {v}" for k, v in counts.items()))


@watch_app.command("logs")
def watch_logs(
    input: Annotated[Path, typer.Argument(help="Log file to follow (rotation and truncation are handled), or a Windows .evtx (followed by EventRecordID).")],
    model: Annotated[Path, typer.Option("--model", help="Logs model trained on raw logs (--format, and --session or a window).")],
    alerts: Annotated[Path, typer.Option("--alerts", help="Alerts as JSON lines, appended to this file (written with the checkpoints, so none is lost or repeated on restart).")],
    state: Annotated[Optional[Path], typer.Option(help="Checkpoint directory (default: <alerts>.state).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Stop at the end of the input (closing every session; a last line without newline is read).")] = False,
    idle_lines: Annotated[int, typer.Option(help="Close a session after this many lines without it.")] = 2000,
    idle_seconds: Annotated[float, typer.Option(help="When following: close a session after this much silence.")] = 30.0,
) -> None:
    """Follow a log file and alert on anomalous sessions; restart-safe (no alert lost or repeated)."""
    from .detection.batch import load_detector
    from .detection.watch_logs import watch_log

    detector = load_detector(model)
    if not once and not input.exists() and not is_pipe(input):
        err.print(f"{input} does not exist yet; waiting for it to appear")
    counts = watch_log(detector, input, alerts=alerts, state_dir=state or alerts.with_suffix(".state"),
                       once=once, idle_lines=idle_lines, idle_seconds=idle_seconds, model_name=model.name)
    err.print(", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to scan.")],
    model: Annotated[Path, typer.Option("--model", help="Malware model bundle.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Verdicts as JSON lines: a .jsonl file, or - (stdout, the default).")] = None,
    workers: Workers = 0,
    timeout: Timeout = 10.0,
    max_size: MaxSize = 64 * 1024 * 1024,
    recursive: Recursive = True,
) -> None:
    """Scan files with a malware model: one JSON line per file (malicious, benign, skipped or error)."""
    from .core.progress import RichProgress
    from .core.tables import check_output
    from .detection.batch import load_detector, scan_files
    from .malware import ScanLimits

    if out_file is not None:
        check_output(out_file, paths, stdout=True)  # before the model loads; scan_files checks the suffix and again
    detector = load_detector(model, keras_model=False)
    limits = ScanLimits(timeout_s=timeout, max_bytes=max_size, workers=workers)
    progress = RichProgress()
    progress.start("scanning", None)
    try:
        counts = scan_files(detector, paths, out_file, limits=limits, recursive=recursive,
                            on_file=lambda _: progress.advance())
    finally:
        progress.finish()
    err.print(f"{sum(counts.values())} files" + "".join(f", {k} {v}" for k, v in sorted(counts.items())))
    if out_file is not None and str(out_file) != STDOUT:
        out.print(f"verdicts written to {out_file}")


@extract_app.command("flows")
def extract_flows_cmd(
    paths: Annotated[list[Path], typer.Argument(help="pcap/pcapng captures, folders of them, or - for stdin (tcpdump -w -).")],
    out_file: Annotated[Path, typer.Option("--out", help="Flows: .csv, .parquet or .jsonl.")],
) -> None:
    """Turn packet captures into bidirectional flows (5-tuple, times, packets, bytes, portable features)."""
    from .core.progress import RichProgress
    from .core.tables import check_output, write_table
    from .flows.capture import extract_flows
    from .flows.zeek import looks_like_zeek

    check_output(out_file, paths, table=True)
    for path in paths:
        if path.is_file() and looks_like_zeek(path):
            raise InputError("a Zeek log holds flows already; extract flows reads packet captures", path=path,
                             hint="train, detect and evaluate read Zeek conn.log files as they are")
    flows = extract_flows(paths, progress=RichProgress())
    _report_read(flows.report)
    write_table(flows.table, out_file)
    err.print(f"{len(flows.table)} flows from {len(flows.report.files)} capture(s); {flows.packets} packets, "
              f"{flows.skipped_packets} of them without an IP flow (ARP, fragments, ...) skipped")
    out.print(f"flows written to {out_file}")


@extract_app.command("pe")
def extract_pe(
    paths: Annotated[list[Path], typer.Argument(help="PE files and folders.")],
    out_file: Annotated[Path, typer.Option("--out", help="Features: .csv, .parquet, or .jsonl (raw features).")],
    feature_set: Annotated[str, typer.Option(help="clamp or ember-v2.")] = "clamp",
    workers: Workers = 0,
    timeout: Timeout = 10.0,
    max_size: MaxSize = 64 * 1024 * 1024,
    recursive: Recursive = True,
) -> None:
    """Extract static PE features, one row per file (non-PE files: status skipped)."""
    from .core.progress import RichProgress
    from .malware import ScanLimits
    from .malware.scan import extract_to_file

    progress = RichProgress()
    progress.start(f"extracting {feature_set}", None)
    try:
        counts = extract_to_file([str(p) for p in paths], feature_set, out_file, recursive=recursive,
                                 limits=ScanLimits(timeout_s=timeout, max_bytes=max_size, workers=workers),
                                 on_file=lambda _: progress.advance())
    finally:
        progress.finish()
    err.print(", ".join(f"{k} {v}" for k, v in counts.items()))
    out.print(f"features written to {out_file}")


DomainOpt = Annotated[str, typer.Option(help="flows (default), malware (PE-feature tables) or logs (event sequences).")]
ExperimentDataOpt = Annotated[Optional[Path], typer.Option("--data", help="Labelled training data: flows (a table, or "
                              "captures in sub-folders named by label), a PE-feature table, or (--domain logs) a "
                              "labelled sequence CSV, raw logs or per-line events.")]
ExperimentFormatOpt = Annotated[Optional[str], typer.Option("--format", help="Input format (default: detected); "
                                                             "logs: the line format of raw logs.")]
NormalOpt = Annotated[Optional[Path], typer.Option("--normal", help="Logs: normal sequences, '<id>,<event ids>' per line.")]
AbnormalOpt = Annotated[Optional[Path], typer.Option("--abnormal", help="Logs: anomalous sequences, same layout.")]
SessionOpt = Annotated[Optional[str], typer.Option("--session", help="Logs: regular expression of the session id in raw lines.")]
LabelsOpt = Annotated[Optional[Path], typer.Option("--labels", help="Logs: session labels for raw logs (id first, a Label column); malware: the labels file of a folder of samples (sha256 or file name, label).")]
WindowOpt = Annotated[Optional[int], typer.Option("--window", help="Logs: raw lines (with --format) or per-line events cut into windows of this many lines.")]
WindowSecondsOpt = Annotated[Optional[float], typer.Option("--window-seconds", help="Logs: raw lines (with --format) or per-line events cut into time windows of this many seconds.")]
GroupOpt = Annotated[Optional[str], typer.Option(help="Grouped folds: rows sharing this column's value stay together.")]
TimeOpt = Annotated[Optional[str], typer.Option(help="Time-ordered (forward-chaining) folds by this column "
                                                "(logs: 'order', the order of the input).")]
NovelOpt = Annotated[bool, typer.Option("--novel-attacks", help="Leave-attack-types-out folds: each test fold's "
                                        "attack types (labels as written) are absent from its training folds.")]


def _log_input(domain: str, **options: Any) -> Any:
    """The log-reading options as a LogInput (None when none is given); an error outside logs."""
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return None
    if domain != "logs":
        from .core.errors import ConfigError

        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{names} read log sequences", hint="add --domain logs")
    from .logs.pipeline import LogInput

    return LogInput(**given)


def _experiment(data: Optional[Path], domain: str, log_options: dict[str, Any], *,
                benign_label: Optional[list[str]], group_column: Optional[str], time_column: Optional[str],
                **options: Any) -> Any:
    """Load the labelled training data of ``cv`` and ``tune`` (reporting what reading skipped);
    the group and time columns are read for the splitter even where they look like identifiers."""
    from .evaluation.experiment import load_experiment

    if domain == "malware":  # --labels labels a folder of samples there, as in train malware
        options["labels_file"] = log_options.pop("labels", None)
    exp = load_experiment(data, domain=domain, log_input=_log_input(domain, **log_options),
                          benign_labels=tuple(benign_label or ()),
                          keep_columns=tuple(c for c in (group_column, time_column) if c), **options)
    # what reading skipped, as train says it (malformed rows, files without a label, ...)
    _report_read(exp.log_data.sequences.report if exp.log_data is not None else exp.data.report)
    return exp


@app.command()
def cv(
    report: Annotated[Path, typer.Option("--report", help="Directory for metrics.json, plots and report.html.")],
    data: ExperimentDataOpt = None,
    model: Annotated[Optional[str], typer.Option(help="Model architecture (default: the domain's default).")] = None,
    folds: Annotated[int, typer.Option(help="Number of folds.")] = 5,
    domain: DomainOpt = "flows",
    group_column: GroupOpt = None,
    time_column: TimeOpt = None,
    novel_attacks: NovelOpt = False,
    augment: AugmentOpt = "none",
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs per fold.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the class/label.")] = None,
    benign_label: Annotated[Optional[list[str]], typer.Option(help="Label value meaning benign (repeatable).")] = None,
    format: ExperimentFormatOpt = None,
    normal: NormalOpt = None,
    abnormal: AbnormalOpt = None,
    session: SessionOpt = None,
    labels: LabelsOpt = None,
    window: WindowOpt = None,
    window_seconds: WindowSecondsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for folds, initialisation and shuffling.")] = 0,
) -> None:
    """Cross-validate a detector: per-fold metrics, mean and standard deviation, report.html."""
    from .core.progress import RichProgress
    from .evaluation.cv import cross_validate, write_cv_report
    from .evaluation.experiment import check_split_options

    check_writable(report, directory=True)
    check_split_options(folds=folds, group_column=group_column, time_column=time_column, novel=novel_attacks)
    exp = _experiment(data, domain, dict(normal=normal, abnormal=abnormal, session=session, labels=labels,
                                         window=window, window_seconds=window_seconds),
                      model=model, epochs=epochs, augment=augment, seed=seed, label_column=label_column,
                      benign_label=benign_label, format=format, group_column=group_column, time_column=time_column)
    plan = exp.splits(folds=folds, group_column=group_column, time_column=time_column, seed=seed,
                      novel=novel_attacks)
    result = cross_validate(plan, exp.make_detector, benign_labels=exp.benign_labels, progress=RichProgress())
    comparison = None
    if augment != "none":  # the same folds without augmentation, for the per-class comparison
        import dataclasses

        from .evaluation.cv import compare_summaries

        plain = dataclasses.replace(exp.base, augment="none")
        baseline = cross_validate(plan, lambda s: exp.make_detector(s, plain),
                                  benign_labels=exp.benign_labels, progress=RichProgress())
        comparison = compare_summaries(baseline, result)
    write_cv_report(result, report, record=exp.record(), comparison=comparison, notes=exp.notes)
    table = Table(title=f"{folds}-fold {plan.config.strategy} CV on {len(plan.y)} rows "
                        f"({plan.duplicates_removed} duplicates removed first)")
    table.add_column("metric")
    table.add_column("mean ± std", justify="right")
    if comparison:
        table.add_column("without augmentation", justify="right")
    for key, value in result["summary"].items():
        cells = [key, f"{value['mean']:.4f} ± {value['std']:.4f}"]
        if comparison:
            cells.append(f"{comparison[key]['without']:.4f}" if key in comparison else "")
        table.add_row(*cells)
    out.print(table)
    out.print(f"report written to {report / 'report.html'}")


@app.command()
def tune(
    space: Annotated[Path, typer.Option("--space", help="Search space YAML.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Bundle of the best configuration, retrained on all the data.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Labelled training data (never a test set); "
                                                 "for logs also --normal/--abnormal.")] = None,
    strategy: Annotated[str, typer.Option(help="grid, random or tpe (optuna).")] = "random",
    trials: Annotated[int, typer.Option(help="Number of trials (grid: at most the grid size).")] = 20,
    folds: Annotated[int, typer.Option(help="Validation folds per trial.")] = 3,
    outer_folds: Annotated[int, typer.Option(help="Nested CV: outer folds estimating the tuned model (0: off).")] = 0,
    metric: Annotated[str, typer.Option(help="Objective: pr_auc, roc_auc, macro_f1, f1, detection_rate_at_1pct_fpr, accuracy, balanced_accuracy.")] = "pr_auc",
    jobs: Annotated[int, typer.Option(help="Trials run in parallel processes.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search journal in <out>.search/.")] = False,
    domain: DomainOpt = "flows",
    model: Annotated[Optional[str], typer.Option(help="Base architecture (a space entry overrides it).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Base training epochs (a space entry overrides it).")] = None,
    group_column: GroupOpt = None,
    time_column: TimeOpt = None,
    novel_attacks: NovelOpt = False,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the class/label.")] = None,
    benign_label: Annotated[Optional[list[str]], typer.Option(help="Label value meaning benign (repeatable).")] = None,
    format: ExperimentFormatOpt = None,
    normal: NormalOpt = None,
    abnormal: AbnormalOpt = None,
    session: SessionOpt = None,
    labels: LabelsOpt = None,
    window: WindowOpt = None,
    window_seconds: WindowSecondsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for folds, trials and training.")] = 0,
) -> None:
    """Search hyperparameters by cross-validation on the training data; save the best as a bundle."""
    _check_out(out_dir)
    from .core.progress import RichProgress
    from .evaluation.experiment import check_split_options, config_class, run_tuning, search_journal
    from .evaluation.tuning import SearchConfig, load_space, refuse_existing_journal

    params = load_space(space, config_class(domain))
    search = SearchConfig(strategy=strategy, trials=trials, metric=metric, seed=seed, jobs=jobs)
    check_split_options(folds=folds, outer_folds=outer_folds, group_column=group_column, time_column=time_column,
                        novel=novel_attacks)
    if not resume:  # before minutes of reading, not after
        refuse_existing_journal(search_journal(out_dir))
    exp = _experiment(data, domain, dict(normal=normal, abnormal=abnormal, session=session, labels=labels,
                                         window=window, window_seconds=window_seconds),
                      model=model, epochs=epochs, seed=seed, label_column=label_column,
                      benign_label=benign_label, format=format, group_column=group_column, time_column=time_column)
    outcome = run_tuning(exp, params, search, out_dir, folds=folds, outer_folds=outer_folds,
                         group_column=group_column, time_column=time_column, novel=novel_attacks,
                         resume=resume, progress=RichProgress())
    best = outcome["leaderboard"][0]
    out.print(f"best trial {best['trial']}: {metric} {best['score']:.4f} ± {best.get('std', 0):.4f} "
              f"with {json.dumps(best['params'])}")
    if outcome.get("nested"):
        n = outcome["nested"]
        out.print(f"nested CV estimate of the tuned model: {metric} {n['mean']:.4f} ± {n['std']:.4f}")
    out.print(f"leaderboard: {outcome['journal'] / 'leaderboard.csv'}; best model bundle: {out_dir}")


@app.command()
def detect(
    input: Annotated[Path, typer.Argument(help="Records to score: a CSV/Parquet file, a capture, logs, a directory, or - for stdin.")],
    model: Annotated[Path, typer.Option("--model", help="Model bundle directory or zip.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Predictions: .csv, .jsonl or .parquet, or - (CSV on stdout, the default).")] = None,
    format: FormatOpt = None,
    strict: Strict = False,
    keras_only: Annotated[bool, typer.Option("--keras", help="Score with Keras even when model.onnx exists.")] = False,
    explain: Annotated[int, typer.Option("--explain", help="Add the K fields that pushed each alert most (integrated gradients).")] = 0,
    alerts: Annotated[Optional[str], typer.Option("--alerts", help="Also write ECS alerts (JSON lines) to a file, - (stdout) or an http(s) webhook.")] = None,
) -> None:
    """Score records with a trained model: one output row per input record, in input order."""
    from .core.progress import RichProgress
    from .detection.batch import detect_file, load_detector

    # Keras (and TensorFlow: 0.6 GB, seconds to import) only when asked for or without model.onnx
    detector = load_detector(model, onnx=not keras_only, keras_model=keras_only)
    to_stdout = out_file is None or str(out_file) == STDOUT
    frame, summary = detect_file(detector, input, STDOUT if to_stdout else out_file, strict=strict, format=format,
                                 explain=explain, alerts=alerts, model_name=model.name, progress=RichProgress())
    _report_problems(summary)
    err.print(f"{summary.scored} records scored, {summary.alerts} alerts"
              + (f" ({', '.join(f'{k}: {v}' for k, v in summary.predicted_counts.items())})"
                 if summary.predicted_counts else ""))
    if summary.alert_delivery_problem:
        err.print(Text.assemble(("warning:", "yellow"), f" {summary.alert_delivery_problem}"))
    if not to_stdout:  # beside alerts on stdout, on stderr: a line of text would break their JSON lines
        (err if alerts == STDOUT else out).print(f"predictions written to {out_file}")


@app.command()
def serve(
    model: Annotated[list[str], typer.Option("--model", help="Model bundle, as PATH or NAME=PATH (repeatable).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token_file: Annotated[Path, typer.Option(help="Bearer token file (created 0600 on first start).")] = Path("~/.config/deepsentry/token"),
    no_auth: Annotated[bool, typer.Option("--no-auth", help="No token (refused beyond loopback).")] = False,
    alerts: Annotated[Optional[str], typer.Option("--alerts", help="Also write ECS alerts to a file, - or an http(s) webhook.")] = None,
    explain: Annotated[int, typer.Option(help="Explain every alert with its top K fields.")] = 0,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body (413 above).")] = 32 * 1024 * 1024,
) -> None:
    """Serve models over HTTP: detect, scan, metrics and a live alerts page at /."""
    from .service.app import ServiceConfig, model_paths, serve as run_service
    from .service.auth import load_or_create_token

    paths = model_paths(model)
    token = None if no_auth else load_or_create_token(token_file)
    config = ServiceConfig(models=paths, token=token, alert_sink=alerts, explain=explain,
                           max_body_bytes=max_body_bytes)
    auth = "(no token)" if token is None else f"(token in {token_file.expanduser()})"
    run_service(config, host=host, port=port,
                announce=lambda url: err.print(f"serving {', '.join(paths)} on {url} {auth}"))


@app.command()
def evaluate(
    input: Annotated[Path, typer.Argument(help="Labelled records to evaluate on (a file, a directory, or - for stdin).")],
    model: Annotated[Path, typer.Option("--model", help="Model bundle directory or zip.")],
    report: Annotated[Path, typer.Option("--report", help="Directory for metrics.json, plots and report.html.")],
    format: FormatOpt = None,
    strict: Strict = False,
    label: Annotated[Optional[str], typer.Option(
        "--label", help="Label of every record of an input that has none: packet captures' flows (e.g. attack, "
                        "benign; without it a folder's captures take their sub-folder's name) or log "
                        "sequences (normal, anomalous).")] = None,
    labels: Annotated[Optional[Path], typer.Option(
        "--labels", help="Log models: session labels (session id, Label), e.g. HDFS's block labels; malware "
                          "models: labels of a folder of samples (sha256 or file name, label).")] = None,
) -> None:
    """Evaluate a model on labelled data: metrics.json, ROC/PR/confusion plots and report.html."""
    from .detection.batch import evaluate_file, load_detector

    detector = load_detector(model, keras_model=False)  # ONNX Runtime scores, where the bundle has model.onnx
    metrics = evaluate_file(detector, input, report, strict=strict, format=format, label=label, labels_file=labels)
    table = Table(title=f"{input.name}: {metrics['binary']['rows']} rows")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("accuracy", "precision", "recall", "f1", "false_positive_rate", "roc_auc", "pr_auc",
                "detection_rate_at_1pct_fpr", "detection_rate_at_0.1pct_fpr"):
        value = metrics["binary"].get(key)
        table.add_row(key, "n/a" if value is None else f"{value:.4f}")
    if "classes" in metrics:
        table.add_row("macro_f1 (classes)", f"{metrics['classes']['macro_f1']:.4f}")
        for name, value in metrics["classes"]["per_class_recall"].items():
            table.add_row(f"recall {name}", f"{value:.4f}")
    out.print(table)
    out.print(f"report written to {report / 'report.html'}")


@app.command()
def export(
    model: Annotated[Path, typer.Option("--model", help="Model bundle directory.")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
) -> None:
    """Export a bundle's network (writes model.onnx into the bundle)."""
    from .core.errors import ConfigError
    from .core.onnx import export_onnx
    from .detection.batch import load_detector

    if format != "onnx":
        raise ConfigError(f"unknown export format {format!r}", hint="supported: onnx")
    detector = load_detector(model, onnx=False)
    path = export_onnx(detector, model)
    out.print(f"wrote {path}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write captures, model and report.")] = Path("demo-output"),
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs (default: the model default).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated network and the training.")] = 0,
    nsl_kdd: Annotated[bool, typer.Option("--nsl-kdd", help="Instead: train on KDDTrain+ and evaluate on KDDTest+ (from DEEPSENTRY_DATA).")] = False,
) -> None:
    """Generate a small network with injected attacks, learn its normal day, detect the attack day."""
    if nsl_kdd:
        from .core.settings import ENV_DATA, data_dir

        root = data_dir() / "network" / "nsl-kdd"
        train, test = root / "KDDTrain+.txt", root / "KDDTest+.txt"
        if not (train.is_file() and test.is_file()):
            out.print(f"NSL-KDD not found under {root}: download KDDTrain+.txt and KDDTest+.txt from the "
                      f"University of New Brunswick (https://www.unb.ca/cic/datasets/nsl.html) into "
                      f"<dir>/network/nsl-kdd/ and set {ENV_DATA}=<dir>.")
            return
        model_dir = out_dir / "model"
        train_flows(data=train, out_dir=model_dir, epochs=epochs, seed=seed)
        evaluate(input=test, model=model_dir, report=out_dir / "report")
        return
    from .core.progress import RichProgress
    from .detection.demo import run_network_demo

    summary = run_network_demo(out_dir, seed=seed, epochs=epochs, progress=RichProgress(),
                               say=lambda text: err.print(text))
    table = Table(title=f"attack day: {summary['flows']} flows; alerts by attacker and attack")
    for column in ("attacker", "attack", "target", "flows", "alerted", "detected"):
        table.add_column(column, justify="right" if column in ("flows", "alerted") else "left")
    for row in summary["per_attack"]:
        table.add_row(row["attacker"], row["attack"], row["target"], str(row["flows"]), str(row["alerted"]),
                      "yes" if row["detected"] else "NO")
    out.print(table)
    out.print(f"benign flows alerted: {summary['benign_alert_rate']:.2%}; report: {summary['report']}")


# -- helpers ---------------------------------------------------------------------------------------
def _check_out(out_dir: Path) -> None:
    from .core.bundle import check_bundle_target

    check_bundle_target(out_dir)


def _finish_training(detector, out_dir: Path, onnx: bool) -> None:
    """Save the bundle (and model.onnx), then print what training did."""
    config = detector.config
    path = detector.save(out_dir)
    if onnx and path.is_dir():
        try:
            from .core.onnx import export_onnx

            export_onnx(detector, path)
        except DeepSentryError as exc:
            err.print(Text.assemble(("note:", "yellow"), f" model.onnx not written ({exc})"))
    s = detector.summary_
    v = s.validation_metrics
    err.print(f"trained {config.model} on {s.train_rows} rows ({s.duplicates_removed} duplicates, "
              f"{s.conflicting_duplicates} conflicting duplicates{' removed' if config.drop_conflicts else ' kept'}) "
              f"in {s.seconds:.1f} s; classes: {', '.join(detector.classes_)}")
    err.print(f"threshold {detector.threshold_.threshold:.4g} ({detector.threshold_.rule}, on {s.validation_rows} "
              f"validation rows carved from the training data): detection rate {_rate(v.get('detection_rate'))}, "
              f"false-positive rate {_rate(v.get('false_positive_rate'))}")
    out.print(f"model bundle written to {path}")


def _rate(value: float | None) -> str:
    """A rate to four decimals; ``n/a`` where the validation rows had none of its class."""
    return "n/a" if value is None or value != value else f"{value:.4f}"


def _problems(malformed: int, what: str, bad_values: dict[str, int]) -> str:
    """One line: the malformed records, then the other problems by key. Table readers count
    non-numeric values (read as missing) by column; log and sample readers count problems by kind
    (binary lines, no session id, files without a label, ...)."""
    parts = [f"{malformed} malformed {what}"] if malformed else []
    if bad_values:
        counts = ", ".join(f"{key} {count}" for key, count in bad_values.items())
        parts.append(f"{'other problems' if malformed else 'problems'}: {counts}")
    return "; ".join(parts)


def _report_read(report) -> None:
    if report.problems:
        err.print(_problems(report.malformed_rows, "row(s) skipped", report.bad_values), style="yellow")
        for example in report.examples[:5]:
            err.print(f"  {example}")


def _report_problems(summary) -> None:
    if summary.malformed_rows or summary.bad_values:
        err.print(_problems(summary.malformed_rows, summary.malformed_fate, summary.bad_values), style="yellow")
        for example in summary.examples[:5]:
            err.print(f"  {example}")
    if summary.unseen_categories:
        err.print("categories not seen in training (scored as 'unknown'): "
                  + json.dumps(summary.unseen_categories))


INTERRUPTED = 130  # the exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting, so tests can call it in-process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        app(args=argv, prog_name="deepsentry", standalone_mode=True)
    except SystemExit as exc:  # typer/click end every run this way, usage errors included
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
            err.print("interrupted")
        return code
    except DeepSentryError as exc:
        return _print_error(exc)
    except OSError as exc:  # what the checks before the work could not foresee (a full disk, a race)
        return _print_error(InputError(exc.strerror or str(exc), path=exc.filename))
    except UnicodeEncodeError as exc:
        if "surrogates" not in str(exc):
            raise
        # a file name that is not UTF-8 reached a library that needs UTF-8 names (pyarrow)
        return _print_error(InputError("this file name is not UTF-8 text, and tables are read and written through "
                                       "pyarrow, which needs UTF-8 names", path=str(exc.object), hint="rename the file"))
    except KeyboardInterrupt:  # outside typer's own handling (between commands)
        err.print("interrupted")
        return INTERRUPTED
    return 0


def _print_error(problem: DeepSentryError) -> int:
    """Print ``deepsentry: error: <problem>`` on stderr; returns its exit code."""
    err.print(Text.assemble(("deepsentry: error:", "red"), f" {problem}"), highlight=False, soft_wrap=True)
    return problem.exit_code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
