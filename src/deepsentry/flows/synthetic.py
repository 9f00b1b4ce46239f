"""Large synthetic captures written at NumPy speed, for extraction benchmarks and tests: a capture
of a few long TCP flows, and a SYN flood where nearly every packet opens a flow.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "flood.pcap"
>>> write_pcap(path, syn_flood(1_000, seed=0))
>>> path.stat().st_size
70024
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class PacketColumns:
    """One row per packet: IPv4/TCP or UDP over Ethernet (the payload is zeros)."""

    time_s: np.ndarray  # float64
    src_ip: np.ndarray  # uint32
    dst_ip: np.ndarray
    src_port: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray  # 6 or 17
    tcp_flags: np.ndarray
    payload: np.ndarray  # payload bytes


def _put(buffer: np.ndarray, at: np.ndarray, values: np.ndarray, size: int) -> None:
    values = values.astype(np.uint64)
    for k in range(size):  # big-endian, network order
        buffer[at + k] = ((values >> np.uint64(8 * (size - 1 - k))) & np.uint64(0xFF)).astype(np.uint8)


def write_pcap(path: str | os.PathLike[str], packets: PacketColumns) -> None:
    """Write ``packets`` as a classic little-endian pcap (Ethernet, microsecond times)."""
    n = len(packets.time_s)
    tcp = packets.protocol == 6
    transport = np.where(tcp, 20, 8)
    frame = 14 + 20 + transport + packets.payload
    offsets = 24 + np.concatenate([[0], np.cumsum(16 + frame)[:-1]]).astype(np.int64)
    buffer = np.zeros(24 + int((16 + frame).sum()), dtype=np.uint8)
    buffer[:24] = np.frombuffer(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"), dtype=np.uint8)
    seconds = np.floor(packets.time_s).astype(np.int64)
    micros = np.round((packets.time_s - seconds) * 1e6).astype(np.int64).clip(0, 999_999)
    for field, values in ((0, seconds), (4, micros), (8, frame), (12, frame)):
        little = values.astype("<u4").view(np.uint8).reshape(n, 4)
        for k in range(4):
            buffer[offsets + field + k] = little[:, k]
    eth = offsets + 16
    _put(buffer, eth + 12, np.full(n, 0x0800), 2)
    ip = eth + 14
    buffer[ip] = 0x45
    _put(buffer, ip + 2, 20 + transport + packets.payload, 2)
    buffer[ip + 8] = 64
    buffer[ip + 9] = packets.protocol.astype(np.uint8)
    _put(buffer, ip + 12, packets.src_ip, 4)
    _put(buffer, ip + 16, packets.dst_ip, 4)
    l4 = ip + 20
    _put(buffer, l4, packets.src_port, 2)
    _put(buffer, l4 + 2, packets.dst_port, 2)
    t = np.flatnonzero(tcp)
    buffer[l4[t] + 12] = 5 << 4
    buffer[l4[t] + 13] = packets.tcp_flags[t].astype(np.uint8)
    u = np.flatnonzero(~tcp)
    _put(buffer, l4[u] + 4, 8 + packets.payload[u], 2)
    buffer.tofile(os.fspath(path))


def long_flows(packets: int, flows: int = 10, seed: int = 0) -> PacketColumns:
    """``flows`` TCP bulk transfers interleaved: full-size segments one way, ACKs back, 1 ms apart
    (1M packets: about 17 minutes, inside nfstream's timeouts)."""
    rng = np.random.default_rng(seed)
    flow = rng.integers(0, flows, packets)
    reply = rng.random(packets) < 0.33
    client = (10 << 24) + 1 + flow
    server = np.full(packets, (10 << 24) + (1 << 16) + 1)
    cport, sport = 40_000 + flow, np.full(packets, 443)
    return PacketColumns(
        time_s=1_700_000_000 + np.arange(packets) * 1e-3,
        src_ip=np.where(reply, server, client), dst_ip=np.where(reply, client, server),
        src_port=np.where(reply, sport, cport), dst_port=np.where(reply, cport, sport),
        protocol=np.full(packets, 6), tcp_flags=np.full(packets, 0x10),
        payload=np.where(reply, 0, rng.integers(500, 1461, packets)))


def syn_flood(packets: int, seed: int = 0) -> PacketColumns:
    """Spoofed SYNs to one web server, 10 us apart: nearly every packet is a new flow."""
    rng = np.random.default_rng(seed)
    return PacketColumns(
        time_s=1_700_000_000 + np.arange(packets) * 1e-5,
        src_ip=rng.integers(1 << 24, 223 << 24, packets), dst_ip=np.full(packets, (192 << 24) + (168 << 16) + 1),
        src_port=rng.integers(1024, 65536, packets), dst_port=np.full(packets, 80),
        protocol=np.full(packets, 6), tcp_flags=np.full(packets, 0x02), payload=np.zeros(packets, dtype=np.int64))
