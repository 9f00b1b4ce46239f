"""A generated, labelled packet capture of a small network, for the self-contained demo.

One "day" is a pcap of clients browsing HTTP/HTTPS (with DNS lookups first), administrators in SSH
sessions and clients sending mail; an attack day adds, at known times, a port scan, a SYN flood from
spoofed sources, an SSH brute force, DNS tunnelling and a slow HTTP DoS. Everything is derived from
the seed, so a day is reproducible to the byte; no network access is needed.

>>> truth = write_day("day.pcap", seed=1, attacks=True)          # doctest: +SKIP
>>> sorted({a.attack for a in truth})                              # doctest: +SKIP
['dns tunnelling', 'port scan', 'slow http dos', 'ssh brute force', 'syn flood']
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DAY_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04

CLIENTS = [f"10.0.1.{i}" for i in range(10, 40)]
ADMINS = CLIENTS[:3]
DNS_SERVER, MAIL_SERVER, SSH_SERVER, WEB_SERVER = "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.4"
INTERNET_WEB = [f"93.184.{i}.{j}" for i in range(200, 204) for j in (10, 20, 30)]


@dataclass(frozen=True)
class InjectedAttack:
    attack: str
    attacker: str  # the attacking address ("spoofed" for the flood)
    target: str
    start: float
    end: float

    def to_dict(self) -> dict:
        return asdict(self)


class _Writer:
    """Ethernet/IPv4/TCP/UDP frames into a classic little-endian pcap (microsecond stamps)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, bytes]] = []

    def tcp(self, t: float, src: str, sport: int, dst: str, dport: int, flags: int, payload: int = 0,
            seq: int = 0, window: int = 64240) -> None:
        header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, flags, window, 0, 0)
        self._ip(t, src, dst, 6, header + bytes(payload))

    def udp(self, t: float, src: str, sport: int, dst: str, dport: int, payload: int) -> None:
        header = struct.pack("!HHHH", sport, dport, 8 + payload, 0)
        self._ip(t, src, dst, 17, header + bytes(payload))

    def _ip(self, t: float, src: str, dst: str, proto: int, body: bytes) -> None:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
        frame = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + ip + body
        self.records.append((t, frame))

    def save(self, path: Path) -> None:
        self.records.sort(key=lambda r: r[0])
        with open(path, "wb") as handle:
            handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, frame in self.records:
                seconds = int(t)
                handle.write(struct.pack("<IIII", seconds, int(round((t - seconds) * 1e6)) % 1_000_000,
                                         len(frame), len(frame)))
                handle.write(frame)


def _session(w: _Writer, rng: np.random.Generator, t: float, client: str, server: str, port: int,
             request: int, response: int, rtt: float, *, think: float = 0.0, exchanges: int = 1) -> float:
    """A complete TCP conversation: handshake, ``exchanges`` request/response rounds, FIN close."""
    cport = int(rng.integers(32768, 61000))
    w.tcp(t, client, cport, server, port, SYN)
    w.tcp(t + rtt / 2, server, port, client, cport, SYN | ACK)
    t += rtt
    w.tcp(t, client, cport, server, port, ACK)
    for _ in range(exchanges):
        t += think * rng.exponential() if think else 0.001
        for chunk in _chunks(request):
            w.tcp(t, client, cport, server, port, PSH | ACK, chunk)
            t += 0.0005
        t += rtt / 2
        for chunk in _chunks(response):
            w.tcp(t, server, port, client, cport, PSH | ACK if chunk < 1460 else ACK, chunk)
            t += 0.0004
        t += rtt / 2
        w.tcp(t, client, cport, server, port, ACK)
    t += 0.01
    w.tcp(t, client, cport, server, port, FIN | ACK)
    w.tcp(t + rtt / 2, server, port, client, cport, FIN | ACK)
    w.tcp(t + rtt, client, cport, server, port, ACK)
    return t + rtt


def _chunks(size: int) -> list[int]:
    return [1460] * (size // 1460) + ([size % 1460] if size % 1460 else [])


def _benign(w: _Writer, rng: np.random.Generator, start: float, duration: float) -> None:
    t = start
    while t < start + duration:  # web browsing, DNS first
        t += rng.exponential(1.2)
        client = CLIENTS[int(rng.integers(len(CLIENTS)))]
        rtt = float(rng.uniform(0.01, 0.08))
        w.udp(t, client, int(rng.integers(32768, 61000)), DNS_SERVER, 53, int(rng.integers(28, 48)))
        w.udp(t + 0.002, DNS_SERVER, 53, client, int(rng.integers(32768, 61000)), int(rng.integers(60, 140)))
        server = INTERNET_WEB[int(rng.integers(len(INTERNET_WEB)))] if rng.random() < 0.8 else WEB_SERVER
        port = 443 if rng.random() < 0.6 else 80
        _session(w, rng, t + 0.01, client, server, port, int(rng.integers(200, 900)),
                 int(rng.lognormal(7.5, 1.0)), rtt, think=0.5, exchanges=int(rng.integers(1, 4)))
    t = start
    while t < start + duration:  # interactive SSH sessions by administrators
        t += rng.exponential(60)
        _session(w, rng, t, ADMINS[int(rng.integers(len(ADMINS)))], SSH_SERVER, 22, 120, 400, 0.002,
                 think=2.0, exchanges=int(rng.integers(20, 80)))
    t = start
    while t < start + duration:  # mail submission
        t += rng.exponential(20)
        _session(w, rng, t, CLIENTS[int(rng.integers(len(CLIENTS)))], MAIL_SERVER, 587,
                 int(rng.lognormal(8.5, 1.0)), 300, 0.002, exchanges=4)


def _attacks(w: _Writer, rng: np.random.Generator, start: float, duration: float) -> list[InjectedAttack]:
    truth = []
    # port scan: SYN to the first 1024 ports; closed ports answer RST
    t0 = start + 0.15 * duration
    scanner = "203.0.113.7"
    t = t0
    for port in range(1, 1025):
        sport = int(rng.integers(32768, 61000))
        w.tcp(t, scanner, sport, SSH_SERVER, port, SYN)
        if port == 22:
            w.tcp(t + 0.001, SSH_SERVER, port, scanner, sport, SYN | ACK)
            w.tcp(t + 0.002, scanner, sport, SSH_SERVER, port, RST)
        else:
            w.tcp(t + 0.001, SSH_SERVER, port, scanner, sport, RST | ACK)
        t += 0.004
    truth.append(InjectedAttack("port scan", scanner, SSH_SERVER, t0, t + 0.01))
    # SYN flood from spoofed sources at the web server
    t0 = start + 0.35 * duration
    t = t0
    for _ in range(3000):
        src = f"{int(rng.integers(11, 223))}.{int(rng.integers(256))}.{int(rng.integers(256))}.{int(rng.integers(1, 255))}"
        w.tcp(t, src, int(rng.integers(1024, 65535)), WEB_SERVER, 80, SYN, window=512)
        t += 0.002
    truth.append(InjectedAttack("syn flood", "spoofed", WEB_SERVER, t0, t + 0.01))
    # SSH brute force: many short sessions with a failed login each
    t0 = start + 0.55 * duration
    brute = "198.51.100.23"
    t = t0
    for _ in range(250):
        t = _session(w, rng, t, brute, SSH_SERVER, 22, 90, 60, 0.03, exchanges=3) + 0.05
    truth.append(InjectedAttack("ssh brute force", brute, SSH_SERVER, t0, t + 0.01))
    # DNS tunnelling from an infected client: long encoded names, TXT answers
    t0 = start + 0.7 * duration
    infected = CLIENTS[17]
    t = t0
    for _ in range(600):
        sport = int(rng.integers(32768, 61000))
        w.udp(t, infected, sport, DNS_SERVER, 53, int(rng.integers(180, 250)))
        w.udp(t + 0.003, DNS_SERVER, 53, infected, sport, int(rng.integers(200, 480)))
        t += 0.25
    truth.append(InjectedAttack("dns tunnelling", infected, DNS_SERVER, t0, t + 0.01))
    # slow HTTP DoS: many connections trickling header bytes, held open
    t0 = start + 0.85 * duration
    slow = "192.0.2.50"
    end = t0
    for i in range(150):
        cport = 40000 + i
        t = t0 + i * 0.05
        w.tcp(t, slow, cport, WEB_SERVER, 80, SYN)
        w.tcp(t + 0.01, WEB_SERVER, 80, slow, cport, SYN | ACK)
        w.tcp(t + 0.02, slow, cport, WEB_SERVER, 80, ACK)
        for _ in range(12):
            t += 10.0
            w.tcp(t, slow, cport, WEB_SERVER, 80, PSH | ACK, int(rng.integers(5, 20)))
            w.tcp(t + 0.01, WEB_SERVER, 80, slow, cport, ACK)
        end = max(end, t)
    truth.append(InjectedAttack("slow http dos", slow, WEB_SERVER, t0, end + 0.1))
    return truth


def write_day(path: str | Path, *, seed: int, attacks: bool, duration_s: float = 1800.0,
              start: float = DAY_START) -> list[InjectedAttack]:
    """Write one day's capture to ``path``; returns the attacks injected (empty for a clean day)."""
    rng = np.random.default_rng(seed)
    writer = _Writer()
    _benign(writer, rng, start, duration_s)
    truth = _attacks(writer, rng, start, duration_s) if attacks else []
    writer.save(Path(path))
    return truth


def label_flows(table, truth: list[InjectedAttack]) -> np.ndarray:
    """The injected attack of each extracted flow ('' for benign), by attacker address and time."""
    labels = np.full(len(table), "", dtype=object)
    for attack in truth:
        in_time = (table["first_seen"] >= attack.start - 1) & (table["first_seen"] <= attack.end + 1)
        if attack.attacker == "spoofed":
            who = ((table["dst_ip"] == attack.target) & (table["dst_port"] == 80) & (table["packets"] <= 2)) | \
                  ((table["src_ip"] == attack.target) & (table["src_port"] == 80) & (table["packets"] <= 2))
        else:
            who = (table["src_ip"] == attack.attacker) | (table["dst_ip"] == attack.attacker)
        labels[(in_time & who).to_numpy()] = attack.attack
    return labels
