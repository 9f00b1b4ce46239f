"""Streaming flow detection: a live interface, a capture file that keeps growing, or a flow log
that keeps growing (Suricata's eve.json, a Zeek conn.log, a CICFlowMeter CSV in real-time mode).

A live interface is read by nfstream, which hands over each flow when it expires (idle 120 s,
active 1800 s), so memory is bounded by the flows in progress; flows are scored in small batches and
alerts appended as JSON lines. A growing capture file is read from where the last read stopped
(:class:`~deepsentry.flows.packets.CaptureTail`) and metered as it grows
(:class:`~deepsentry.flows.meter.FlowMeter`): a flow is scored once, when it is final (its last
packet an idle timeout behind the capture's clock, or its first an active timeout), and memory
holds the packets of open flows only.

A flow log is read as ``detect`` reads a large table in pieces (:func:`flows.readers.follow_pieces`):
each look at the file takes its new complete lines, scores them with the model's own reader (the
same events left out, the same identifiers, missing values and malformed records) and appends the
alerts; memory holds one look's lines.

>>> watch_flows(detector, "capture.pcap", alerts="alerts.jsonl", once=True)   # doctest: +SKIP
{'flows': 1994, 'alerts': 1994}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from ..core.base import validate_range
from ..core.errors import ConfigError, DependencyError, InputError
from ..core.durable import drop_partial_line, write_json_atomic
from ..core.locks import exclusive_use
from ..core.tables import check_writable, refuse_stream
from ..flows.capture import (ACTIVE_TIMEOUT_S, IDENTITY, IDLE_TIMEOUT_S, NFSTREAM_COLUMNS, flow_streamer, flow_table,
                             is_capture)
from ..flows.meter import FlowMeter
from ..flows.packets import CaptureFormatError, CaptureTail, decode_packets
from ..flows.portable import PORTABLE_FEATURES
from ..flows.readers import FollowPoint, follow_pieces
from .alerts import AlertSink, alert_ids_after, ecs_alert


def _alerts_for(detector: Any, table: pd.DataFrame, features: pd.DataFrame, model_name: str) -> list[dict]:
    out = detector.score_features(detector.transform(features))
    alerts = []
    for row in np.flatnonzero(out["alert"]):
        record = table.iloc[row][IDENTITY].to_dict()
        alerts.append(ecs_alert(model=model_name, kind="flows", score=float(out["score"][row]),
                                threshold=detector.threshold_.threshold,
                                predicted=str(out["predicted"][row]) if "predicted" in out else None,
                                record=record))
    return alerts


def watch_flows(detector: Any, source: str, *, alerts: str | Path, interface: bool = False, once: bool = False,
                poll_s: float = 2.0, batch: int = 64, model_name: str = "flows",
                max_seconds: float | None = None, from_end: bool = False,
                state_dir: str | Path | None = None) -> dict[str, int]:
    """Alerts (JSON lines appended to the file ``alerts``, or to ``-`` or an http(s) webhook) on
    flows as they end, from a growing capture file (read from where the last read stopped) or, with
    ``interface=True``, a live interface; or on the records of a growing flow log (a file that is
    no capture, or, while it does not exist yet, any file for a model not trained on the portable
    features), which ``from_end`` reads from its end, restart-safe with ``state_dir`` (see
    :func:`watch_flow_log`).
    ``max_seconds`` stops it after that long (on a file at the next poll; on an interface at once,
    quiet or not: flows still in nfstream's cache are not scored). Returns the counts of flows
    scored and alerts written, and for a capture the records it could not read (a corrupt record
    ends the reading of a file) and, when stopped by ``max_seconds``, the flows still open (not
    scored); for a flow log its malformed records (or events that are no flows)."""
    validate_range("poll_s", poll_s, 0, low_open=True)
    validate_range("batch", batch, 1)
    if max_seconds is not None:
        validate_range("max_seconds", max_seconds, 0)
    portable = getattr(detector, "feature_set_", "native") == "portable"
    if not interface:
        refuse_stream(source, "follow")
        if is_flow_log(detector, source):
            return watch_flow_log(detector, source, alerts=alerts, once=once, poll_s=poll_s, model_name=model_name,
                                  max_seconds=max_seconds, from_end=from_end, state_dir=state_dir)
    if state_dir is not None:
        raise ConfigError("a checkpoint folder applies to flow logs; traffic is metered from its first packet")
    if not portable:
        raise ConfigError("watching traffic needs a model trained with --feature-set portable",
                          hint="a model trained on a flow log (eve.json, conn.log, a flow CSV) watches such a log")
    if from_end:
        raise ConfigError("--from-end applies to flow logs; a capture is metered from its first packet")
    sink = AlertSink(alerts, inputs=[] if interface else [source])  # a file (checked now), - or a webhook
    counts = {"flows": 0, "alerts": 0}
    if interface:
        return _watch_interface(detector, source, sink, batch, model_name, counts, max_seconds)
    path = Path(source)
    if once and not path.exists():
        raise InputError("no such file", path=path, hint="without --once, watch waits for it to appear")
    tail = CaptureTail(path)
    meter = FlowMeter(IDLE_TIMEOUT_S * 1000, ACTIVE_TIMEOUT_S * 1000)
    started = time.monotonic()
    while True:
        try:
            raw = tail.read()
        except CaptureFormatError as exc:
            raise InputError(str(exc), path=path) from None
        finals = []
        while raw is not None:  # a large file is taken a chunk at a time
            finals.append(meter.add(decode_packets(raw), raw.time_ms))  # a large read may meter at once
            raw = tail.read()
        finals.append(meter.finished())
        stop = once or (max_seconds is not None and time.monotonic() - started >= max_seconds)
        if once:
            finals.append(meter.flush())  # the capture is complete: every flow is final
        for flows in finals:
            if len(flows):
                table = flow_table(flows)
                features = table[list(PORTABLE_FEATURES)]
                alerts_batch = _alerts_for(detector, table, features, model_name)
                sink.write(alerts_batch)
                counts["flows"] += len(table)
                counts["alerts"] += len(alerts_batch)
        if stop:
            counts["unreadable"] = len(tail.problems)
            if not once:  # stopped by --max-seconds: these flows have not ended, so were not scored
                counts["open"] = meter.open_flows
            return _with_delivery(counts, sink)
        time.sleep(poll_s)


STATE_FILE = "watch-flows-state.json"
STATE_VERSION = 1


class _NewAlerts:
    """An alert sink that passes on only alerts whose record id is not in ``written`` (those a
    watcher wrote after its last checkpoint, before it was stopped)."""

    def __init__(self, sink: AlertSink, written: set[Any]) -> None:
        self.sink, self.written, self.repeats = sink, written, 0

    def write(self, alerts: list[dict[str, Any]]) -> None:
        new = [a for a in alerts if a["deepsentry"].get("record_id") not in self.written]
        self.repeats += len(alerts) - len(new)
        self.sink.write(new)


def is_flow_log(detector: Any, source: str | Path) -> bool:
    """Whether ``watch_flows`` follows ``source`` as a flow log: a file that is no capture, or, while
    it does not exist yet, any file for a model not trained on the portable (capture) features."""
    portable = getattr(detector, "feature_set_", "native") == "portable"
    return not is_capture(source) and (Path(source).exists() or not portable)


def watch_flow_log(detector: Any, source: str | Path, *, alerts: str | Path, once: bool = False, poll_s: float = 2.0,
                   model_name: str = "flows", max_seconds: float | None = None, from_end: bool = False,
                   state_dir: str | Path | None = None) -> dict[str, int]:
    """Alerts on the records of a flow log as it grows (see the module's docstring): scored as
    ``detect`` scores the same lines, each alert with its record's endpoints and id. Returns the
    counts of flows scored, alerts written and, when there were any, records not scored
    (malformed, or events that are no flows).

    With ``state_dir``, a checkpoint (where in which file, the record count, the size of the
    alerts file) is written after each look's alerts are on disk; a restart goes on from it (also
    into the file the log was rotated to meanwhile), and alerts written after the checkpoint but
    before the stop are not written again: no record lost or alerted twice (``--from-end`` then
    applies only when there is no checkpoint yet). Restarts repeat nothing only for an alerts file;
    on ``-`` or a webhook the alerts of the last look before a kill can come again."""
    from .batch import DetectSummary, _add_alerts, _scored_pieces

    validate_range("poll_s", poll_s, 0, low_open=True)
    if getattr(detector, "kind", None) != "flows":
        raise ConfigError("watch flows needs a flows model", hint="follow logs with watch logs")
    sink = AlertSink(alerts, inputs=[source])
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    total = DetectSummary(input=str(source), output=None)
    with contextlib.ExitStack() as stack:
        state: dict[str, Any] = {}
        state_path = None
        if state_dir is not None:
            state_dir = Path(state_dir)
            check_writable(state_dir, directory=True)
            stack.enter_context(exclusive_use(state_dir, "the watch state folder"))
            state_path = state_dir / STATE_FILE
            if state_path.exists():
                state = _read_state(state_path)
        resume = FollowPoint(**state["point"]) if state.get("point") else None
        rows = int(state.get("rows", 0))
        written: set[Any] = set()
        if sink.kind == "file":
            drop_partial_line(sink.destination)
            written = alert_ids_after(sink.destination, int(state.get("alerts_size", 0)))
        new_only = _NewAlerts(sink, written)
        pieces = follow_pieces(source, getattr(detector, "format_", None), once=once, poll_s=poll_s,
                               deadline=deadline, from_end=from_end and resume is None, resume=resume)
        for piece, frame, data in _scored_pieces(detector, source, pieces, total, rows_before=rows):
            _add_alerts(detector, data, frame, 0, new_only, model_name)
            rows += data.total_rows
            if state_path is not None:
                size = Path(sink.destination).stat().st_size if sink.kind == "file" and \
                    Path(sink.destination).exists() else 0
                write_json_atomic(state_path, {"version": STATE_VERSION, "point": dataclasses.asdict(piece.then),
                                               "rows": rows, "alerts_size": size})
    counts = {"flows": total.scored, "alerts": total.alerts - new_only.repeats}
    if total.malformed_rows:
        counts["not scored"] = total.malformed_rows
    if new_only.repeats:
        counts["repeats skipped"] = new_only.repeats
    return _with_delivery(counts, sink)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"version {state.get('version')!r}")
        FollowPoint(**state["point"])
        int(state["rows"]), int(state["alerts_size"])
        return state
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"not a watch flows checkpoint this version reads ({exc})", path=path,
                          hint="give another --state folder (the log is then read from its start)") from None


def _watch_interface(detector: Any, interface: str, sink: AlertSink, batch: int, model_name: str,
                     counts: dict[str, int], max_seconds: float | None) -> dict[str, int]:
    try:
        import nfstream  # noqa: F401  (flow_streamer needs it; say so plainly)
    except ImportError as exc:
        raise DependencyError(f"live capture needs nfstream ({exc})") from None
    try:
        streamer = flow_streamer(interface)
    except ConfigError:  # said plainly already (an interface this machine does not have)
        raise
    except ValueError as exc:  # no capture rights
        raise ConfigError(f"cannot capture on {interface!r} ({exc})", hint="capturing needs root or CAP_NET_RAW") from None
    pending: list[dict[str, Any]] = []
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    for flow in flows_until(streamer, deadline):
        pending.append({name: getattr(flow, name) for name in NFSTREAM_COLUMNS})
        if len(pending) >= batch:
            _flush(detector, pending, sink, model_name, counts)
    _flush(detector, pending, sink, model_name, counts)
    return _with_delivery(counts, sink)


def flows_until(streamer: Iterable[Any], deadline: float | None) -> Iterator[Any]:
    """The flows of ``streamer`` until it ends or ``time.monotonic()`` passes ``deadline``.

    nfstream blocks while an interface is quiet, so with a deadline it is read in a thread and the
    deadline holds whether flows come or not; the meter processes it started are stopped then.
    An error of the reader is raised here.
    """
    if deadline is None:
        yield from streamer
        return
    import multiprocessing

    before = set(multiprocessing.active_children())
    flows: queue.Queue = queue.Queue(maxsize=4096)  # bounded: a slow scorer slows the reader
    end = object()

    def read() -> None:
        try:
            for flow in streamer:
                flows.put(flow)
            flows.put(end)
        except BaseException as exc:  # handed to the caller, which raises it
            flows.put(exc)

    threading.Thread(target=read, name="nfstream-reader", daemon=True).start()
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = flows.get(timeout=left)
            except queue.Empty:
                return
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for meter in set(multiprocessing.active_children()) - before:
            meter.terminate()


def _with_delivery(counts: dict[str, int], sink: AlertSink) -> dict[str, int]:
    """The counts, with the alerts a webhook did not take (only when some were lost)."""
    if sink.undelivered:
        counts["undelivered"] = sink.undelivered
    return counts


def _flush(detector: Any, pending: list[dict[str, Any]], sink: AlertSink, model_name: str,
           counts: dict[str, int]) -> None:
    if not pending:
        return
    table = flow_table(pd.DataFrame(pending))
    alerts = _alerts_for(detector, table, table[list(PORTABLE_FEATURES)], model_name)
    sink.write(alerts)
    counts["flows"] += len(pending)
    counts["alerts"] += len(alerts)
    pending.clear()
