"""Bidirectional flows from decoded packets, metered the way nfstream's meter does, for all packets
of a capture at once.

nfstream's rules, kept exactly: a flow is keyed by its two (address, port) ends in either order,
the protocol, the VLAN and the tunnel; the clock is the latest packet time seen so far (a packet
older than that counts at that time), in milliseconds; a packet ends its flow and starts a new one
when ``time - last_seen >= idle`` or ``time - first_seen >= active``; a flow's source is its first
packet's sender; sizes are payload bytes; standard deviations are sample ones (n - 1), 0 below two
values; inter-arrival statistics are 0 for a one-packet flow.

Grouping is one sort of the packets by key; the idle timeout is a comparison with the previous
packet of the same key; only the rare keys active for longer than the active timeout are split one
packet at a time. Statistics are segment reductions over the sorted packets.

>>> from deepsentry.flows.packets import read_capture, decode_packets   # doctest: +SKIP
>>> raw = read_capture("capture.pcap")                                 # doctest: +SKIP
>>> flows = meter_flows(decode_packets(raw), raw.time_ms)              # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .packets import V4_MAPPED_TAG, DecodedPackets, concatenate_parts

_V4_MAPPED_MASK = np.uint64(0xFFFFFFFF00000000)  # the tag's bits (see packets.V4_MAPPED_TAG)


def _segments(boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.flatnonzero(boundary)
    lengths = np.diff(np.append(starts, len(boundary)))
    return starts, lengths


def _stats(values: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    """min, max, mean and sample standard deviation of consecutive segments of ``values`` with the
    given lengths (all zeros for an empty segment; the deviation is 0 below two values)."""
    m = len(lengths)
    out = {k: np.zeros(m) for k in ("min", "max", "mean", "std")}
    values = values.astype(np.float64)
    starts = np.cumsum(lengths) - lengths
    single = lengths == 1  # most flows of a scan or flood: no reductions needed
    for key in ("min", "max", "mean"):
        out[key][single] = values[starts[single]]
    several = lengths > 1
    if several.any():
        segment_of = np.repeat(several, lengths)
        kept, n = values[segment_of], lengths[several]
        at = np.cumsum(n) - n
        out["min"][several] = np.minimum.reduceat(kept, at)
        out["max"][several] = np.maximum.reduceat(kept, at)
        mean = np.add.reduceat(kept, at) / n
        out["mean"][several] = mean
        squares = np.add.reduceat((kept - np.repeat(mean, n)) ** 2, at)
        out["std"][several] = np.sqrt(squares / (n - 1))
    return out


def _ip_strings(hi: np.ndarray, lo: np.ndarray) -> pd.Series:
    """Addresses as nfstream writes them (dotted IPv4; IPv6 in its shortest form), each distinct
    address formatted once (IPv4 by Arrow, without a Python string per flow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not hi.any() and ((lo & _V4_MAPPED_MASK) == V4_MAPPED_TAG).all():
        unique, inverse = np.unique((lo & np.uint64(0xFFFFFFFF)).astype(np.int64), return_inverse=True)
        octets = [pc.cast(pa.array((unique >> shift) & 255), pa.string()) for shift in (24, 16, 8, 0)]
        names = pc.binary_join_element_wise(*octets, ".")
    else:
        unique, inverse = np.unique(np.stack([hi, lo], axis=1), axis=0, return_inverse=True)
        addresses = [ipaddress.IPv6Address((h << 64) | low) for h, low in unique.tolist()]
        names = pa.array([str(a.ipv4_mapped or a) for a in addresses], type=pa.string())
    taken = names.take(pa.array(inverse.ravel()))
    return pd.Series(pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def meter_flows(packets: DecodedPackets, time_ms: np.ndarray, idle_timeout_ms: int = 120_000,
                active_timeout_ms: int = 1_800_000) -> pd.DataFrame:
    """One row per flow, with nfstream's column names for the attributes deepsentry uses, in the
    order flows start. All packets at once; :class:`FlowMeter` takes them a chunk at a time."""
    keep = np.flatnonzero(packets.valid)
    # the meter's clock never goes back: a late packet counts at the latest time seen
    t = np.maximum.accumulate(time_ms[keep]) if len(keep) else np.zeros(0, dtype=np.int64)
    return _meter(packets, keep, t, idle_timeout_ms, active_timeout_ms).table


@dataclass
class _Metered:
    table: pd.DataFrame  # flows in the order they start
    rows: np.ndarray  # packet indices, flow after flow (the table's order)
    lengths: np.ndarray  # packets per flow


def _meter(packets: DecodedPackets, keep: np.ndarray, t: np.ndarray, idle_timeout_ms: int,
           active_timeout_ms: int) -> _Metered:
    """Flows of the packets ``keep`` (indices into ``packets``, in arrival order) at clock times ``t``."""
    src_hi, src_lo = packets.src_hi[keep], packets.src_lo[keep]
    dst_hi, dst_lo = packets.dst_hi[keep], packets.dst_lo[keep]
    sport, dport = packets.src_port[keep], packets.dst_port[keep]
    # the two ends in a fixed order: (address, port), smaller first
    src_first = (src_hi < dst_hi) | ((src_hi == dst_hi) & ((src_lo < dst_lo) | ((src_lo == dst_lo) & (sport <= dport))))
    a_hi, a_lo, a_port = np.where(src_first, src_hi, dst_hi), np.where(src_first, src_lo, dst_lo), np.where(src_first, sport, dport)
    b_hi, b_lo, b_port = np.where(src_first, dst_hi, src_hi), np.where(src_first, dst_lo, src_lo), np.where(src_first, dport, sport)
    # ports, protocol, VLAN and tunnel in one 54-bit sort key
    small = ((packets.protocol[keep] << 46) | (packets.vlan_id[keep] << 34) | (packets.tunnel_id[keep] << 32)
             | (a_port << 16) | b_port)
    if len(keep) and not (a_hi.any() or b_hi.any()) and (((a_lo | b_lo) & _V4_MAPPED_MASK) == V4_MAPPED_TAG).all():
        # IPv4 only: both addresses fit one 64-bit sort key
        addresses = ((a_lo & np.uint64(0xFFFFFFFF)) << np.uint64(32)) | (b_lo & np.uint64(0xFFFFFFFF))
        columns = [small, addresses]
    else:
        columns = [small, b_lo, b_hi, a_lo, a_hi]
    order = np.lexsort(columns)  # stable: packets of one key stay in time order
    sorted_columns = [c[order] for c in columns]
    n = len(order)
    new_key = np.ones(n, dtype=bool)
    if n:
        new_key[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_columns])
    ts = t[order]
    gap = np.zeros(n, dtype=np.int64)
    gap[1:] = ts[1:] - ts[:-1]
    new_flow = new_key | (gap >= idle_timeout_ms)
    starts, lengths = _segments(new_flow)
    # the active timeout: only segments longer than it can hold more than one flow
    last = ts[starts + lengths - 1] if n else ts
    long = np.flatnonzero(last - ts[starts] >= active_timeout_ms)
    for segment in long:
        first_seen = ts[starts[segment]]
        for i in range(starts[segment] + 1, starts[segment] + lengths[segment]):
            if ts[i] - first_seen >= active_timeout_ms:
                new_flow[i] = True
                first_seen = ts[i]
    if len(long):
        starts, lengths = _segments(new_flow)
    m = len(starts)
    flow_of = np.cumsum(new_flow) - 1
    rows = keep[order]  # packet index (into ``packets``) of each sorted packet
    # Renumber flows in the order they start (ties: the order their first packets were read) and
    # regroup the packets that way, so every per-flow result comes out in that order. The clock
    # never goes back, so that is the order of the flows' first packets: no sort is needed.
    first_rows = rows[starts]
    slot = np.full(len(packets.valid), -1, dtype=np.int64)
    slot[first_rows] = np.arange(m)
    by_start = slot[slot >= 0]  # flow numbers (in key order) by start
    new_lengths = lengths[by_start]
    new_starts = np.cumsum(new_lengths) - new_lengths
    rank = np.empty(m, dtype=np.int64)
    rank[by_start] = np.arange(m)
    position = new_starts[rank[flow_of]] + (np.arange(n) - starts[flow_of])
    regroup = np.empty(n, dtype=np.int64)
    regroup[position] = np.arange(n)
    rows, ts = rows[regroup], ts[regroup]
    src_first = src_first[order][regroup]
    starts, lengths = new_starts, new_lengths
    new_flow = np.zeros(n, dtype=bool)
    new_flow[starts] = True
    flow_of = np.cumsum(new_flow) - 1
    gap = np.zeros(n, dtype=np.int64)
    gap[1:] = ts[1:] - ts[:-1]
    direction = (src_first != src_first[starts][flow_of]).astype(np.int64)
    payload = packets.payload[rows].astype(np.int64)
    flags = packets.flags[rows]
    first_rows = rows[starts]

    ints: dict[str, np.ndarray] = {}
    floats: dict[str, np.ndarray] = {}
    ints["src_port"] = packets.src_port[first_rows]
    ints["dst_port"] = packets.dst_port[first_rows]
    ints["protocol"] = packets.protocol[first_rows]
    ints["ip_version"] = packets.version[first_rows].astype(np.int64)
    ints["vlan_id"] = packets.vlan_id[first_rows]
    ints["tunnel_id"] = packets.tunnel_id[first_rows]
    first_seen = ts[starts]
    last_seen = ts[starts + lengths - 1] if m else first_seen
    ints["bidirectional_first_seen_ms"] = first_seen
    ints["bidirectional_last_seen_ms"] = last_seen
    ints["bidirectional_duration_ms"] = last_seen - first_seen
    ints["bidirectional_packets"] = lengths
    ints["bidirectional_bytes"] = np.add.reduceat(payload, starts) if m else np.zeros(0, dtype=np.int64)
    both = _stats(payload, lengths)
    for stat, name in (("min", "min_ps"), ("max", "max_ps"), ("mean", "mean_ps"), ("std", "stddev_ps")):
        floats[f"bidirectional_{name}"] = both[stat]
    # inter-arrival times: each packet after its flow's first
    piat = _stats(gap[~new_flow], lengths - 1)
    for stat in ("min", "max", "mean", "std"):
        floats[f"bidirectional_{'stddev' if stat == 'std' else stat}_piat_ms"] = piat[stat]

    # per direction: a direction's packets, taken in order, are still grouped by flow
    for d, prefix in ((0, "src2dst"), (1, "dst2src")):
        mask = direction == d
        counts = np.add.reduceat(mask.astype(np.int64), starts) if m else np.zeros(0, dtype=np.int64)
        values, times = payload[mask], ts[mask]
        ints[f"{prefix}_packets"] = counts
        seen = counts > 0
        at = (np.cumsum(counts) - counts)[seen]
        total = np.zeros(m, dtype=np.int64)
        if len(at):
            total[seen] = np.add.reduceat(values, at)
        ints[f"{prefix}_bytes"] = total
        sizes = _stats(values, counts)
        for stat, name in (("min", "min_ps"), ("max", "max_ps"), ("mean", "mean_ps"), ("std", "stddev_ps")):
            floats[f"{prefix}_{name}"] = sizes[stat]
        gaps = np.diff(times, prepend=times[:1])
        later = np.ones(len(times), dtype=bool)
        later[at] = False
        piat = _stats(gaps[later], np.maximum(counts - 1, 0))
        for stat in ("min", "max", "mean", "std"):
            floats[f"{prefix}_{'stddev' if stat == 'std' else stat}_piat_ms"] = piat[stat]
    for bit, name in enumerate(("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr")):
        ints[f"bidirectional_{name}_packets"] = (np.add.reduceat((flags >> bit) & 1, starts) if m
                                                 else np.zeros(0, dtype=np.int64))
    # one 2-D block per dtype: pandas takes them as they are instead of stacking 50 columns
    parts = [pd.DataFrame({"src_ip": _ip_strings(packets.src_hi[first_rows], packets.src_lo[first_rows]),
                           "dst_ip": _ip_strings(packets.dst_hi[first_rows], packets.dst_lo[first_rows])})]
    for block in (ints, floats):
        matrix = np.empty((len(block), m), dtype=next(iter(block.values())).dtype if m else np.float64)
        for i, values in enumerate(block.values()):
            matrix[i] = values
        parts.append(pd.DataFrame(matrix.T, columns=list(block), copy=False))
    return _Metered(pd.concat(parts, axis=1), rows, lengths)


class FlowMeter:
    """Flows from packets given a chunk at a time, with memory bounded by the packets of flows still
    open: each flow is handed out once it is final, as in nfstream (no later packet can join it:
    its last packet is an idle timeout behind the clock, or its first an active timeout).

    Packets are metered again while their flow stays open, so metering waits until as many new
    packets as carried ones have arrived (at least ``batch``): each packet is metered about twice
    at most on average.

    >>> meter = FlowMeter()                                   # doctest: +SKIP
    >>> done = [meter.add(decoded, raw.time_ms) for raw, decoded in chunks] + [meter.flush()]  # doctest: +SKIP
    """

    def __init__(self, idle_timeout_ms: int = 120_000, active_timeout_ms: int = 1_800_000,
                 batch: int = 1 << 20) -> None:
        self.idle_timeout_ms, self.active_timeout_ms, self.batch = idle_timeout_ms, active_timeout_ms, batch
        self._parts: list[tuple[DecodedPackets, np.ndarray, np.ndarray]] = []  # carried first, then new
        self._carried = self._new = 0
        self._clock: int | None = None
        self._seen = 0  # packets given so far, valid or not
        self.open_flows = 0  # flows not yet final when the meter last ran (not yet handed out)

    def add(self, packets: DecodedPackets, time_ms: np.ndarray) -> pd.DataFrame:
        """Take a chunk of packets (in arrival order); return the flows that became final (often none)."""
        keep = np.flatnonzero(packets.valid)
        if len(keep):
            t = np.maximum.accumulate(time_ms[keep])
            if self._clock is not None:
                t = np.maximum(t, self._clock)
            self._clock = int(t[-1])
            self._parts.append((_take(packets, keep), t, self._seen + keep))
            self._new += len(keep)
        self._seen += len(packets.valid)
        if self._new >= max(self._carried, self.batch):
            return self._meter(final_only=True)
        return _empty()

    def flush(self) -> pd.DataFrame:
        """Every flow still open (the end of the capture)."""
        return self._meter(final_only=False)

    def finished(self) -> pd.DataFrame:
        """The flows final by now, metering at once (for a live source: no waiting for a batch)."""
        return self._meter(final_only=True) if self._new else _empty()

    def _meter(self, final_only: bool) -> pd.DataFrame:
        if not self._parts:
            return _empty()
        packets = concatenate_parts([p for p, _, _ in self._parts], DecodedPackets)
        t = np.concatenate([t for _, t, _ in self._parts])
        seq = np.concatenate([s for _, _, s in self._parts])
        self._parts, self._new = [], 0
        metered = _meter(packets, np.arange(len(t)), t, self.idle_timeout_ms, self.active_timeout_ms)
        table = metered.table
        table["first_packet"] = seq[metered.rows[np.cumsum(metered.lengths) - metered.lengths]]
        if final_only and self._clock is not None:
            final = ((table["bidirectional_last_seen_ms"] <= self._clock - self.idle_timeout_ms)
                     | (table["bidirectional_first_seen_ms"] <= self._clock - self.active_timeout_ms)).to_numpy()
        else:
            final = np.ones(len(table), dtype=bool)
        open_rows = np.sort(metered.rows[np.repeat(~final, metered.lengths)])
        self.open_flows = int((~final).sum())
        self._carried = len(open_rows)
        if len(open_rows):
            self._parts = [(_take(packets, open_rows), t[open_rows], seq[open_rows])]
        return table[final].reset_index(drop=True)


def _take(packets: DecodedPackets, rows: np.ndarray) -> DecodedPackets:
    return DecodedPackets(**{name: (getattr(packets, name)[rows] if name != "slow_path" else 0)
                             for name in DecodedPackets.__dataclass_fields__})


def _empty() -> pd.DataFrame:
    return pd.DataFrame()
