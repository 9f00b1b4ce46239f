"""A minimal Windows EVTX writer for test fixtures (no EVTX sample ships with the shared datasets).

Follows the EVTX layout (MS-EVEN6 binary XML): a 4 KiB file header, 64 KiB chunks with a 512-byte
header, and event records whose XML is written as plain binary-XML element trees (no templates),
with every name string inline. Checksums (file header, chunk header, record data) are real CRC32s,
so a parser that validates them accepts the file. Each event is ``(system, data)``: the System
children (``Provider``, ``EventID``, ``TimeCreated``, ``EventRecordID``, ``Channel``,
``Computer``...) and the EventData ``<Data Name=...>`` values.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

CHUNK_SIZE = 0x10000
CHUNK_HEADER = 512
FILE_HEADER = 4096
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _filetime(when: datetime) -> int:
    epoch = datetime(1601, 1, 1, tzinfo=timezone.utc)
    return int((when - epoch).total_seconds() * 10_000_000)


class _Fragment:
    """Binary XML of one record; offsets of inline names are chunk-relative, so the writer needs
    the record's position in its chunk."""

    def __init__(self, base: int) -> None:
        self.base = base  # chunk offset of the first byte of this buffer
        self.buf = bytearray()

    def here(self) -> int:
        return self.base + len(self.buf)

    def name(self, text: str) -> None:
        # offset field pointing just past itself = "the name follows inline"
        self.buf += struct.pack("<I", self.here() + 4)
        hash_ = sum(ord(c) for c in text) & 0xFFFF  # parsers do not check the hash
        self.buf += struct.pack("<IHH", 0, hash_, len(text)) + _utf16(text) + b"\x00\x00"

    def text_value(self, text: str, token: int = 0x05) -> None:
        self.buf += bytes([token, 0x01]) + struct.pack("<H", len(text)) + _utf16(text)


_TYPE = {"string": 0x01, "uint8": 0x04, "uint16": 0x06, "uint64": 0x0A, "filetime": 0x11}


def _value_bytes(kind: str, value: object) -> bytes:
    if kind == "string":
        return _utf16(str(value))
    return struct.pack({"uint8": "<B", "uint16": "<H", "uint64": "<Q", "filetime": "<Q"}[kind], int(value))


class _Template:
    """An Event element tree whose values are substitutions ``(index, kind)``; the same tree (same
    EventData names) is written once per chunk and referenced by later records, as Windows does."""

    def __init__(self, data_names: tuple[str, ...]) -> None:
        self.data_names = data_names
        self.kinds = ["string", "uint16", "uint8", "filetime", "uint64", "string", "string"] + \
                     ["string"] * len(data_names)

    def write(self, frag: _Fragment) -> None:
        frag.buf += bytes([0x0F, 0x01, 0x01, 0x00])
        sub = lambda i: ("__sub__", i)  # noqa: E731
        system = [("Provider", {"Name": sub(0)}), ("EventID", None, sub(1)), ("Level", None, sub(2)),
                  ("TimeCreated", {"SystemTime": sub(3)}), ("EventRecordID", None, sub(4)),
                  ("Channel", None, sub(5)), ("Computer", None, sub(6))]
        data = [("Data", {"Name": name}, sub(7 + i)) for i, name in enumerate(self.data_names)]
        self._element(frag, "Event", {"xmlns": EVENT_NS}, None,
                      [("System", None, None, system), ("EventData", None, None, data)])
        frag.buf.append(0x00)

    def _value(self, frag: _Fragment, value: object) -> None:
        if isinstance(value, tuple) and value[0] == "__sub__":
            index = value[1]
            # optional substitution: a null value leaves the element empty
            frag.buf += bytes([0x0E]) + struct.pack("<HB", index, _TYPE[self.kinds[index]])
        else:
            frag.text_value(str(value))

    def _element(self, frag: _Fragment, tag: str, attrs: dict | None = None, text: object = None,
                 children: list | None = None) -> None:
        attrs = attrs or {}
        frag.buf += bytes([0x41 if attrs else 0x01]) + struct.pack("<H", 0xFFFF)
        size_at = len(frag.buf)
        frag.buf += b"\x00\x00\x00\x00"
        frag.name(tag)
        if attrs:
            list_at = len(frag.buf)
            frag.buf += b"\x00\x00\x00\x00"
            items = list(attrs.items())
            for i, (key, value) in enumerate(items):
                frag.buf += bytes([0x46 if i < len(items) - 1 else 0x06])
                frag.name(key)
                self._value(frag, value)
            struct.pack_into("<I", frag.buf, list_at, len(frag.buf) - list_at - 4)
        if text is None and not children:
            frag.buf.append(0x03)
        else:
            frag.buf.append(0x02)
            if text is not None:
                self._value(frag, text)
            for child in children or []:
                self._element(frag, *child)
            frag.buf.append(0x04)
        struct.pack_into("<I", frag.buf, size_at, len(frag.buf) - size_at - 4)


def _record_xml(base: int, record_id: int, when: datetime, system: dict[str, str], data: dict[str, str],
                templates: dict[tuple[str, ...], int]) -> tuple[bytes, int | None]:
    """The record's binary XML; returns it and the chunk offset of a template defined here."""
    frag = _Fragment(base)
    frag.buf += bytes([0x0F, 0x01, 0x01, 0x00])
    names = tuple(data)
    template = _Template(names)
    template_id = len(templates) + 1
    defined = None
    frag.buf += bytes([0x0C, 0x01])
    if names in templates:
        frag.buf += struct.pack("<II", template_id, templates[names])
    else:
        defined = frag.here() + 8
        templates[names] = defined
        frag.buf += struct.pack("<II", template_id, defined)
        header_at = len(frag.buf)
        frag.buf += struct.pack("<II", 0, template_id) + b"\x11" * 12 + b"\x00\x00\x00\x00"
        body_start = len(frag.buf)
        template.write(frag)
        struct.pack_into("<I", frag.buf, header_at + 20, len(frag.buf) - body_start)
    values = [system.get("Provider", "Microsoft-Windows-Security-Auditing"), system.get("EventID", "0"),
              system.get("Level", "0"), _filetime(when), record_id, system.get("Channel", "Security"),
              system.get("Computer", "WS01"), *data.values()]
    encoded = [b"" if v is None else _value_bytes(k, v) for k, v in zip(template.kinds, values)]
    frag.buf += struct.pack("<I", len(encoded))
    for kind, blob, value in zip(template.kinds, encoded, values):
        frag.buf += struct.pack("<HBB", len(blob), 0x00 if value is None else _TYPE[kind], 0)
    for blob in encoded:
        frag.buf += blob
    return bytes(frag.buf), defined


def write_evtx(path: str | Path, events: list[tuple[dict[str, str], dict[str, str]]], *,
               start: datetime | None = None, records_per_chunk: int = 100) -> Path:
    """Write ``events`` to ``path``; timestamps start at ``start`` one second apart."""
    start = start or datetime(2026, 11, 1, 8, 0, 0, tzinfo=timezone.utc)
    chunks: list[bytes] = []
    record_id = 1
    for first in range(0, len(events), records_per_chunk):
        body = bytearray()
        ids = []
        templates: dict[tuple[str, ...], int] = {}
        last_offset = CHUNK_HEADER
        for system, data in events[first:first + records_per_chunk]:
            when = datetime.fromtimestamp(start.timestamp() + record_id - 1, tz=timezone.utc)
            offset = CHUNK_HEADER + len(body)
            xml, _ = _record_xml(offset + 24, record_id, when, system, data, templates)
            size = 24 + len(xml) + 4
            record = b"\x2a\x2a\x00\x00" + struct.pack("<IQQ", size, record_id, _filetime(when)) + xml
            record += struct.pack("<I", size)
            if CHUNK_HEADER + len(body) + len(record) > CHUNK_SIZE:
                raise ValueError("too many records for one chunk: lower records_per_chunk")
            last_offset = offset
            body += record
            ids.append(record_id)
            record_id += 1
        header = bytearray(CHUNK_HEADER)
        header[0:8] = b"ElfChnk\x00"
        struct.pack_into("<QQQQ", header, 8, ids[0], ids[-1], ids[0], ids[-1])
        struct.pack_into("<III", header, 40, 128, last_offset, CHUNK_HEADER + len(body))
        struct.pack_into("<I", header, 52, zlib.crc32(bytes(body)))
        for slot, template_offset in enumerate(list(templates.values())[:32]):
            struct.pack_into("<I", header, 384 + 4 * slot, template_offset)
        struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120]) + bytes(header[128:512])))
        chunk = bytes(header) + bytes(body)
        chunks.append(chunk + b"\x00" * (CHUNK_SIZE - len(chunk)))
    head = bytearray(FILE_HEADER)
    head[0:8] = b"ElfFile\x00"
    struct.pack_into("<QQQIHHHH", head, 8, 0, len(chunks) - 1, record_id, 128, 1, 3, FILE_HEADER, len(chunks))
    struct.pack_into("<I", head, 124, zlib.crc32(bytes(head[:120])))
    path = Path(path)
    path.write_bytes(bytes(head) + b"".join(chunks))
    return path
