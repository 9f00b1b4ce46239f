"""Windows event logs (EVTX): binary ``.evtx`` files are read with the ``evtx`` library (Rust,
via pyevtx-rs) and become one JSON line per event, so every log verb (``extract templates``,
``train logs``, ``detect``) reads them with ``--format evtx``; the same format also parses the JSON
lines that ``evtx_dump -o jsonl`` writes.

Each event is flattened to one level: the System fields that matter (``EventID``, ``Provider``,
``Channel``, ``Computer``, ``TimeCreated``, ``EventRecordID``, ``Level``...) and every EventData or
UserData value under its own name. Windows keeps no message text in the file (it lives in the
provider's DLL), so the template miner reads a synthetic message: provider, ``EventID_<n>`` (kept as
one token, so logon success 4624 and failure 4625 never merge into one template) and the data as
``Name=value`` tokens.

>>> fields = EvtxFormat().parse('{"Event": {"System": {"EventID": 4625, "Provider": '
...     '{"#attributes": {"Name": "Security"}}}, "EventData": {"TargetUserName": "bob"}}}')
>>> fields["Content"]
'Security EventID_4625 TargetUserName=bob'
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..core.errors import InputError
from ..core.tables import BadRecord, ReadReport
from .formats import JsonFormat

MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
CHUNK_SIZE = 0x10000
MAX_VALUE_CHARS = 200  # a value longer than this (binary blobs, scripts) is cut in the message
SYSTEM_FIELDS = ("EventID", "Provider", "Channel", "Computer", "TimeCreated", "EventRecordID", "Level",
                 "Task", "Opcode", "Keywords", "ProcessID", "ThreadID", "UserID")
_SPACE = re.compile(r"\s+")


def is_evtx(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == MAGIC
    except OSError:
        return False


@dataclass
class ChunkCensus:
    """What the chunk headers promise, to tell records the parser skipped from records never written."""

    chunks: int = 0
    bad_chunks: list[int] = field(default_factory=list)
    records: int = 0
    truncated: bool = False


def census(path: str | os.PathLike[str]) -> ChunkCensus:
    """Walk the 64 KiB chunk headers (512 bytes each, no record is parsed)."""
    result = ChunkCensus()
    with open(path, "rb") as handle:
        header = handle.read(4096)
        block = struct.unpack_from("<H", header, 40)[0] if len(header) >= 42 else 4096
        offset = block if block >= 128 else 4096
        size = os.fstat(handle.fileno()).st_size
        # a copy cut at a chunk's edge ends inside no chunk: only the header's count shows it
        announced = struct.unpack_from("<H", header, 42)[0] if len(header) >= 44 else 0
        result.truncated = size < offset + announced * CHUNK_SIZE
        while offset < size:
            handle.seek(offset)
            head = handle.read(512)
            if size - offset < CHUNK_SIZE:
                result.truncated = True
            if head[:8] == CHUNK_MAGIC and len(head) >= 24:
                first, last = struct.unpack_from("<QQ", head, 8)
                result.chunks += 1
                if first <= last and last - first < CHUNK_SIZE:  # a chunk holds well under 64k records
                    result.records += int(last - first + 1)
                else:
                    result.bad_chunks.append(result.chunks + len(result.bad_chunks))
            elif head.strip(b"\x00"):  # an all-zero chunk is unused space, not damage
                result.bad_chunks.append(result.chunks + len(result.bad_chunks))
            offset += CHUNK_SIZE
    return result


def iter_evtx_lines(path: str | os.PathLike[str], report: ReadReport) -> Iterator[tuple[int, str]]:
    """(record ordinal, one JSON line) per event of an ``.evtx`` file. Records the parser cannot
    decode, corrupt chunks and a truncated file are counted in ``report`` (with examples), never
    fatal; the records around them are kept."""
    for number, event in iter_evtx_events(path, report):
        yield number, json.dumps(event, ensure_ascii=False)


def iter_evtx_events(path: str | os.PathLike[str], report: ReadReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`iter_evtx_lines` with each event as its flat mapping (:func:`flatten_event`)."""
    try:
        from evtx import PyEvtxParser
    except ImportError:  # pragma: no cover - pinned in requirements.lock
        raise InputError("reading .evtx files needs the 'evtx' package", path=path) from None
    expected = census(path)
    try:
        records = PyEvtxParser(str(path)).records_json()
    except (OSError, RuntimeError) as exc:  # one unreadable file must not end a directory's read
        report.malformed_rows += 1
        report.bad_values["EVTX file unreadable"] = report.bad_values.get("EVTX file unreadable", 0) + 1
        report.add(BadRecord(str(path), None, None, f"not a readable EVTX file ({_short(exc)}); skipped"))
        return
    number = 0
    failed = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except (OSError, RuntimeError, ValueError) as exc:  # one bad record; the parser goes on
            number += 1
            failed += 1
            report.malformed_rows += 1
            report.add(BadRecord(str(path), number, None, f"EVTX record could not be decoded ({_short(exc)})"))
            continue
        number += 1
        try:
            event = json.loads(record["data"])
        except (KeyError, TypeError, ValueError) as exc:
            failed += 1
            report.malformed_rows += 1
            report.add(BadRecord(str(path), number, None, f"EVTX record is not valid JSON ({_short(exc)})"))
            continue
        report.rows += 1
        yield number, flatten_event(event)
    missing = expected.records - number
    if missing > 0:
        report.malformed_rows += missing
        report.bad_values["EVTX records lost in corrupt chunks"] = missing
        report.add(BadRecord(str(path), None, None, f"{missing} records announced by the chunk headers "
                                                    "could not be read (corrupt chunk)"))
    if expected.bad_chunks:
        report.bad_values["EVTX corrupt chunks"] = len(expected.bad_chunks)
        report.add(BadRecord(str(path), None, None, f"{len(expected.bad_chunks)} chunk(s) with a damaged "
                                                    "header were skipped; their records are lost"))
    if expected.truncated:
        report.bad_values["EVTX file ends early"] = 1
        report.add(BadRecord(str(path), None, None, "the file ends early, inside a chunk or before the last "
                                                    "chunk its header counts (truncated copy?); records before "
                                                    "the cut are kept"))


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def flatten_event(event: dict[str, Any]) -> dict[str, Any]:
    """One flat mapping per event (``Event.System`` fields by name, then the event's data), plus the
    synthetic ``message`` the template miner reads."""
    root = event.get("Event", event) if isinstance(event, dict) else {}
    if not isinstance(root, dict):
        root = {}
    system = root.get("System") if isinstance(root.get("System"), dict) else {}
    flat: dict[str, Any] = {}
    for key, value in system.items():
        if key == "Provider":
            flat["Provider"] = _attr(value, "Name") or _attr(value, "EventSourceName") or ""
        elif key == "TimeCreated":
            flat["TimeCreated"] = _attr(value, "SystemTime") or ""
        elif key in ("Execution", "Security") and isinstance(value, dict):
            flat.update({k: v for k, v in (value.get("#attributes") or {}).items()})
        elif key in SYSTEM_FIELDS or not isinstance(value, dict):
            flat[key] = _text(value)
    data: dict[str, Any] = {}
    for section in ("EventData", "UserData"):
        if section in root:
            _flatten(root[section], [], data)
    for key, value in data.items():
        flat.setdefault(key, value)
    flat["message"] = _message(flat.get("Provider", ""), flat.get("EventID", ""), data)
    return flat


def _attr(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return (value.get("#attributes") or {}).get(name)
    return None


def _text(value: Any) -> Any:
    """An element's value: ``{"#text": 4625, "#attributes": {...}}`` -> 4625."""
    if isinstance(value, dict):
        return value.get("#text", json.dumps(value, ensure_ascii=False))
    return value


def _flatten(value: Any, path: list[str], out: dict[str, Any]) -> None:
    """Leaf values under the element's own name (``TargetUserName``; ``Data.0`` for unnamed list
    items); the full dotted path only where the short name is taken."""
    leaves: list[tuple[list[str], Any]] = []
    _leaves(value, path, leaves)
    for where, leaf in leaves:
        if not where:
            name = "Data"
        elif where[-1].isdigit():
            name = ".".join(where[-2:])
        else:
            name = where[-1]
        out[name if name not in out else ".".join(where)] = leaf


def _leaves(value: Any, path: list[str], out: list[tuple[list[str], Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key != "#attributes":
                _leaves(inner, path if key == "#text" else [*path, key], out)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _leaves(inner, [*path, str(i)], out)
    elif value is not None:
        out.append((path, value))


def _message(provider: Any, event_id: Any, data: dict[str, Any]) -> str:
    parts = [str(provider).replace(" ", "_") or "-", f"EventID_{event_id}"]
    for key, value in data.items():
        text = _SPACE.sub("_", str(value).strip())[:MAX_VALUE_CHARS]
        parts.append(f"{key}={text}")
    return " ".join(parts)


@dataclass(frozen=True)
class EvtxFormat(JsonFormat):
    """``--format evtx``: a flattened event line (what :func:`iter_evtx_lines` yields) or an
    ``evtx_dump -o jsonl`` line; ``Content`` is the synthetic message."""

    name: str = "evtx"
    regex: re.Pattern[str] = re.compile("")
    fields: tuple[str, ...] = ()

    def parse(self, line: str) -> dict[str, Any] | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if "message" not in record or "Event" in record:
            record = flatten_event(record)
            if not record.get("EventID") and not record.get("Provider"):
                return None
        fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in record.items()}
        fields["Content"] = str(record["message"])
        return fields
