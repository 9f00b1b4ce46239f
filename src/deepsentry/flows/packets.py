"""Packets from capture files (pcap, pcapng), decoded the way nfstream decodes them.

Two decoders with one meaning:

* :func:`decode_packet` takes one packet's bytes and follows nfstream's engine (6.x) step by step:
  link layers (Ethernet with LLC/SNAP, 802.1Q, MPLS, PPPoE; Linux cooked v1 and v2; raw IPv4/IPv6; BSD
  loopback; PPP/HDLC; radiotap), IP-in-IP, IPv6 extension headers, GTP-U/TZSP/CAPWAP tunnels,
  non-first IPv4 fragments skipped, and its byte accounting (payload bytes from the IP header's
  lengths, not from the captured bytes). It is the specification, and it decodes what the fast path
  leaves out.
* :func:`decode_packets` does the same for every packet of a capture at once with NumPy, for the
  link and network layers nearly all traffic uses; each packet it cannot take (tunnels, MPLS,
  extension headers, rare link types) goes to :func:`decode_packet`. Tests hold the two equal on
  fuzzed packets.

Where nfstream's engine reads bytes past the captured length, both read zeros.

>>> import struct
>>> eth = bytes(12) + b"\\x08\\x00"
>>> ip = bytes([0x45, 0, 0, 40]) + bytes(5) + bytes([6]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
>>> tcp = struct.pack("!HHIIBBHHH", 1234, 80, 0, 0, 0x50, 0x02, 0, 0, 0)
>>> decode_packet(eth + ip + tcp, LINKTYPE_ETHERNET).dst_port
80
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.tables import GZIP_MAGIC, is_gzip

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_PPP_SERIAL = 0, 1, 9, 50
LINKTYPE_RAW, LINKTYPE_C_HDLC, LINKTYPE_LINUX_SLL, LINKTYPE_RADIOTAP = 101, 104, 113, 127
LINKTYPE_IPV4, LINKTYPE_IPV6 = 228, 229
# Linux cooked v2: what ``tcpdump -i any`` writes since libpcap 1.10 (nfstream's engine has no case
# for it and drops its packets; decoded here like v1, with the protocol first and a 20-byte header)
LINKTYPE_LINUX_SLL2 = 276
_RAW_ALIASES = {LINKTYPE_RAW, 12, 14}  # DLT_RAW's numbers on Linux and BSD, as some writers store them
_FAST_LINKTYPES = {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4,
                   LINKTYPE_IPV6} | _RAW_ALIASES
_MAX_CAPLEN = 262_144  # libpcap's limit on one record
_IPV6_EXTENSIONS = (0, 43, 44, 60, 135, 59)
_TUNNEL_PORTS = (2152, 37008, 5247)  # GTP-U, TZSP, CAPWAP data
TUNNEL_NONE, TUNNEL_GTP, TUNNEL_CAPWAP, TUNNEL_TZSP = 0, 1, 2, 3
_V4_PREFIX = b"\x00" * 10 + b"\xff\xff"


class Packet(NamedTuple):
    """One decoded packet: addresses as 16 bytes (IPv4 mapped into IPv6), payload bytes, TCP flags
    as the header's flag byte (FIN = 0x01 ... CWR = 0x80)."""

    version: int
    src_ip: bytes
    dst_ip: bytes
    src_port: int
    dst_port: int
    protocol: int
    vlan_id: int
    tunnel_id: int
    payload: int
    flags: int


class _Bytes:
    """A packet's bytes, reading zeros past the end (the engine reads whatever memory follows)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def u8(self, i: int) -> int:
        return self.data[i] if 0 <= i < self.size else 0

    def be16(self, i: int) -> int:
        return (self.u8(i) << 8) | self.u8(i + 1)

    def le16(self, i: int) -> int:
        return self.u8(i) | (self.u8(i + 1) << 8)

    def be32(self, i: int) -> int:
        return (self.be16(i) << 16) | self.be16(i + 2)

    def take(self, i: int, n: int) -> bytes:
        return bytes(self.u8(j) for j in range(i, i + n))


def _ipv6_extensions(p: _Bytes, l3len: int, l4: int, l4len: int, nxt: int) -> tuple[bool, int, int, int]:
    """Walk IPv6 extension headers like the engine (16-bit lengths). Returns (ok, l4, l4len, nxt)."""
    while l3len > 1 and nxt in _IPV6_EXTENSIONS:
        if nxt == 59:
            return False, l4, l4len, nxt
        if nxt == 44:  # fragment header: fixed 8 bytes
            if l4len < 8 or l3len < 5:
                return False, l4, l4len, nxt
            l3len -= 5
            nxt, l4len, l4 = p.u8(l4), l4len - 8, l4 + 8
            continue
        if l4len < 2:
            return False, l4, l4len, nxt
        ehdr_len = (p.u8(l4 + 1) * 8 + 8) & 0xFFFF
        if ehdr_len > l3len:
            return False, l4, l4len, nxt
        l3len -= ehdr_len
        if l4len < ehdr_len:
            return False, l4, l4len, nxt
        nxt, l4len, l4 = p.u8(l4), l4len - ehdr_len, l4 + ehdr_len
    return True, l4, l4len, nxt


def _transport(p: _Bytes, version: int, ip: int, l4_offset: int, l4_len: int, proto: int,
               src: bytes, dst: bytes, vlan_id: int, tunnel_id: int) -> Packet:
    l4 = ip + l4_offset
    sport = dport = payload = flags = 0
    if proto == 6 and l4_len >= 20:
        sport, dport = p.be16(l4), p.be16(l4 + 2)
        payload = max(0, l4_len - 4 * (p.u8(l4 + 12) >> 4))
        flags = p.u8(l4 + 13)
    elif proto == 17 and l4_len >= 8:
        sport, dport = p.be16(l4), p.be16(l4 + 2)
        payload = l4_len - 8 if l4_len > 8 else 0
    elif proto in (1, 58):
        payload = l4_len - 8 if l4_len > 8 else 0
    return Packet(version, src, dst, sport, dport, proto, vlan_id, tunnel_id, payload, flags)


def _network(p: _Bytes, ip: int, v6: bool, vlan_id: int, tunnel_id: int) -> Packet | None:
    """The engine's packet_parse: validity checks, addresses, transport, from the IP header at ``ip``."""
    ipsize = (p.size - ip) & 0xFFFF
    if not v6:
        ihl4 = (p.u8(ip) & 0x0F) * 4
        tot_len = p.be16(ip + 2)
        l4_len = (tot_len - ihl4) & 0xFFFF
        if ipsize < 20 or ihl4 > ipsize or max(tot_len, ipsize) < ihl4 + l4_len:
            return None
        src, dst = _V4_PREFIX + p.take(ip + 12, 4), _V4_PREFIX + p.take(ip + 16, 4)
        return _transport(p, 4, ip, ihl4, l4_len, p.u8(ip + 9), src, dst, vlan_id, tunnel_id)
    if ipsize < 40:
        return None
    plen = p.be16(ip + 4)
    if ipsize < 40 + plen:
        return None
    ok, l4, l4_len, nxt = _ipv6_extensions(p, (ipsize - 40) & 0xFFFF, ip + 40, plen, p.u8(ip + 6))
    if not ok:
        return None
    l4_offset = (l4 - ip) & 0xFFFF
    if l4_offset > ipsize or max(plen, ipsize) < l4_offset + l4_len:
        return None
    return _transport(p, 6, ip, l4_offset, l4_len, nxt, p.take(ip + 8, 16), p.take(ip + 24, 16), vlan_id, tunnel_id)


def decode_packet(data: bytes, linktype: int, decode_tunnels: bool = True) -> Packet | None:
    """One packet decoded as nfstream's engine does (``None``: the engine ignores it)."""
    p = _Bytes(data)
    caplen = p.size
    eth_offset = vlan_id = tunnel_id = 0
    ether_type = ip = 0
    frag_off = proto = 0
    while True:  # datalink check (TZSP comes back here with the encapsulated frame)
        if caplen < eth_offset + 28:
            return None
        if linktype == LINKTYPE_NULL:
            ether_type = 0x0800 if p.be32(eth_offset) == 2 else 0x86DD
            ip = eth_offset + 4
        elif linktype == LINKTYPE_PPP_SERIAL:
            ether_type, ip = p.be16(eth_offset + 2), eth_offset + 4
        elif linktype in (LINKTYPE_PPP, LINKTYPE_C_HDLC):
            if p.u8(0) in (0x0F, 0x8F):
                ether_type, ip = p.be16(eth_offset + 2), eth_offset + 4
            else:
                ether_type, ip = p.be16(eth_offset), eth_offset + 2
        elif linktype == LINKTYPE_IPV4:
            ether_type, ip = 0x0800, eth_offset
        elif linktype == LINKTYPE_IPV6:
            ether_type, ip = 0x86DD, eth_offset
        elif linktype == LINKTYPE_ETHERNET:
            ip = eth_offset + 14
            check = p.be16(eth_offset + 12)
            if check >= 1536:
                ether_type = check
            elif check <= 1500 and check != 0:  # 802.3 length: LLC follows
                if p.u8(ip) == 0xAA or p.u8(ip + 1) == 0xAA:
                    ether_type = p.le16(ip + 6)  # the engine reads SNAP's type without byte swapping
                    ip += 8
                elif p.u8(ip) == 0x42 or p.u8(ip + 1) == 0x42:  # spanning tree
                    return None
        elif linktype == LINKTYPE_LINUX_SLL:
            ether_type, ip = p.be16(eth_offset + 14), eth_offset + 16
        elif linktype == LINKTYPE_LINUX_SLL2:
            ether_type, ip = p.be16(eth_offset), eth_offset + 20
        elif linktype == LINKTYPE_RADIOTAP:
            radio_len = p.le16(eth_offset + 2)
            if p.u8(eth_offset + 16) & 0x50 == 0x50:  # bad FCS
                return None
            if caplen < eth_offset + radio_len + 24:
                return None
            fc = p.le16(eth_offset + radio_len)
            if (fc >> 2) & 0x3 != 2:  # not a data frame
                return None
            to_ds, from_ds = fc & 0x0100, fc & 0x0200
            wifi_len = 26 if (to_ds and not from_ds) or (not to_ds and from_ds) else 0
            if caplen < eth_offset + wifi_len + radio_len + 8:
                return None
            llc = eth_offset + wifi_len + radio_len
            if p.u8(llc) == 0xAA:
                ether_type = p.be16(llc + 6)
            ip = llc + 8
        elif linktype in _RAW_ALIASES:
            ip = eth_offset
        else:
            return None

        while True:  # ether type check
            if ether_type == 0x8100:
                if ip + 4 >= caplen:
                    return None
                vlan_id, ether_type, ip = p.be16(ip) & 0xFFF, p.be16(ip + 2), ip + 4
                while ether_type == 0x8100 and ip + 4 < caplen:
                    vlan_id, ether_type, ip = p.be16(ip) & 0xFFF, p.be16(ip + 2), ip + 4
            elif ether_type in (0x8847, 0x8848):
                if ip + 4 >= caplen:
                    return None
                label = p.be32(ip)
                ether_type, ip = 0x0800, ip + 4
                while not (label >> 8) & 1 and ip + 4 < caplen:
                    label, ip = p.be32(ip), ip + 4
            elif ether_type == 0x8864:
                ether_type, ip = 0x0800, ip + 8
            else:
                break

        restart = False
        while True:  # IP header check (IP-in-IP and CAPWAP come back here)
            if caplen < ip + 20:
                return None
            if ether_type == 0x0800:
                frag_off, proto = p.be16(ip + 6), p.u8(ip + 9)
            version = p.u8(ip) >> 4
            if version == 4:
                ip_len = (p.u8(ip) & 0x0F) * 4
                if p.u8(ip + 9) in (41, 4):
                    ip += ip_len
                    if ip_len > 0:
                        continue
                if frag_off & 0x1FFF:
                    return None
                v6 = False
            elif version == 6:
                if caplen < ip + 40:
                    return None
                proto, ip_len = p.u8(ip + 6), p.be16(ip + 4)
                if caplen < ip + 40 + ip_len:
                    return None
                ok, l4, ip_len, proto = _ipv6_extensions(p, ((caplen - ip) - 40) & 0xFFFF, ip + 40, ip_len, proto)
                if not ok:
                    return None
                if proto in (41, 4) and l4 > 0:
                    ip = l4
                    continue
                v6 = True
            else:
                return None

            if decode_tunnels and proto == 17:
                udp = ip + ip_len
                if caplen < udp + 8:
                    return None
                sport, dport = p.be16(udp), p.be16(udp + 2)
                offset = udp + 8
                if 2152 in (sport, dport) and offset + 8 < caplen:
                    gtp_flags, message_type = p.u8(offset), p.u8(offset + 1)
                    if (gtp_flags & 0xE0) >> 5 == 1 and message_type == 0xFF:
                        offset += 8 + (4 if gtp_flags & 0x07 else 0)
                        broken = False
                        if gtp_flags & 0x04:
                            while offset < caplen:
                                ext_len = p.u8(offset) << 2
                                offset += ext_len
                                if offset >= caplen or ext_len == 0:
                                    broken = True
                                    break
                                if p.u8(offset - 1) == 0:
                                    break
                        if offset < caplen and not broken:
                            tunnel_id, ip = TUNNEL_GTP, offset
                            inner = p.u8(ip) >> 4
                            if inner == 6:
                                if caplen < ip + 40:
                                    return None
                                v6 = True
                            elif inner != 4:
                                return None
                            else:
                                if caplen < ip + 20:
                                    return None
                                v6 = False
                elif 37008 in (sport, dport):
                    if caplen < offset + 4:
                        return None
                    tunnel_id = TUNNEL_TZSP
                    if p.u8(offset) == 1 and p.u8(offset + 1) == 0 and p.be16(offset + 2) == 1:
                        offset += 4
                        if offset < caplen:  # the engine looks at the first tag only
                            tag = p.u8(offset)
                            if tag in (0, 1):
                                tag_len = 1
                            else:
                                if offset + 1 >= caplen:
                                    return None
                                tag_len = p.u8(offset + 1)
                            offset += tag_len
                            if offset >= caplen:
                                return None
                            eth_offset, restart = offset, True
                elif 5247 in (sport, dport):
                    if offset + 1 < caplen and p.u8(offset) & 0x0F == 0:
                        offset += (p.u8(offset + 1) & 0xF8) >> 1
                        if offset + 32 < caplen:
                            offset += 24
                            ether_type, ip, tunnel_id = p.be16(offset + 6), offset + 8, TUNNEL_CAPWAP
                            continue
            break
        if not restart:
            return _network(p, ip, v6, vlan_id, tunnel_id)


# ---------------------------------------------------------------------------------------------
# capture files


@dataclass
class CaptureProblem:
    record: int | None
    message: str
    cut: bool = False  # the file ends inside a record (a file still being written ends so too)
    fatal: bool = True  # reading stopped here (else a record was skipped and reading went on)


@dataclass
class RawPackets:
    """Every packet record of a capture: where its bytes are in ``data`` and its header fields.

    ``time_ms`` is the engine's clock: seconds * 1000 + microseconds // 1000."""

    data: np.ndarray  # the file's bytes (uint8)
    offset: np.ndarray  # int64, start of the packet's bytes
    caplen: np.ndarray  # int64
    wirelen: np.ndarray  # int64
    time_ms: np.ndarray  # int64
    linktype: np.ndarray  # int32
    problems: list[CaptureProblem] = field(default_factory=list)
    end: int = 0  # file offset just past the last whole record read

    def __len__(self) -> int:
        return len(self.offset)

    def packet_bytes(self, i: int) -> bytes:
        start = int(self.offset[i])
        return self.data[start:start + int(self.caplen[i])].tobytes()


class CaptureFormatError(ValueError):
    """The file is not a capture, or its header is unreadable."""


def _load(path: Path) -> tuple[np.ndarray, str | None]:
    """The file's bytes, memory-mapped (read-only; a large capture is never copied), and why they
    end early where that is known. A gzip-compressed capture (``.pcap.gz``) is decompressed into an
    unnamed temporary file first, so memory still holds no copy; a compressed stream that is cut or
    corrupt keeps what came out before the fault (the capture reader then reports its last record)."""
    if not is_gzip(path):
        return _map(path), None
    with tempfile.TemporaryFile() as plain:
        problem = _gunzip(path, plain)
        plain.flush()
        if plain.tell() == 0:
            return np.zeros(0, dtype=np.uint8), problem
        return np.memmap(plain, dtype=np.uint8, mode="r"), problem  # the mapping outlives the file object


def _map(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _gunzip(path: Path, out: Any) -> str | None:
    """Decompress a gzip file (every member) into ``out`` as a stream, so that a cut or corrupt
    stream still gives everything before the fault (``gzip.open`` loses its last buffer); returns
    what went wrong, or None."""
    decompressor, pending = zlib.decompressobj(wbits=31), False
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            while block:
                pending = True
                try:
                    out.write(decompressor.decompress(block))
                except zlib.error as exc:
                    return f"the gzip stream is corrupt after {out.tell():,} bytes ({exc})"
                if not decompressor.eof:
                    break
                block = decompressor.unused_data  # the next member, if any
                decompressor, pending = zlib.decompressobj(wbits=31), False
    if pending:
        out.write(decompressor.flush())
        return f"the gzip stream ends early (cut or corrupt) after {out.tell():,} bytes"
    return None


def _gather_u32(data: np.ndarray, at: np.ndarray, little: bool) -> np.ndarray:
    b = [data[at + k].astype(np.uint32) for k in range(4)]
    if little:
        return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def _time_ms(seconds: np.ndarray, fraction: np.ndarray, per_second: int) -> np.ndarray:
    """libpcap's conversion to microseconds (truncating), then the engine's to milliseconds."""
    seconds = seconds.astype(np.int64)
    fraction = fraction.astype(np.int64)
    if per_second == 1_000_000:
        micros = fraction
    elif per_second > 1_000_000 and per_second % 1_000_000 == 0:
        micros = fraction // (per_second // 1_000_000)
    elif per_second <= 10**12:
        micros = fraction * 1_000_000 // per_second
    else:
        micros = np.floor(fraction.astype(np.float64) * 1e6 / per_second).astype(np.int64)
    return seconds * 1000 + micros // 1000


_CHUNK_RECORDS = 1 << 17
_WINDOW = 80  # bytes of each packet the vectorised decoder looks at: Ethernet, VLAN, IPv6, TCP


def _pcap_chunks(data: np.ndarray, size: int, chunk: int = _CHUNK_RECORDS, start: int = 24,
                 first_record: int = 0) -> Iterator[RawPackets]:
    """The records of a classic pcap from file offset ``start``, ``chunk`` at a time (the last
    chunk carries the problems). Captures joined with ``cat`` read on: a file header where a
    record would start (its magic as a timestamp would be a date past 2050, its time zone a
    record length of 0) begins a new chunk with that file's byte order, time unit and link type."""
    buf = memoryview(data)

    def header(at: int) -> tuple[str, bool, int, Any]:
        head = data[at:at + 24].tobytes()
        little = head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
        endian = "<" if little else ">"
        return (endian, head[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"),
                struct.unpack(endian + "I", head[20:24])[0] & 0xFFFF, struct.Struct(endian + "I").unpack_from)

    endian, nano, linktype, read_caplen = header(0)
    offset, problems, read = start, [], first_record
    last_header = size - 16  # where the last possible record header starts

    def records(starts: list[int]) -> RawPackets:
        at = np.asarray(starts, dtype=np.int64)
        # the four header words of every record in one gather
        words = np.asarray(data)[at[:, None] + np.arange(16)].view(endian + "u4").astype(np.int64)
        return RawPackets(data, at + 16, words[:, 2], words[:, 3],
                          _time_ms(words[:, 0], words[:, 1], 10**9 if nano else 10**6),
                          np.full(len(at), linktype, dtype=np.int32), [], offset)

    while True:
        starts: list[int] = []
        append = starts.append
        stop = False
        # the one sequential step: each record's position depends on the previous record's length
        joined = False
        for _ in range(chunk):
            if offset > last_header:
                stop = True
                break
            caplen = read_caplen(buf, offset + 8)[0]
            following = offset + 16 + caplen
            # a file header read as a record has thiszone (0) or an absurd value as its length:
            # only then look for its magic, so the one sequential loop stays as cheap as it was
            if caplen == 0 or following > size or caplen > _MAX_CAPLEN:
                if offset + 24 <= size and bytes(buf[offset:offset + 4]) in PCAP_MAGICS:
                    joined = True
                    break
                if following > size or caplen > _MAX_CAPLEN:  # not an empty record: the end, or corrupt
                    if caplen > _MAX_CAPLEN:
                        problems.append(CaptureProblem(read + len(starts) + 1, f"record length {caplen} is "
                                                       f"over {_MAX_CAPLEN} bytes; the capture is corrupt from "
                                                       "here, packets before it kept"))
                    stop = True
                    break
            append(offset)
            offset = following
        read += len(starts)
        if joined:  # this file's records so far, then the next file's under its own header
            if starts:
                yield records(starts)
            endian, nano, linktype, read_caplen = header(offset)
            offset += 24
            continue
        if stop:
            if not problems and offset != size:
                problems.append(CaptureProblem(read + 1, "capture ends in the middle of a packet; flows up to "
                                               "the cut kept", cut=True))
            last = records(starts)
            last.problems = problems
            yield last
            return
        yield records(starts)


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    per_second: int = 1_000_000
    offset_s: int = 0


def _interface(body: bytes, endian: str) -> _Interface | None:
    """An interface description block's link type, snap length and clock (None: too short)."""
    if len(body) < 8:
        return None
    linktype, _, snaplen = struct.unpack(endian + "HHI", body[:8])
    iface = _Interface(linktype, snaplen)
    at = 8
    while at + 4 <= len(body):
        code, length = struct.unpack(endian + "HH", body[at:at + 4])
        value = body[at + 4:at + 4 + length]
        if code == 0 or len(value) < length:
            break
        if code == 9 and length >= 1:  # if_tsresol
            iface.per_second = 2 ** (value[0] & 0x7F) if value[0] & 0x80 else 10 ** value[0]
        elif code == 14 and length >= 8:  # if_tsoffset
            iface.offset_s = struct.unpack(endian + "q", value[:8])[0]
        at += 4 + length + (-length % 4)
    return iface


@dataclass
class _PcapngState:
    """What reading a pcapng file further needs from the blocks read so far."""

    interfaces: list[_Interface] = field(default_factory=list)
    section: tuple[str, int] | None = None  # (endian, index of its first interface)
    packets: int = 0


def _read_pcapng(data: np.ndarray, size: int, state: _PcapngState | None = None, start: int = 0,
                 limit: int | None = None) -> RawPackets:
    """The blocks of a pcapng file from offset ``start`` (``state``: what the blocks before it set),
    stopping after ``limit`` packets if given; ``end`` says where the next read starts."""
    buf = memoryview(data)
    state = state or _PcapngState()
    problems: list[CaptureProblem] = []
    interfaces = state.interfaces
    # enhanced packet blocks (nearly every packet) are collected by position and decoded together
    epb_blocks: list[int] = []
    # (first EPB index, endian, first interface index)
    sections: list[tuple[int, str, int]] = [(0, *state.section)] if state.section else []
    other: list[tuple[int, int, int, int, int, int]] = []  # (order, data offset, caplen, wirelen, time_ms, linktype)
    endian = state.section[0] if state.section else "<"
    read2 = struct.Struct(endian + "II").unpack_from
    offset = start
    packets = state.packets
    stop_at = packets + limit if limit else None
    while offset + 12 <= size and (stop_at is None or packets < stop_at):
        block_type, length = read2(buf, offset)
        if block_type == 0x0A0D0D0A:  # section header: its byte-order magic sets the endianness
            magic = bytes(buf[offset + 8:offset + 12])
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else ""
            if not endian:
                problems.append(CaptureProblem(packets + 1, "section header with an unknown byte-order magic"))
                break
            read2 = struct.Struct(endian + "II").unpack_from
            block_type, length = read2(buf, offset)
            sections.append((len(epb_blocks), endian, len(interfaces)))
        elif not sections:
            problems.append(CaptureProblem(None, "pcapng file does not start with a section header"))
            break
        if length < 12 or length % 4 or offset + length > size:
            cut = offset + length > size and length >= 12 and length % 4 == 0
            problems.append(CaptureProblem(packets + 1, "capture ends in the middle of a block; flows up to the cut kept"
                                           if cut else
                                           f"block length {length} is invalid; the capture is corrupt from here", cut))
            break
        if block_type == 6:
            packets += 1
            if length >= 32:
                epb_blocks.append(offset)
            else:
                problems.append(CaptureProblem(packets, f"packet block of {length} bytes is too short; skipped",
                                               fatal=False))
        elif block_type == 1:
            iface = _interface(bytes(buf[offset + 8:offset + length - 4]), endian)
            if iface is None:  # keep the numbering of the interfaces after it
                problems.append(CaptureProblem(packets + 1, "interface block too short; its packets skipped",
                                               fatal=False))
                iface = _Interface(-1, 0)
            interfaces.append(iface)
        elif block_type in (2, 3):  # obsolete packet block, simple packet block: rare, read one by one
            body = bytes(buf[offset + 8:offset + length - 4])
            base = sections[-1][2]
            if block_type == 3 and len(body) >= 4 and len(interfaces) > base:
                iface = interfaces[base]
                (wire,) = struct.unpack(endian + "I", body[:4])
                cap = min(wire, len(body) - 4, iface.snaplen or wire)
                time_ms = iface.offset_s * 1000  # simple packet blocks carry no timestamp
                other.append((offset, offset + 12, cap, wire, time_ms, iface.linktype))
                packets += 1
            elif block_type == 2 and len(body) >= 20:
                index, _, high, low, cap, wire = struct.unpack(endian + "HHIIII", body[:20])
                if base + index < len(interfaces) and cap <= len(body) - 20:
                    iface = interfaces[base + index]
                    ticks = (high << 32) | low
                    time_ms = int(_time_ms(np.array([ticks // iface.per_second + iface.offset_s]),
                                           np.array([ticks % iface.per_second]), iface.per_second)[0])
                    other.append((offset, offset + 28, cap, wire, time_ms, iface.linktype))
                    packets += 1
        offset += length
    if offset < size and not problems and (stop_at is None or packets < stop_at):
        problems.append(CaptureProblem(packets + 1, "capture ends in the middle of a block; flows up to the cut kept",
                                       cut=True))
    if sections:
        state.section = (sections[-1][1], sections[-1][2])
    state.packets = packets

    blocks = np.asarray(epb_blocks, dtype=np.int64)
    n = len(blocks)
    offset_out = blocks + 28
    caplen = np.zeros(n, dtype=np.int64)
    wirelen = np.zeros(n, dtype=np.int64)
    time_ms = np.zeros(n, dtype=np.int64)
    linktype = np.full(n, -1, dtype=np.int32)
    keep = np.zeros(n, dtype=bool)
    bounds = [s[0] for s in sections[1:]] + [n]
    end = offset
    for (first, section_endian, base), stop in zip(sections, bounds):
        if first >= stop:
            continue
        at = blocks[first:stop]
        little = section_endian == "<"
        index = _gather_u32(data, at + 8, little).astype(np.int64) + base
        high, low = _gather_u32(data, at + 12, little), _gather_u32(data, at + 16, little)
        cap = _gather_u32(data, at + 20, little).astype(np.int64)
        block_len = _gather_u32(data, at + 4, little).astype(np.int64)
        caplen[first:stop], wirelen[first:stop] = cap, _gather_u32(data, at + 24, little)
        ok = (index < len(interfaces)) & (cap <= block_len - 32)
        ticks = (high.astype(np.uint64) << np.uint64(32)) | low.astype(np.uint64)
        for number in np.unique(index[ok]):
            iface = interfaces[int(number)]
            rows = np.flatnonzero(ok & (index == number)) + first
            t = ticks[rows - first]
            per = np.uint64(iface.per_second) if iface.per_second < 2**63 else None
            if per is None:
                continue
            time_ms[rows] = _time_ms((t // per).astype(np.int64) + iface.offset_s, (t % per).astype(np.int64),
                                     iface.per_second)
            linktype[rows] = iface.linktype
            keep[rows] = True
    bad = np.flatnonzero(~keep)
    if len(bad):
        problems.append(CaptureProblem(None, f"{len(bad)} packet block(s) name no known interface or overrun "
                                       f"their block (the first at byte {int(blocks[bad[0]])}); skipped", fatal=False))
    order = blocks[keep]
    raw = RawPackets(data, offset_out[keep], caplen[keep], wirelen[keep], time_ms[keep], linktype[keep], problems, end)
    if other:
        extra = np.asarray(other, dtype=np.int64)
        position = np.concatenate([order, extra[:, 0]])
        sort = np.argsort(position, kind="stable")
        raw = RawPackets(data, np.concatenate([raw.offset, extra[:, 1]])[sort],
                         np.concatenate([raw.caplen, extra[:, 2]])[sort], np.concatenate([raw.wirelen, extra[:, 3]])[sort],
                         np.concatenate([raw.time_ms, extra[:, 4]])[sort],
                         np.concatenate([raw.linktype, extra[:, 5].astype(np.int32)])[sort], problems, end)
    return raw


def _pcapng_chunks(data: np.ndarray, size: int, chunk: int) -> Iterator[RawPackets]:
    """The packets of a pcapng file, about ``chunk`` at a time (the last chunk carries the problems)."""
    state, offset = _PcapngState(), 0
    while True:
        raw = _read_pcapng(data, size, state, start=offset, limit=chunk)
        yield raw
        if any(p.fatal for p in raw.problems) or raw.end >= size or raw.end == offset:
            return
        offset = raw.end


PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def capture_chunks(path: str | os.PathLike[str], chunk: int = _CHUNK_RECORDS) -> Iterator[RawPackets]:
    """The packet records of a pcap or pcapng file, about ``chunk`` at a time, in file order. A cut
    or corrupt tail ends the reading there and is listed in the last chunk's ``problems``; a file
    that is no capture, or whose header is cut, raises :class:`CaptureFormatError`."""
    path = Path(path)
    data, problem = _load(path)
    size = len(data)
    magic = data[:4].tobytes()
    if magic in PCAP_MAGICS:
        if size < 24:
            raise CaptureFormatError(f"truncated capture header ({size} of 24 bytes)")
        chunks = _pcap_chunks(data, size, chunk)
    elif magic == PCAPNG_MAGIC:
        if size < 28:
            raise CaptureFormatError(f"truncated section header ({size} bytes)")
        chunks = _pcapng_chunks(data, size, chunk)
    else:
        raise CaptureFormatError(problem or "not a pcap or pcapng capture (unknown magic number)")
    return chunks if problem is None else _noting(chunks, CaptureProblem(None, problem, cut=True))


def _noting(chunks: Iterator[RawPackets], problem: CaptureProblem) -> Iterator[RawPackets]:
    """``chunks`` with ``problem`` added to the last one's problems."""
    last = None
    for raw in chunks:
        if last is not None:
            yield last
        last = raw
    if last is not None:
        last.problems.append(problem)
        yield last


def concatenate_parts(parts: list, kind: type) -> Any:
    """One RawPackets or DecodedPackets from chunks of it (in order)."""
    if len(parts) == 1:
        return parts[0]
    values = {}
    for name in kind.__dataclass_fields__:
        first = getattr(parts[0], name)
        if name == "data":
            values[name] = first
        elif name == "problems":
            values[name] = [p for part in parts for p in part.problems]
        elif name == "slow_path":
            values[name] = sum(part.slow_path for part in parts)
        elif name == "end":
            values[name] = parts[-1].end
        else:
            values[name] = np.concatenate([getattr(part, name) for part in parts])
    return kind(**values)


def read_capture(path: str | os.PathLike[str]) -> RawPackets:
    """Every packet record of a pcap or pcapng file (see :func:`capture_chunks`)."""
    return concatenate_parts(list(capture_chunks(path)), RawPackets)


class CaptureTail:
    """The records appended to a capture file since the last :meth:`read`, for a file another
    program is still writing. A record the writer has not finished yet is read next time; a
    corrupt one ends the reading (listed in ``problems``, once); a file that shrinks (truncated) or
    is replaced by another under its name (a rotating writer) is read from its start.

    >>> tail = CaptureTail("growing.pcap")                 # doctest: +SKIP
    >>> new = tail.read()                                  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file being read
        self._reset()

    def _reset(self) -> None:
        self.offset = 0
        self.records = 0
        self.problems: list[CaptureProblem] = []
        self._kind: str | None = None
        self._pcapng = _PcapngState()
        self._stuck = False

    def read(self, limit: int = _CHUNK_RECORDS) -> RawPackets | None:
        """At most ``limit`` new whole records, or None when there are none (yet)."""
        try:
            info = self.path.stat()
            size, identity = info.st_size, (info.st_dev, info.st_ino)
        except FileNotFoundError:  # moved away by a rotating writer; its successor is read from its start
            size, identity = 0, None
        if size < self.offset or identity != self._identity:  # truncated, or another file under the name
            self._reset()
            self._identity = identity
        if self._kind is None:
            if size < 28:
                return None
            with open(self.path, "rb") as handle:
                magic = handle.read(4)
            if magic in PCAP_MAGICS:
                self._kind, self.offset = "pcap", 24
            elif magic == PCAPNG_MAGIC:
                self._kind = "pcapng"
            elif magic[:2] == GZIP_MAGIC:
                raise CaptureFormatError("a compressed capture does not grow: read it whole (extract, detect)")
            else:
                raise CaptureFormatError("not a pcap or pcapng capture (unknown magic number)")
        if self._stuck or size <= self.offset:
            return None
        data = _map(self.path)
        if self._kind == "pcap":
            raw = next(_pcap_chunks(data, size, chunk=limit, start=self.offset, first_record=self.records))
        else:
            raw = _read_pcapng(data, size, self._pcapng, start=self.offset, limit=limit)
        problems = [p for p in raw.problems if not p.cut]
        self.problems += problems
        self._stuck = any(p.fatal for p in problems)
        self.offset = raw.end
        self.records += len(raw)
        return raw if len(raw) else None


def decode_chunks(chunks: Iterable[RawPackets], decode_tunnels: bool = True) -> Iterator[tuple[RawPackets, DecodedPackets]]:
    """Each chunk of records with its packets decoded. While the records of one chunk are walked
    (Python, holding the GIL), the previous chunk is decoded in a thread (NumPy, which releases the
    GIL in its loops)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepsentry-decode") as pool:
        pending = None
        for raw in chunks:
            future = pool.submit(decode_packets, raw, decode_tunnels)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (raw, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def read_and_decode(path: str | os.PathLike[str], decode_tunnels: bool = True) -> tuple[RawPackets, DecodedPackets]:
    """Every packet record of a capture and its decoding (see :func:`decode_chunks`)."""
    pairs = list(decode_chunks(capture_chunks(path), decode_tunnels))
    return (concatenate_parts([raw for raw, _ in pairs], RawPackets),
            concatenate_parts([decoded for _, decoded in pairs], DecodedPackets))


# ---------------------------------------------------------------------------------------------
# every packet at once


@dataclass
class DecodedPackets:
    """Per packet: ``valid`` (the engine keeps it) and its decoded fields (meaningless where not
    valid). Addresses are two uint64 halves of the 16-byte form (IPv4 mapped into IPv6)."""

    valid: np.ndarray
    version: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    src_port: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray
    vlan_id: np.ndarray
    tunnel_id: np.ndarray
    payload: np.ndarray
    flags: np.ndarray
    slow_path: int = 0  # packets decoded one by one


#: the low 64 bits of an IPv4-mapped IPv6 address (::ffff:a.b.c.d) hold this tag above the address
V4_MAPPED_TAG = np.uint64(0xFFFF) << np.uint64(32)


def _be64(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    out = np.zeros(len(at), dtype=np.uint64)
    for k in range(8):
        out = (out << np.uint64(8)) | data[at + k].astype(np.uint64)
    return out


def decode_packets(raw: RawPackets, decode_tunnels: bool = True) -> DecodedPackets:
    """Decode every packet of ``raw`` (see the module docstring for the split between paths)."""
    n = len(raw)
    data, caplen, start = np.asarray(raw.data), raw.caplen, raw.offset  # a memmap's indexing costs more
    if len(data) < 2:  # nothing here is decodable; the raw reads below just need two bytes to stay in
        data = np.zeros(2, dtype=np.uint8)
    # The first _WINDOW bytes of every packet, copied side by side in one gather: the header fields
    # are then columns of a compact array instead of scattered reads across the file. Packets whose
    # headers reach past the window, or that start too near the end of the file for a full window,
    # take the one-by-one path, as does a packet whose decoding would read past its captured bytes
    # (the engine reads what follows in memory; the one-by-one path reads zeros there).
    if len(data) >= _WINDOW:
        window = sliding_window_view(data, _WINDOW)[np.minimum(start, len(data) - _WINDOW)]
        near_end = start > len(data) - _WINDOW
    else:
        window, near_end = np.zeros((n, _WINDOW), dtype=np.uint8), np.ones(n, dtype=bool)
    flat = window.reshape(-1)
    row_base = np.arange(n, dtype=np.int64) * _WINDOW

    def constant(rel: np.ndarray | int) -> np.ndarray | int:
        if isinstance(rel, np.ndarray) and rel.size and (rel == rel.flat[0]).all():
            return int(rel.flat[0])
        return rel

    def u8(rel: np.ndarray | int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        rel = constant(rel)
        if isinstance(rel, int):
            return window[rows, min(rel, _WINDOW - 1)].astype(np.int64)
        return flat[row_base[rows] + np.minimum(rel, _WINDOW - 1)].astype(np.int64)

    def be16(rel: np.ndarray | int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        rel = constant(rel)
        if isinstance(rel, int):
            column = min(rel, _WINDOW - 2)
            return (window[rows, column].astype(np.int64) << 8) | window[rows, column + 1]
        at = row_base[rows] + np.minimum(rel, _WINDOW - 2)
        return (flat[at].astype(np.int64) << 8) | flat[at + 1]

    def be32(rel: np.ndarray | int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        rel = constant(rel)
        if isinstance(rel, int):
            column = min(rel, _WINDOW - 4)
            return np.ascontiguousarray(window[rows, column:column + 4]).view(">u4").ravel().astype(np.uint64)
        return ((be16(rel, rows) << 16) | be16(rel + 2, rows)).astype(np.uint64)

    def file_be16(at: np.ndarray) -> np.ndarray:  # reads anywhere in the file, not in the window
        at = np.minimum(at, len(data) - 2)
        return (data[at].astype(np.int64) << 8) | data[at + 1]

    present = set(np.unique(raw.linktype).tolist())

    def linktype_is(*kinds: int) -> np.ndarray | bool:
        if not present & set(kinds):
            return False
        return True if present <= set(kinds) else np.isin(raw.linktype, kinds)

    fast = (caplen >= 28) & linktype_is(*_FAST_LINKTYPES)
    slow = np.zeros(n, dtype=bool)
    ip = np.zeros(n, dtype=np.int64)
    ether_type = np.zeros(n, dtype=np.int64)
    eth = linktype_is(LINKTYPE_ETHERNET)
    if eth is not False:
        check = be16(12)
        ether_type = np.where(eth & (check >= 1536), check, ether_type)
        slow |= fast & eth & (check <= 1500) & (check != 0)  # 802.3 length field: LLC follows
        ip = np.where(eth, 14, ip)
    sll = linktype_is(LINKTYPE_LINUX_SLL)
    if sll is not False:
        ether_type = np.where(sll, be16(14), ether_type)
        ip = np.where(sll, 16, ip)
    sll2 = linktype_is(LINKTYPE_LINUX_SLL2)
    if sll2 is not False:
        ether_type = np.where(sll2, be16(0), ether_type)
        ip = np.where(sll2, 20, ip)
    null = linktype_is(LINKTYPE_NULL)
    if null is not False:
        family = (be16(0) << 16) | be16(2)
        ether_type = np.where(null, np.where(family == 2, 0x0800, 0x86DD), ether_type)
        ip = np.where(null, 4, ip)
    for kind, value in ((LINKTYPE_IPV4, 0x0800), (LINKTYPE_IPV6, 0x86DD)):
        mask = linktype_is(kind)
        if mask is not False:
            ether_type = np.where(mask, value, ether_type)
    vlan = np.zeros(n, dtype=np.int64)
    invalid = np.zeros(n, dtype=bool)
    tagged = np.flatnonzero(fast & ~slow & (ether_type == 0x8100))
    if len(tagged):
        invalid[tagged[ip[tagged] + 4 >= caplen[tagged]]] = True
        rows = tagged[ip[tagged] + 4 < caplen[tagged]]
        while len(rows):
            vlan[rows] = be16(ip[rows], rows) & 0xFFF
            ether_type[rows] = be16(ip[rows] + 2, rows)
            ip[rows] += 4
            rows = rows[(ether_type[rows] == 0x8100) & (ip[rows] + 4 < caplen[rows])]
        # a VLAN stack that runs to the capture's end: the engine re-checks it and drops the packet
        invalid |= fast & (ether_type == 0x8100)
    slow |= fast & np.isin(ether_type, [0x8847, 0x8848, 0x8864])
    go = fast & ~slow & ~invalid & (caplen >= ip + 20)
    first = u8(ip)
    version = first >> 4
    is4 = go & (version == 4)
    is6 = go & (version == 6)
    proto_v4 = u8(ip + 9)
    slow |= is4 & ((proto_v4 == 41) | (proto_v4 == 4))
    known_v4 = ether_type == 0x0800  # the engine takes fragment offset and protocol from it only then
    ok4 = is4 & ~slow & ~(known_v4 & ((be16(ip + 6) & 0x1FFF) != 0))
    ihl4 = (first & 0x0F) * 4
    tot_len = be16(ip + 2)
    ipsize = (caplen - ip) & 0xFFFF
    l4_len = (tot_len - ihl4) & 0xFFFF
    ok4 &= (ipsize >= 20) & (ihl4 <= ipsize) & (np.maximum(tot_len, ipsize) >= ihl4 + l4_len)
    protocol = proto_v4.copy()
    l4 = ip + ihl4
    rows6 = np.flatnonzero(is6)
    ok6 = np.zeros(n, dtype=bool)
    if len(rows6):
        plen = be16(ip[rows6] + 4, rows6)
        nxt = u8(ip[rows6] + 6, rows6)
        ip6, cap6 = ip[rows6], caplen[rows6]
        fits = cap6 >= ip6 + 40 + plen
        extension = np.isin(nxt, list(_IPV6_EXTENSIONS) + [41, 4])
        slow[rows6[fits & extension]] = True
        size6 = ipsize[rows6]
        good = fits & ~extension & (size6 >= 40 + plen) & (np.maximum(plen, size6) >= 40 + plen)
        if decode_tunnels:  # the engine looks for tunnel ports at ip + payload length (sic)
            udp6 = good & (nxt == 17)
            port_rows = rows6[udp6]
            at = start[port_rows] + ip6[udp6] + plen[udp6]
            tunnel = np.isin(file_be16(at), _TUNNEL_PORTS) | np.isin(file_be16(at + 2), _TUNNEL_PORTS)
            slow[port_rows[tunnel]] = True
            good[np.flatnonzero(udp6)[tunnel]] = False
        ok6[rows6[good]] = True
        protocol[rows6] = nxt
        l4[rows6] = ip6 + 40
        l4_len[rows6] = plen
    valid = ok4 | ok6
    tcp = valid & (protocol == 6) & (l4_len >= 20)
    udp = valid & (protocol == 17) & (l4_len >= 8)
    # transport headers are read only within the captured bytes here
    short = (tcp & (l4 + 14 > caplen)) | (udp & (l4 + 4 > caplen))
    if decode_tunnels:  # IPv4 UDP: the engine needs the UDP header captured, then checks tunnel ports
        udp4 = ok4 & known_v4 & (proto_v4 == 17)
        invalid_udp = udp4 & (caplen < l4 + 8)
        short &= ~invalid_udp
        valid &= ~invalid_udp
        tcp &= ~invalid_udp
        udp &= ~invalid_udp
    ports = tcp | udp
    first_word, second_word = be16(l4), be16(l4 + 2)
    src_port = np.where(ports & ~short, first_word, 0)
    dst_port = np.where(ports & ~short, second_word, 0)
    if decode_tunnels:
        tunnel = udp4 & ~invalid_udp & (np.isin(first_word, _TUNNEL_PORTS) | np.isin(second_word, _TUNNEL_PORTS))
        short |= tunnel
    slow |= short
    valid &= ~short
    tcp &= ~short
    udp &= ~short
    tcp_bytes = u8(l4 + 12)
    payload = np.where(tcp, np.maximum(0, l4_len - 4 * (tcp_bytes >> 4)), 0)
    payload = np.where(udp | (valid & ((protocol == 1) | (protocol == 58))), np.where(l4_len > 8, l4_len - 8, 0), payload)
    flags = np.where(tcp, u8(l4 + 13), 0)

    src_hi = np.zeros(n, dtype=np.uint64)
    src_lo = np.zeros(n, dtype=np.uint64)
    dst_hi = np.zeros(n, dtype=np.uint64)
    dst_lo = np.zeros(n, dtype=np.uint64)
    v4 = valid & ok4
    src_lo[v4] = (V4_MAPPED_TAG | be32(ip + 12))[v4]
    dst_lo[v4] = (V4_MAPPED_TAG | be32(ip + 16))[v4]
    v6 = np.flatnonzero(valid & ok6)
    if len(v6):
        base = start[v6] + ip[v6]
        src_hi[v6], src_lo[v6] = _be64(data, base + 8), _be64(data, base + 16)
        dst_hi[v6], dst_lo[v6] = _be64(data, base + 24), _be64(data, base + 32)
    out = DecodedPackets(valid, np.where(ok6, 6, 4).astype(np.int8), src_hi, src_lo, dst_hi, dst_lo,
                         src_port, dst_port, protocol, vlan, np.zeros(n, dtype=np.int64), payload, flags)
    slow |= (caplen >= 28) & ~np.asarray(linktype_is(*_FAST_LINKTYPES), dtype=bool)
    # headers that reach past the window were read from garbage: decode those one by one
    reach = np.where(ok6, l4 + 14, np.maximum(ip + 40, l4 + 14))
    slow |= fast & (near_end | (reach > _WINDOW))
    for i in np.flatnonzero(slow):
        _set_one(out, int(i), decode_packet(raw.packet_bytes(int(i)), int(raw.linktype[i]), decode_tunnels))
    out.slow_path = int(slow.sum())
    return out


def _set_one(out: DecodedPackets, i: int, packet: Packet | None) -> None:
    if packet is None:
        out.valid[i] = False
        return
    out.valid[i] = True
    out.version[i] = packet.version
    out.src_hi[i], out.src_lo[i] = int.from_bytes(packet.src_ip[:8], "big"), int.from_bytes(packet.src_ip[8:], "big")
    out.dst_hi[i], out.dst_lo[i] = int.from_bytes(packet.dst_ip[:8], "big"), int.from_bytes(packet.dst_ip[8:], "big")
    out.src_port[i], out.dst_port[i], out.protocol[i] = packet.src_port, packet.dst_port, packet.protocol
    out.vlan_id[i], out.tunnel_id[i] = packet.vlan_id, packet.tunnel_id
    out.payload[i], out.flags[i] = packet.payload, packet.flags
