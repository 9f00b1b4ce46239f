"""Flows from packet captures (pcap, pcapng; a directory of them).

Bidirectional flows exactly as nfstream meters them with deepsentry's settings (idle 120 s, active
1800 s, tunnels decoded, statistics on, payload byte accounting to match CICFlowMeter's packet
lengths), computed by deepsentry's own vectorised reader (:mod:`.packets`, :mod:`.meter`): nfstream
meters packets one at a time in Python and was the bottleneck (BENCHMARKS.md, packet captures);
tests hold the two equal on every shared capture. nfstream still reads live interfaces
(:func:`flow_streamer`). Each flow keeps its 5-tuple and times for alerts, outside the model's
features.

A file that is not a capture, or whose header is cut, is an :class:`InputError` naming it; a capture
cut or corrupt in the middle keeps the flows up to the fault and the fault is reported. Frames that
carry no IP flow (ARP, spanning tree, non-first fragments...) are counted and skipped.

>>> flows = extract_flows(["capture.pcapng"])            # doctest: +SKIP
>>> list(flows.table.columns[:9])                        # doctest: +SKIP
['src_ip', 'dst_ip', 'src_port', 'dst_port', 'protocol', 'first_seen', 'last_seen', 'packets', 'bytes']
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..core.errors import ConfigError, InputError
from ..core.tables import GZIP_MAGIC, BadRecord, ReadReport, input_name, is_pipe, pipe_as_file, relabel_copy
from .meter import FlowMeter
from .packets import PCAP_MAGICS, PCAPNG_MAGIC, CaptureFormatError, capture_chunks, decode_chunks
from .portable import NFSTREAM_SOURCES, PORTABLE_FEATURES, portable_from_nfstream

log = logging.getLogger(__name__)

IDENTITY = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "first_seen", "last_seen", "packets", "bytes"]
IDLE_TIMEOUT_S, ACTIVE_TIMEOUT_S = 120, 1800


def is_capture(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    if path.is_dir():  # also in sub-folders (pcaps/attack/, pcaps/benign/), as extraction reads them
        return any(is_capture(p) for p in path.rglob("*") if p.is_file())
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:2] == GZIP_MAGIC:  # a compressed capture: look at what it holds
        try:
            with gzip.open(path, "rb") as handle:
                magic = handle.read(4)
        except (OSError, EOFError, zlib.error):
            return False
    return magic in PCAP_MAGICS | {PCAPNG_MAGIC}


@dataclass
class CaptureFlows:
    table: pd.DataFrame  # identity columns, then the portable features
    report: ReadReport = field(default_factory=ReadReport)
    packets: int = 0  # packet records read
    skipped_packets: int = 0  # records that carry no IP flow (ARP, spanning tree, fragments, ...)
    #: the path of the capture each flow came from (``table['capture']`` holds its file name)
    sources: np.ndarray | None = None

    @property
    def features(self) -> pd.DataFrame:
        return self.table.drop(columns=IDENTITY + ["capture"])


#: the problem key of files in a folder of captures that are not captures
NOT_A_CAPTURE = "files that are not captures (left out)"


def _captures(paths: Iterable[str | os.PathLike[str]], report: ReadReport) -> list[Path]:
    """The captures ``paths`` stand for (folders walked); the other files of a folder are counted
    and named in ``report``, not read."""
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            found = [p for p in files if is_capture(p)]
            if not found:
                raise InputError("folder holds no pcap or pcapng capture", path=path)
            for other in sorted(set(files) - set(found)):
                report.bad_values[NOT_A_CAPTURE] = report.bad_values.get(NOT_A_CAPTURE, 0) + 1
                report.add(BadRecord(str(other), None, None, "not a pcap or pcapng capture; left out"))
            out += found
        else:
            out.append(path)
    return out


def safe_workers(streamer: object) -> object:
    """Start nfstream's meter processes from a fork server instead of forking this process.

    nfstream forks its meters from the calling process on Linux. ``detect`` and ``watch`` call it
    after loading a model, when TensorFlow and ONNX Runtime thread pools are running; a fork taken
    while another thread holds a lock leaves the child waiting on that lock forever (seen: a test
    run hung in a meter child in ``futex_wait``). A fork server is a fresh single-threaded process
    with nfstream preloaded. The price: like ``spawn``, each meter imports the caller's main module
    again, so a script with heavy top-level imports pays them per capture (the ``deepsentry``
    command's entry module is light; see BENCHMARKS.md, packet captures).
    """
    if os.name != "posix" or not hasattr(streamer, "_mp_context"):  # Windows: nfstream spawns already
        return streamer
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nfstream.meter", "nfstream.streamer"])
    streamer._mp_context = context  # nfstream (pinned) has no argument for it
    return streamer


def flow_streamer(source: str) -> Any:
    """nfstream over a capture file or interface with deepsentry's settings (statistics, IP-layer
    byte accounting, no dissection, the idle/active timeouts, tunnels decoded), meters started
    safely (:func:`safe_workers`). Raises nfstream's ``ValueError`` for a source it cannot open,
    and a :class:`ConfigError` for an interface this machine does not have (nfstream's message
    for that blames the path)."""
    import socket

    import nfstream

    known = [name for _, name in socket.if_nameindex()]
    if not Path(source).is_file() and source not in known:
        raise ConfigError(f"no network interface named {source!r}", hint=f"this machine has: {', '.join(known)}")

    return safe_workers(nfstream.NFStreamer(
        source=source, statistical_analysis=True, accounting_mode=3, n_dissections=0,
        idle_timeout=IDLE_TIMEOUT_S, active_timeout=ACTIVE_TIMEOUT_S, decode_tunnels=True))


def extract_flows(paths: Iterable[str | os.PathLike[str]], progress: Any = None) -> CaptureFlows:
    """Flows of every capture in ``paths`` (files or directories), one table, with a ``capture``
    column naming the file each flow came from. ``progress`` (see :mod:`deepsentry.core.progress`)
    advances once per chunk of about 131k packets."""
    from ..core.progress import NullProgress

    paths = list(paths)
    piped = next((p for p in paths if is_pipe(p)), None)
    if piped is not None:  # a capture piped in (tcpdump -w -, a named pipe): read from a copy
        name = input_name(piped)
        with pipe_as_file(piped) as copy:
            flows = extract_flows([copy if p is piped else p for p in paths], progress)
        flows.report.relabel_copy(copy, name)
        flows.sources = np.array([relabel_copy(s, copy, name) for s in flows.sources], dtype=object)
        return flows
    progress = progress or NullProgress()
    progress.start("reading captures", None)
    try:
        return _extract(paths, progress)
    finally:
        progress.finish()


def _extract(paths: Iterable[str | os.PathLike[str]], progress: Any) -> CaptureFlows:
    report = ReadReport()
    parts, sources = [], []
    packets = skipped = 0
    for path in _captures(paths, report):
        if not path.is_file():
            raise InputError("no such file", path=path)
        try:
            records = capture_chunks(path)
        except CaptureFormatError as exc:
            raise InputError(str(exc), path=path) from None
        report.files.append(str(path))
        # chunk by chunk: memory holds the packets of flows still open, not the whole capture
        meter = FlowMeter(IDLE_TIMEOUT_S * 1000, ACTIVE_TIMEOUT_S * 1000)
        found = []
        for raw, decoded in decode_chunks(records):
            for problem in raw.problems:
                report.malformed_rows += 1
                where = f"packet {problem.record}: " if problem.record else ""
                report.add(BadRecord(str(path), None, None, where + problem.message))
            packets += len(raw)
            skipped += int(len(raw) - decoded.valid.sum())
            found.append(meter.add(decoded, raw.time_ms))
            progress.advance(capture=path.name, packets=packets)
        found.append(meter.flush())
        found = [part for part in found if len(part)]
        if not found:
            report.add(BadRecord(str(path), None, None, "no IP flows in this capture"))
            continue
        flows = pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]
        if len(found) > 1:  # flows in the order they start (their first packets' order)
            flows = flows.iloc[np.argsort(flows["first_packet"].to_numpy(), kind="stable")]
        table = flow_table(flows)
        table["capture"] = path.name
        parts.append(table)
        sources.append(np.full(len(table), str(path), dtype=object))
    if parts:
        table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    else:
        # a quiet hour of a network (ARP and spanning tree only), or a capture with no packet: an
        # empty flow table, as a table with no data rows gives, not an error that stops a pipeline
        log.warning("%s: no IP flows in the capture(s)", ", ".join(report.files))
        table = pd.DataFrame({name: pd.Series(dtype=object if name in ("src_ip", "dst_ip", "capture") else np.float64)
                              for name in (*IDENTITY, *PORTABLE_FEATURES, "capture")})
        sources.append(np.empty(0, dtype=object))
    report.rows = len(table)
    return CaptureFlows(table, report, packets, skipped, np.concatenate(sources))


#: nfstream flow attributes a flow table is built from (identity, then portable features)
NFSTREAM_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys((
    "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bidirectional_first_seen_ms",
    "bidirectional_last_seen_ms", "bidirectional_packets", "bidirectional_bytes", *NFSTREAM_SOURCES)))


def flow_table(flows: pd.DataFrame) -> pd.DataFrame:
    """Identity columns (:data:`IDENTITY`) then the portable features, from nfstream flows."""
    identity = pd.DataFrame({
        "src_ip": flows["src_ip"], "dst_ip": flows["dst_ip"], "src_port": flows["src_port"],
        "dst_port": flows["dst_port"], "protocol": flows["protocol"],
        "first_seen": flows["bidirectional_first_seen_ms"] / 1000.0,
        "last_seen": flows["bidirectional_last_seen_ms"] / 1000.0,
        "packets": flows["bidirectional_packets"], "bytes": flows["bidirectional_bytes"],
    })
    return pd.concat([identity.reset_index(drop=True), portable_from_nfstream(flows).reset_index(drop=True)],
                     axis=1)
