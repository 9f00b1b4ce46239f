"""Streaming log detection: tail a log file across rotation and truncation, group lines into
sessions, score each session when it closes, write alerts as JSON lines, and survive ``kill -9``.

On rotation the rest of the old file is read first, from the file beside it with the same inode
(logrotate's ``auth.log.1``), also after a restart; a file compressed or removed at once is named
in a warning, as its unread lines cannot be had.

Lines become events as ``detect`` makes them: matched against the training templates, a line that
matches none is ``<new>`` (the miner does not learn while watching, so a watch and a ``detect`` of
the same lines give the same events, scores and explanations).

Exactly once: alerts are appended (and fsynced) before the checkpoint that covers them is written;
each alert carries a deterministic id (session id + line number of its first line). On restart the
watcher reloads the checkpoint (offset, file identity, open sessions, template miner) and the ids
of alerts written after that checkpoint, so a session closed twice is never alerted twice and no
line is skipped.

A binary Windows event log (``.evtx``, with a model trained on ``--format evtx``) is followed by
EventRecordID instead of byte offset: when the file changes it is parsed again and only events
newer than the last one handled are fed, in record-id order (Windows writes the file in place and
wraps it; a cleared log, whose ids start again, or a new file is read from its first event).

A session closes once ``idle_lines`` lines (events) have passed without it (checked every 100 lines;
deterministic, so a replay gives the same sessions), after ``idle_seconds`` of wall-clock silence
when following, or at the end of the input with ``once``.

A model trained on windows of raw lines (no session pattern) gets the same windows as ``detect``:
a window of N lines closes at its N-th line, a time window when a line of another window arrives
(a line out of time order starts a window of its own); when following, an open window also closes
after ``idle_seconds`` of silence, so a quiet log's last lines are not held back.

>>> watch_log(model, "auth.log", alerts="alerts.jsonl", state_dir="state", once=True)   # doctest: +SKIP
{'lines': 20000, 'sessions': 1960, 'alerts': 12}
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.base import validate_range
from ..core.errors import ConfigError, InputError
from ..core.durable import drop_partial_line, renamed_file, write_json_atomic
from ..core.locks import exclusive_use
from ..core.tables import (GZIP_MAGIC, BadRecord, ReadReport, check_output, check_writable,
                           refuse_other_compression, refuse_stream, text_encoding)
from ..logs.clock import LineClock
from ..logs.drain import TemplateMiner
from ..logs.evtx import is_evtx, iter_evtx_events
from ..logs.formats import LogFormat, other_formats
from ..logs.sequences import mined_event, session_ids, session_pattern
from .alerts import alert_ids_after, log_alert

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class WatchState:
    inode: int | None = None
    offset: int = 0
    line: int = 0
    sessions: "OrderedDict[str, dict[str, Any]]" = field(default_factory=OrderedDict)
    alerts_size: int = 0  # size of the alerts file when this checkpoint was written
    miner: dict[str, Any] | None = None
    record_id: int = 0  # EVTX: the EventRecordID of the last event handled

    def to_json(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "inode": self.inode, "offset": self.offset, "line": self.line,
                "sessions": list(self.sessions.items()), "alerts_size": self.alerts_size, "miner": self.miner,
                "record_id": self.record_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WatchState":
        if data.get("version") != STATE_VERSION:
            raise ConfigError(f"watch state version {data.get('version')!r} is not supported")
        return cls(data["inode"], data["offset"], data["line"], OrderedDict(data["sessions"]),
                   data["alerts_size"], data["miner"], int(data.get("record_id", 0)))


_UNMATCHED_WARNING = 1000  # lines read, none matching the format, before watch says so


def watch_log(detector: Any, path: str | Path, *, alerts: str | Path, state_dir: str | Path,
              once: bool = False, idle_lines: int = 2000, idle_seconds: float = 30.0, poll_s: float = 0.5,
              batch_lines: int = 1000, model_name: str = "logs", max_seconds: float | None = None) -> dict[str, Any]:
    """Run until the input ends (``once``) or ``max_seconds`` pass; returns counts."""
    validate_range("idle_lines", idle_lines, 1)
    validate_range("idle_seconds", idle_seconds, 0, low_open=True)
    validate_range("poll_s", poll_s, 0, low_open=True)
    validate_range("batch_lines", batch_lines, 1)
    if max_seconds is not None:
        validate_range("max_seconds", max_seconds, 0)
    kind = getattr(detector, "kind", "logs")  # a bundle always says; a duck-typed detector may not
    if kind != "logs":
        raise ConfigError(f"this is a {kind} model; watch logs needs a logs model",
                          path=getattr(detector, "bundle_path_", None))
    source = getattr(detector, "log_source_", None)
    if source is None:
        raise ConfigError("this logs model was trained on pre-parsed sequences; watching raw logs needs a model "
                          "trained with --format and --session (or a --window)")
    fmt = LogFormat.from_spec(source["format"])
    session_re = session_pattern(source["session"]) if source.get("session") else None
    window_lines = getattr(detector, "window_lines_", None) if session_re is None else None
    window_seconds = getattr(detector, "window_seconds_", None) if session_re is None else None
    if session_re is None and not (window_lines or window_seconds):
        raise ConfigError("this logs model keeps neither a session pattern nor a window",
                          path=getattr(detector, "bundle_path_", None))
    clock = LineClock() if window_seconds else None
    refuse_stream(path, "follow")
    path, alerts_path, state_dir = Path(path), Path(alerts), Path(state_dir)
    check_output(alerts_path, [path])  # now, not at the first alert hours into a watch; never the log
    check_writable(state_dir, directory=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_use(state_dir, "the watch state folder"):  # a second watcher would repeat alerts
        state_path = state_dir / "watch-state.json"
        state = WatchState.from_json(json.loads(state_path.read_text())) if state_path.exists() else WatchState()
        miner = TemplateMiner.from_json(state.miner or detector.templates_)
        drop_partial_line(alerts_path)
        emitted = alert_ids_after(alerts_path, state.alerts_size)
        counts = {"lines": 0, "sessions": 0, "alerts": 0, "unmatched": 0, "repeats_skipped": 0}
        last_seen: dict[str, float] = {}
        started = time.monotonic()
        evtx_read: list[Any] = [None]  # (inode, size, mtime) of the last EVTX parse: unchanged = nothing new

        def close(keys: list[str]) -> None:
            closing = [(k, state.sessions.pop(k)) for k in keys]
            if not closing:
                return
            scores, explanations = detector.score_and_explain([s["events"] for _, s in closing])
            new_alerts = []
            for (key, session), score, why in zip(closing, scores, explanations):
                if window_lines:  # named as detect names it, once its last line is known
                    key = f"{key}-{session['last_line']}"
                counts["sessions"] += 1
                if score <= detector.threshold_.threshold:
                    continue
                alert_id = f"{key}@{session['first_line']}"
                if alert_id in emitted:
                    counts["repeats_skipped"] += 1
                    continue
                new_alerts.append(log_alert(model=model_name, group=key, score=float(score),
                                            threshold=detector.threshold_.threshold, events=len(session["events"]),
                                            explanation=why, first_line=session["first_line"], source=str(path)))
                emitted.add(alert_id)
            if new_alerts:
                with open(alerts_path, "a", encoding="utf-8") as handle:
                    handle.write("".join(json.dumps(a, default=str) + "\n" for a in new_alerts))
                    handle.flush()
                    os.fsync(handle.fileno())
                counts["alerts"] += len(new_alerts)

        def checkpoint() -> None:
            state.alerts_size = alerts_path.stat().st_size if alerts_path.exists() else 0
            state.miner = miner.to_json()
            write_json_atomic(state_path, state.to_json())

        def feed(line: str) -> None:
            state.line += 1
            counts["lines"] += 1
            fields = fmt.parse(line) if line.strip() else None
            if fields is None:
                counts["unmatched"] += 1
                if counts["unmatched"] == _UNMATCHED_WARNING == counts["lines"]:
                    # every line so far is ignored: most likely the wrong file or model, which a
                    # watch that never ends would otherwise only show in its counts
                    found = other_formats(fmt, line)
                    log.warning("%s: none of the first %d lines matches the model's log format %r (is this the "
                                "system the model was trained on?%s)", path, _UNMATCHED_WARNING, fmt.name,
                                f" the last reads as --format {found}" if found else "")
            elif session_re is None:
                feed_window(fields)
            else:
                event = mined_event(miner, fields, learn=False)
                for key in session_ids(session_re, line):
                    session = state.sessions.pop(key, None) or {"events": [], "first_line": state.line}
                    session["events"].append(event)
                    session["last_line"] = state.line
                    state.sessions[key] = session  # most recently seen last
                    last_seen[key] = time.monotonic()
            if session_re is not None and state.line % 100 == 0:  # close idle sessions in batches (one model call each)
                close([k for k, s in state.sessions.items() if state.line - s["last_line"] >= idle_lines])

        def feed_window(fields: dict[str, Any]) -> None:
            if clock is not None:
                stamp = clock(fields)
                if stamp is None:
                    counts["no_time"] = counts.get("no_time", 0) + 1
                    return
                key = f"t={math.floor(stamp / window_seconds) * window_seconds:.0f}s"
                if key not in state.sessions:
                    close(list(state.sessions))  # time has moved on to another window
            else:
                key = next(iter(state.sessions), None) or f"lines {state.line}"
            window = state.sessions.setdefault(key, {"events": [], "first_line": state.line})
            window["events"].append(mined_event(miner, fields, learn=False))
            window["last_line"] = state.line
            last_seen[key] = time.monotonic()
            if window_lines and len(window["events"]) >= window_lines:
                close([key])

        def read_text(info: os.stat_result) -> None:
            if state.inode is not None and info.st_ino != state.inode:
                # rotated: the lines written to the old file after the last read are in it still,
                # under its new name (auth.log.1), unless it was compressed or removed at once
                old = renamed_file(path, state.inode, info.st_dev)
                if old is not None:
                    read_lines(old, complete=True)
                else:
                    log.warning("%s was rotated and its old file is no longer beside it: lines written to it "
                                "after byte %d, if any, were not read", path, state.offset)
                state.offset = 0
            elif info.st_size < state.offset:
                state.offset = 0  # truncated: start from its beginning
            state.inode = info.st_ino
            read_lines(path, complete=once)

        def read_lines(source: Path, complete: bool) -> None:
            """Feed the lines of ``source`` from the checkpoint's offset; without ``complete``, a
            half-written last line waits for its newline."""
            with open(source, "rb") as handle:
                head = handle.read(10)
                if head.startswith(GZIP_MAGIC):
                    raise InputError("watch follows a growing text file; this file is gzip-compressed", path=source,
                                     hint="score it with detect, which reads it")
                refuse_other_compression(head, source)
                encoding = text_encoding(head[:4])
                if encoding not in (None, "utf-8-sig"):
                    # lines of UTF-16/32 are not byte lines: following them needs other offsets
                    raise InputError(f"watch follows UTF-8 text; this file is {encoding.upper()}", path=source,
                                     hint="score it with detect (which reads it), or have its writer use UTF-8")
                handle.seek(state.offset)
                batch = 0
                while True:
                    start = state.offset
                    raw = handle.readline()
                    if not raw or not raw.endswith(b"\n") and not complete:
                        break
                    state.offset += len(raw)
                    if start == 0 and raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8):]
                    feed(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    batch += 1
                    if batch >= batch_lines:
                        checkpoint()
                        batch = 0

        def read_evtx(info: os.stat_result) -> None:
            if fmt.name != "evtx":
                raise ConfigError(f"a binary Windows event log, but this model was trained on --format {fmt.name}",
                                  path=path, hint="train the model with --format evtx")
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            if stamp == evtx_read[0]:
                return
            evtx_read[0] = stamp
            report = ReadReport()
            events = []
            for number, event in iter_evtx_events(path, report):
                record_id = _record_id(event)
                if record_id is None:  # no position: it cannot be told from an event already handled
                    report.malformed_rows += 1
                    report.add(BadRecord(str(path), number, "EventRecordID", "event has no EventRecordID"))
                    continue
                events.append((record_id, number, event))
            if state.inode is not None and info.st_ino != state.inode:
                state.record_id = 0  # a new file: read it all
            elif events and max(e[0] for e in events) < state.record_id:
                state.record_id = 0  # a cleared log (its ids start again; never a momentarily unreadable one)
            state.inode = info.st_ino
            counts["unreadable_events"] = report.malformed_rows  # what the file holds now that cannot be read
            if report.examples:
                counts["unreadable_examples"] = [str(example) for example in report.examples[:5]]
            batch = 0
            for record_id, _, event in sorted(e for e in events if e[0] > state.record_id):
                feed(json.dumps(event, ensure_ascii=False))
                state.record_id = record_id
                batch += 1
                if batch >= batch_lines:
                    checkpoint()
                    batch = 0

        while True:
            if not path.exists():
                if once and state.inode is None:  # never seen: a typo, not a file rotated away
                    raise InputError("no such file", path=path, hint="without --once, watch waits for it to appear")
                if once:
                    break
                time.sleep(poll_s)
                continue
            info = path.stat()
            if is_evtx(path):
                read_evtx(info)
            else:
                read_text(info)
            now = time.monotonic()
            if once:
                close(list(state.sessions))
                checkpoint()
                break
            close([k for k in state.sessions if now - last_seen.get(k, now) >= idle_seconds])
            checkpoint()
            if max_seconds is not None and now - started >= max_seconds:
                break
            time.sleep(poll_s)
        return counts


def _record_id(event: dict[str, Any]) -> int | None:
    try:
        return int(event.get("EventRecordID"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
