"""Alerts as JSON objects following the Elastic Common Schema where a field exists, and the sinks
that write them (a file, stdout, a webhook). ``detect``, ``scan`` and ``serve`` build the same alert
objects with :func:`ecs_alert`.

>>> alert = ecs_alert(model="nsl", kind="flows", score=3.2, threshold=1.0, predicted="DoS",
...                   record={"src_ip": "10.0.0.5", "dst_port": 80, "proto": "tcp"},
...                   timestamp="2026-01-01T00:00:00Z")
>>> alert["event"]["kind"], alert["source"]["ip"], alert["destination"]["port"], alert["rule"]["name"]
('alert', '10.0.0.5', 80, 'deepsentry/nsl: DoS')
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from ..core.tables import check_output, written_number

# Record keys (lower-cased, spaces/underscores removed) that map onto ECS fields.
# nfdump's CSV names them sa, sp, da, dp, pr; SiLK sIP, dIP; Argus (CTU-13) Sport, Dport; CIDDS-001
# Src IP Addr, Src Pt; Suricata's eve.json dest_ip, dest_port
_ECS_FIELDS = {
    ("source", "ip"): ("srcip", "srcaddr", "ipv4srcaddr", "sourceip", "saddr", "idorigh", "sa", "sip", "srcipaddr"),
    ("source", "port"): ("srcport", "sport", "l4srcport", "sourceport", "idorigp", "sp", "srcpt"),
    ("destination", "ip"): ("dstip", "dstaddr", "ipv4dstaddr", "destinationip", "daddr", "idresph", "da", "dip",
                            "dstipaddr", "destip"),
    ("destination", "port"): ("dstport", "dsport", "l4dstport", "destinationport", "idrespp", "dport", "dp",
                              "dstpt", "destport"),
    ("network", "transport"): ("proto", "protocol", "protocoltype", "pr"),
}
_CATEGORY = {"flows": ["network", "intrusion_detection"], "malware": ["malware", "file"],
             "logs": ["intrusion_detection"]}


@functools.lru_cache(maxsize=4096)
def _norm(key: str) -> str:
    return "".join(ch for ch in str(key).lower() if ch.isalnum())


@functools.lru_cache(maxsize=256)
def ecs_key_map(keys: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """(ECS group, ECS name, record key) for the record keys that map onto ECS fields; cached per
    key set, so records of one schema pay for the mapping once."""
    normalised = {}
    for key in keys:
        normalised.setdefault(_norm(key), key)
    out = []
    for (group, name), candidates in _ECS_FIELDS.items():
        for candidate in candidates:
            if candidate in normalised:
                out.append((group, name, normalised[candidate]))
                break
    return tuple(out)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def risk_score(score: float, threshold: float) -> float:
    """0-100: 50 at the operating threshold, rising with the log-odds margin above it."""
    margin = float(score) - float(threshold)
    return round(100.0 / (1.0 + math.exp(-max(min(margin, 50.0), -50.0))), 2)


def ecs_alert(*, model: str, kind: str, score: float, threshold: float, predicted: str | None = None,
              record: dict[str, Any] | None = None, explanation: list[dict[str, Any]] | None = None,
              timestamp: str | None = None, record_id: Any = None) -> dict[str, Any]:
    """One alert object. Unknown record fields stay under ``deepsentry.record``."""
    now = timestamp or now_iso()
    alert: dict[str, Any] = {
        "@timestamp": now,
        "event": {"kind": "alert", "module": "deepsentry", "dataset": f"deepsentry.{kind}",
                  "category": _CATEGORY.get(kind, ["intrusion_detection"]),
                  "risk_score": risk_score(score, threshold), "severity": 3 if score - threshold > 4 else 2},
        "rule": {"name": f"deepsentry/{model}: {predicted or 'malicious'}", "ruleset": "deepsentry",
                 "category": predicted or "malicious"},
        "observer": {"product": "deepsentry", "type": "ids"},
        "deepsentry": {"model": model, "score": round(float(score), 6), "threshold": float(threshold),
                       "predicted": predicted},
    }
    if record_id is not None:
        alert["deepsentry"]["record_id"] = record_id
    if explanation is not None:
        alert["deepsentry"]["explanation"] = explanation
    if record:
        for group, name, key in ecs_key_map(tuple(record)):
            value = record[key]
            if value not in (None, "") and not (isinstance(value, float) and math.isnan(value)):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # ports and protocol numbers read as floats
                elif name == "port" and isinstance(value, str) and value.strip().isdigit():
                    value = int(value)  # ECS ports are numbers; text logs (Zeek's) give them as text
                elif name == "port" and isinstance(value, str) and (number := written_number(value)) is not None:
                    value = int(number)  # Argus writes ICMP's type and code as hex ports (0x0303)
                alert.setdefault(group, {})[name] = value
        if kind == "malware":
            if record.get("path"):
                alert["file"] = {"path": record["path"], "size": record.get("size"),
                                 "hash": {"sha256": record.get("sha256")}}
    return alert


def log_alert(*, model: str, group: str, score: float, threshold: float, events: int,
              explanation: Any = None, first_line: int | None = None, source: str | None = None,
              timestamp: str | None = None) -> dict[str, Any]:
    """The alert of an anomalous log session or window (``detect``, ``watch logs`` and ``serve``
    write the same object); ``record_id`` is the group id, with its first line when known."""
    alert = ecs_alert(model=model, kind="logs", score=score, threshold=threshold, predicted="anomalous session",
                      record_id=group if first_line is None else f"{group}@{first_line}", timestamp=timestamp)
    alert["deepsentry"].update({"session": group, "events": int(events), "explanation": explanation})
    if first_line is not None:
        alert["deepsentry"]["first_line"] = first_line
    if source is not None:
        alert["log"] = {"file": {"path": source}}
    return alert


def log_group_alerts(frame: Any, lines: list[list[int]] | None, *, model: str, threshold: float,
                     source: str | None = None, timestamp: str | None = None) -> dict[int, dict[str, Any]]:
    """:func:`log_alert` for each alerted row of a log detection table (``id``, ``score``,
    ``alert``, ``events`` and, for explaining models, ``explanation`` as JSON), by row; ``lines``
    are the groups' line numbers where the input had lines."""
    explained = "explanation" in frame
    alerts = {}
    for k in (k for k, alert in enumerate(frame["alert"].tolist()) if alert):
        alerts[k] = log_alert(model=model, group=str(frame["id"].iat[k]), score=float(frame["score"].iat[k]),
                              threshold=threshold, events=int(frame["events"].iat[k]),
                              explanation=json.loads(frame["explanation"].iat[k]) if explained else None,
                              first_line=lines[k][0] if lines and lines[k] else None, source=source,
                              timestamp=timestamp)
    return alerts


class AlertSink:
    """Writes alert objects as JSON lines to a file (appending), stdout (``-``) or a webhook URL
    (one POST per batch; failures are counted, with the alerts they carried and the last reason,
    never raised, so detection goes on; callers report them)."""

    def __init__(self, destination: str | Path, *, inputs: Any = ()) -> None:
        self.destination = str(destination)
        self.kind = ("stdout" if self.destination == "-" else
                     "webhook" if self.destination.startswith(("http://", "https://")) else "file")
        if self.kind == "file":  # now, not at the first alert hours into a watch; never into an input
            check_output(self.destination, inputs)
        self.failures = 0  # failed webhook posts
        self.undelivered = 0  # the alerts those posts carried
        self.last_error = ""
        self.written = 0
        self._lock = threading.Lock()

    def write(self, alerts: list[dict[str, Any]]) -> None:
        if not alerts:
            return
        lines = "".join(json.dumps(a, default=str) + "\n" for a in alerts)
        with self._lock:
            if self.kind == "stdout":
                sys.stdout.write(lines)
                sys.stdout.flush()
            elif self.kind == "webhook":
                request = urllib.request.Request(self.destination, data=lines.encode(), method="POST",
                                                 headers={"Content-Type": "application/x-ndjson"})
                try:
                    with urllib.request.urlopen(request, timeout=2):
                        pass
                except OSError as exc:  # urllib's HTTPError (a 4xx/5xx answer) is an OSError too
                    self.failures += 1
                    self.undelivered += len(alerts)
                    self.last_error = str(getattr(exc, "reason", None) or exc)
                    return
            else:
                path = Path(self.destination)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(lines)
                    handle.flush()
                    os.fsync(handle.fileno())  # on disk before a watcher's checkpoint says they were written
            self.written += len(alerts)

    def problem(self) -> str | None:
        """One line on alerts that did not reach the destination, or None when all did."""
        if not self.undelivered:
            return None
        return (f"{self.undelivered} alert(s) not delivered to {self.destination} "
                f"({self.failures} failed post(s); last: {self.last_error})")


def alert_ids_after(alerts_path: str | Path, size: int) -> set[Any]:
    """Record ids of the alerts appended to ``alerts_path`` after its first ``size`` bytes: those
    a watcher wrote after its last checkpoint, which a restart must not write again."""
    alerts_path = Path(alerts_path)
    if not alerts_path.exists():
        return set()
    ids = set()
    with open(alerts_path, "rb") as handle:
        handle.seek(min(size, alerts_path.stat().st_size))
        for raw in handle:
            try:
                ids.add(json.loads(raw)["deepsentry"]["record_id"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by the kill
    return ids
