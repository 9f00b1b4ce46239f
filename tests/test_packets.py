"""deepsentry's own capture reader, packet decoder and flow meter (issue 4): held equal to nfstream,
the one-by-one decoder held equal to the vectorised one, and hostile files read without a crash."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import dataset_path
from deepsentry.core.errors import InputError
from deepsentry.flows.capture import NFSTREAM_COLUMNS, extract_flows, flow_streamer
from deepsentry.flows.meter import meter_flows
from deepsentry.flows.packets import (LINKTYPE_ETHERNET, LINKTYPE_RAW, RawPackets, decode_packet, decode_packets,
                                      read_capture)
from deepsentry.flows.synthetic import syn_flood, write_pcap

KEY = ["bidirectional_first_seen_ms", "src_ip", "src_port", "dst_ip", "dst_port", "protocol"]


@pytest.fixture(autouse=True)
def _nfstream_temp_files_stay_out_of_the_checkout(nfstream_cwd):
    """See conftest.nfstream_cwd."""


# --- frames -------------------------------------------------------------------------------------

def ipv4(src: str, dst: str, proto: int, body: bytes, frag: int = 0) -> bytes:
    address = [bytes(int(x) for x in a.split(".")) for a in (src, dst)]
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, frag, 64, proto, 0, *address) + body


def ipv6(src_last: int, dst_last: int, proto: int, body: bytes) -> bytes:
    src = bytes.fromhex("20010db8000000000000000000000000")[:-1] + bytes([src_last])
    dst = bytes.fromhex("20010db8000000000000000000000000")[:-1] + bytes([dst_last])
    return struct.pack("!IHBB", 0x60000000, len(body), proto, 64) + src + dst + body


def tcp(sport: int, dport: int, flags: int = 0x10, payload: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, flags, 1024, 0, 0) + bytes(payload)


def udp(sport: int, dport: int, payload: bytes | int = 0) -> bytes:
    body = payload if isinstance(payload, bytes) else bytes(payload)
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def ether(packet: bytes, ether_type: int = 0x0800, vlan: int | None = None) -> bytes:
    if vlan is not None:
        return bytes(12) + struct.pack("!HHH", 0x8100, vlan, ether_type) + packet
    return bytes(12) + struct.pack("!H", ether_type) + packet


def write_frames(path, frames: list[tuple[float, bytes]], linktype: int = LINKTYPE_ETHERNET) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for t, frame in frames:
        seconds = int(t)
        out.append(struct.pack("<IIII", seconds, round((t - seconds) * 1e6), len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def nfstream_flows(path) -> pd.DataFrame:
    return flow_streamer(str(path)).to_pandas()


def ours(path) -> pd.DataFrame:
    raw = read_capture(path)
    return meter_flows(decode_packets(raw), raw.time_ms)


def assert_same_flows(mine: pd.DataFrame, reference: pd.DataFrame, name: str) -> None:
    mine, reference = (f.sort_values(KEY).reset_index(drop=True) for f in (mine, reference))
    assert len(mine) == len(reference), name
    for column in NFSTREAM_COLUMNS:
        a, b = mine[column].to_numpy(), reference[column].to_numpy()
        if a.dtype.kind in "OUT" or b.dtype.kind in "OUT" or isinstance(mine[column].dtype, pd.StringDtype):
            assert (a.astype(str) == b.astype(str)).all(), (name, column)
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-6, err_msg=f"{name} {column}")


# --- equal to nfstream ----------------------------------------------------------------------------

def test_every_shared_capture_gives_nfstreams_flows_exactly():
    """Flow by flow: same flows, times, packets and bytes per direction, size, inter-arrival and
    flag statistics, nfstream run with the same settings."""
    root = dataset_path("network", "pcaps")
    captures = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(captures) >= 20
    for path in captures:
        assert_same_flows(ours(path), nfstream_flows(path), path.name)


def test_timeouts_clock_and_decoding_edge_cases_match_nfstream(tmp_path):
    frames: list[tuple[float, bytes]] = []
    a, b = "10.0.0.1", "10.0.0.2"
    # idle timeout: 119.999 s apart stays one flow, exactly 120.000 s starts a new one
    for t, flags in ((1000.0, 0x02), (1060.0, 0x12), (1179.999, 0x10), (1299.999, 0x11)):
        frames.append((t, ether(ipv4(a, b, 6, tcp(40000, 80, flags, payload=10)))))
    # active timeout: one UDP packet every 100 s for 4,000 s is cut every 1,800 s
    frames += [(1000.0 + 100 * k, ether(ipv4(a, "10.0.0.3", 17, udp(5000, 53, 30 + k)))) for k in range(41)]
    # both directions, millisecond truncation, a late packet (the clock never goes back)
    frames += [(1500.0009, ether(ipv4(a, "10.0.0.4", 6, tcp(40001, 443, 0x02)))),
               (1500.0011, ether(ipv4("10.0.0.4", a, 6, tcp(443, 40001, 0x12, payload=3)))),
               (1500.5, ether(ipv4(a, "10.0.0.4", 6, tcp(40001, 443, 0x18, payload=700)))),
               (1499.0, ether(ipv4("10.0.0.4", a, 6, tcp(443, 40001, 0x10, payload=1400))))]
    # ICMP, IPv6, VLAN, one address on both ends, one endpoint on both ends
    frames += [(1600.0, ether(ipv4(a, b, 1, bytes([8, 0]) + bytes(62)))),
               (1600.1, ether(ipv4(b, a, 1, bytes([0, 0]) + bytes(62)))),
               (1601.0, ether(ipv6(1, 2, 6, tcp(5555, 22, 0x02)), 0x86DD)),
               (1601.2, ether(ipv6(2, 1, 6, tcp(22, 5555, 0x12, payload=20)), 0x86DD)),
               (1602.0, ether(ipv4(a, b, 17, udp(1234, 4321, 100)), vlan=7)),
               (1602.1, ether(ipv4(b, a, 17, udp(4321, 1234, 50)), vlan=7)),
               (1603.0, ether(ipv4(a, a, 6, tcp(1000, 2000, 0x02)))),
               (1603.1, ether(ipv4(a, a, 6, tcp(2000, 1000, 0x12)))),
               (1604.0, ether(ipv4(a, a, 17, udp(7, 7, 9)))),
               (1604.5, ether(ipv4(a, a, 17, udp(7, 7, 19))))]
    # a GTP-U tunnel carrying TCP, a non-first fragment, ARP: tunnel decoded, the others skipped
    inner = ipv4("172.16.0.1", "172.16.0.2", 6, tcp(33000, 8080, 0x18, payload=40))
    gtp = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 42) + inner
    frames += [(1605.0, ether(ipv4("192.0.2.1", "192.0.2.2", 17, udp(2152, 2152, gtp)))),
               (1606.0, ether(ipv4(a, b, 17, udp(9, 9, 40), frag=0x0010))),
               (1607.0, ether(bytes(28), 0x0806))]
    path = tmp_path / "edges.pcap"
    write_frames(path, frames)
    mine = ours(path)
    assert_same_flows(mine, nfstream_flows(path), "edges")
    assert (mine["tunnel_id"] == 1).sum() == 1 and (mine["vlan_id"] == 7).sum() == 1
    assert len(mine[mine["dst_port"] == 53]) == 3  # 4,000 s of packets, cut at 1,800 s of activity


def test_a_syn_flood_and_linux_cooked_and_raw_captures_match_nfstream(tmp_path):
    flood = tmp_path / "flood.pcap"
    write_pcap(flood, syn_flood(3_000, seed=1))
    assert_same_flows(ours(flood), nfstream_flows(flood), "flood")
    frames = [(10.0 + i, ipv4("10.1.0.1", "10.1.0.9", 6, tcp(40000 + i % 3, 80, 0x18, payload=i))) for i in range(30)]
    raw = tmp_path / "raw.pcap"
    write_frames(raw, frames, linktype=LINKTYPE_RAW)
    assert_same_flows(ours(raw), nfstream_flows(raw), "raw")
    cooked = tmp_path / "cooked.pcap"
    write_frames(cooked, [(t, bytes(14) + b"\x08\x00" + f) for t, f in frames], linktype=113)
    assert_same_flows(ours(cooked), nfstream_flows(cooked), "cooked")
    # Linux cooked v2 (tcpdump -i any since libpcap 1.10): nfstream drops it; ours reads the same flows
    cooked2 = tmp_path / "cooked2.pcap"
    write_frames(cooked2, [(t, b"\x08\x00" + bytes(18) + f) for t, f in frames], linktype=276)
    dropped = nfstream_flows(cooked2)
    assert dropped is None or len(dropped) == 0
    assert_same_flows(ours(cooked2), nfstream_flows(cooked), "cooked v2")


# --- the two decoders ------------------------------------------------------------------------------

@st.composite
def packets(draw) -> tuple[bytes, int]:
    """Mostly well-formed frames with odd fields (options, short lengths, fragments, tunnels,
    extension headers, VLAN stacks, MPLS, truncation), some plain noise."""
    linktype = draw(st.sampled_from([1, 1, 1, 113, 276, 101, 228, 229, 0, 9, 50, 104, 127, 147]))
    proto = draw(st.sampled_from([6, 17, 1, 58, 47, 41, 4]))
    sport = draw(st.sampled_from([80, 2152, 37008, 5247, 12345]))
    dport = draw(st.sampled_from([53, 2152, 443]))
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 0, 0, draw(st.sampled_from([0x50, 0x60, 0x20, 0xF0, 0])),
                         draw(st.integers(0, 255)), 0, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", sport, dport, 8, 0) + bytes([draw(st.sampled_from([0x30, 0x32, 0x01])), 0xFF])
    else:
        l4 = b""
    l4 += bytes(draw(st.integers(0, 40)))
    if draw(st.booleans()):
        ihl = draw(st.sampled_from([5, 5, 6, 4, 0, 15]))
        total = (4 * ihl + len(l4) + draw(st.sampled_from([0, 0, -3, 5, -100]))) & 0xFFFF
        frag = draw(st.sampled_from([0, 0, 0x2000, 0x0010]))
        net = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0, frag, 64, proto, 0,
                          draw(st.binary(min_size=4, max_size=4)), draw(st.binary(min_size=4, max_size=4)))
        net += bytes(max(0, 4 * ihl - 20)) + l4
        ether_type = 0x0800
    else:
        nxt = draw(st.sampled_from([proto, proto, 0, 43, 44, 59, 60]))
        ext = bytes([proto, 0]) + bytes(6) if nxt in (0, 43, 44, 60) else b""
        plen = (len(ext) + len(l4) + draw(st.sampled_from([0, 0, -2, 4]))) & 0xFFFF
        net = struct.pack("!IHBB", 0x60000000, plen, nxt, 64) + draw(st.binary(min_size=32, max_size=32)) + ext + l4
        ether_type = 0x86DD
    ether_type = draw(st.sampled_from([ether_type] * 4 + [0x8100, 0x8847, 0x8864, 0x0806, 1500]))
    link = {1: bytes(12) + struct.pack("!H", ether_type), 113: bytes(14) + struct.pack("!H", ether_type),
            276: struct.pack("!H", ether_type) + bytes(18),
            0: struct.pack(draw(st.sampled_from(["<I", ">I"])), draw(st.sampled_from([2, 24, 30]))),
            9: struct.pack("!H", ether_type), 50: bytes(2) + struct.pack("!H", ether_type),
            104: b"\x0f\x00" + struct.pack("!H", ether_type)}.get(linktype, b"")
    if linktype == 1 and draw(st.booleans()):
        link = bytes(12) + struct.pack("!HHH", 0x8100, draw(st.integers(0, 4095)), ether_type)
    if linktype == 127:
        link = draw(st.binary(max_size=40))
    frame = link + net
    if draw(st.integers(0, 9)) < 3:
        frame = frame[:draw(st.integers(0, len(frame)))]
    if draw(st.integers(0, 9)) == 0:
        frame = draw(st.binary(max_size=80))
    return frame, linktype


@settings(max_examples=60, deadline=None)
@given(st.lists(packets(), min_size=1, max_size=40))
def test_vectorised_decoder_equals_the_one_by_one_decoder(frames):
    """Packets side by side in one buffer, so a fast-path read past a packet's end would see the next
    packet's bytes and show up here."""
    data = b"".join(f for f, _ in frames)
    caplen = np.array([len(f) for f, _ in frames], dtype=np.int64)
    raw = RawPackets(np.frombuffer(data, dtype=np.uint8).copy() if data else np.zeros(0, dtype=np.uint8),
                     np.cumsum(caplen) - caplen, caplen, caplen.copy(), np.zeros(len(frames), dtype=np.int64),
                     np.array([lt for _, lt in frames], dtype=np.int32))
    fast = decode_packets(raw)
    for i, (frame, linktype) in enumerate(frames):
        expected = decode_packet(frame, linktype)
        assert bool(fast.valid[i]) == (expected is not None), (frame.hex(), linktype)
        if expected is None:
            continue
        got = (int(fast.version[i]), int(fast.src_port[i]), int(fast.dst_port[i]), int(fast.protocol[i]),
               int(fast.vlan_id[i]), int(fast.tunnel_id[i]), int(fast.payload[i]), int(fast.flags[i]),
               int(fast.src_hi[i]).to_bytes(8, "big") + int(fast.src_lo[i]).to_bytes(8, "big"),
               int(fast.dst_hi[i]).to_bytes(8, "big") + int(fast.dst_lo[i]).to_bytes(8, "big"))
        assert got == (expected.version, expected.src_port, expected.dst_port, expected.protocol, expected.vlan_id,
                       expected.tunnel_id, expected.payload, expected.flags, expected.src_ip, expected.dst_ip), \
            (frame.hex(), linktype)


# --- pcapng and hostile files ----------------------------------------------------------------------

def pcapng_block(block_type: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("<II", block_type, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def section() -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def interface(linktype: int, tsresol: int | None = None) -> bytes:
    options = b"" if tsresol is None else struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, 0) + options)


def packet_block(index: int, ticks: int, frame: bytes) -> bytes:
    return pcapng_block(6, struct.pack("<IIIII", index, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def test_pcapng_interfaces_with_their_own_link_types_and_clocks(tmp_path):
    """libpcap (so nfstream) silently drops the packets of an interface whose link type differs
    from the first one's; here each packet is read with its own interface's link type and clock."""
    first = ether(ipv4("10.2.0.1", "10.2.0.2", 6, tcp(1111, 80, 0x02)))
    second = ipv4("10.2.0.3", "10.2.0.4", 17, udp(2222, 53, 12))
    blocks = [section(), interface(LINKTYPE_ETHERNET, tsresol=9), interface(LINKTYPE_RAW),
              packet_block(0, 1_700_000_000_123_456_789, first), packet_block(1, 1_700_000_001_500_000, second),
              pcapng_block(3, struct.pack("<I", len(first)) + first),  # a simple packet block: interface 0
              pcapng_block(99, b"custom block, skipped")]
    path = tmp_path / "two.pcapng"
    path.write_bytes(b"".join(blocks))
    raw = read_capture(path)
    assert list(raw.linktype) == [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_ETHERNET] and not raw.problems
    assert list(raw.time_ms[:2]) == [1_700_000_000_123, 1_700_000_001_500]
    flows = extract_flows([path]).table
    assert sorted(flows["dst_port"]) == [53, 80] and flows.loc[flows["dst_port"] == 80, "packets"].item() == 2
    one = tmp_path / "one.pcapng"
    one.write_bytes(b"".join(blocks[:2] + blocks[3:4] + [packet_block(0, 1_700_000_002_000_000_000, first)]))
    assert_same_flows(ours(one), nfstream_flows(one), "nanosecond pcapng")


def test_corrupt_and_cut_captures_keep_the_packets_before_the_fault(tmp_path):
    flood = syn_flood(50, seed=2)
    path = tmp_path / "flood.pcap"
    write_pcap(path, flood)
    data = path.read_bytes()
    record = 16 + 54
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: 24 + 10 * record + 30])
    flows = extract_flows([cut])
    assert flows.packets == 10 and "packet 11: capture ends in the middle" in str(flows.report.examples[0])
    bogus = bytearray(data)
    struct.pack_into("<I", bogus, 24 + 20 * record + 8, 10_000_000)  # record 21 claims 10 MB
    (tmp_path / "bogus.pcap").write_bytes(bytes(bogus))
    flows = extract_flows([tmp_path / "bogus.pcap"])
    assert flows.packets == 20 and flows.report.malformed_rows == 1
    assert "record length 10000000" in str(flows.report.examples[0])
    (tmp_path / "short.pcapng").write_bytes(section()[:20])
    with pytest.raises(InputError, match="short.pcapng"):
        extract_flows([tmp_path / "short.pcapng"])
    arp_only = tmp_path / "arp.pcap"
    write_frames(arp_only, [(1.0, ether(bytes(28), 0x0806))] * 3)
    arp = extract_flows([arp_only])  # no IP flow: an empty table that says why, not an error
    assert len(arp.table) == 0 and arp.packets == arp.skipped_packets == 3
    assert "no IP flows in this capture" in str(arp.report.examples[-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(st.tuples(st.sampled_from([1, 2, 3, 6, 6, 6, 0x0A0D0D0A, 5]), st.binary(max_size=120)),
                       max_size=8),
       tail=st.binary(max_size=16))
def test_fuzz_pcapng_reader(tmp_path, blocks, tail):
    body = section() + interface(LINKTYPE_ETHERNET) + b"".join(pcapng_block(t, b) for t, b in blocks) + tail
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(body)
    try:
        raw = read_capture(path)
        decode_packets(raw)
    except Exception as exc:  # noqa: BLE001  (the reader's own error type only)
        assert type(exc).__name__ == "CaptureFormatError", exc


def test_reading_in_chunks_equals_reading_at_once(tmp_path):
    from deepsentry.flows.packets import capture_chunks, read_and_decode

    path = tmp_path / "flood.pcap"
    write_pcap(path, syn_flood(1_000, seed=3))
    whole = read_capture(path)
    chunks = list(capture_chunks(path, chunk=64))
    assert len(chunks) == 16 and sum(len(c) for c in chunks) == len(whole) == 1_000
    np.testing.assert_array_equal(np.concatenate([c.offset for c in chunks]), whole.offset)
    np.testing.assert_array_equal(np.concatenate([c.time_ms for c in chunks]), whole.time_ms)
    raw, decoded = read_and_decode(path)
    assert decoded.valid.all() and (decoded.dst_port == 80).all() and len(raw) == 1_000
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:-10])
    last = list(capture_chunks(cut, chunk=64))[-1]
    assert [p.record for p in last.problems] == [1_000]  # numbered across chunks


def test_flows_metered_chunk_by_chunk_equal_all_at_once_with_bounded_memory(tmp_path):
    from deepsentry.flows.meter import FlowMeter
    from deepsentry.flows.packets import capture_chunks

    # 60 short conversations 200 s apart (each ends before the next starts), then a long UDP flow
    # cut by the active timeout, interleaved with a scan
    frames = []
    for k in range(60):
        client = f"10.3.{k // 250}.{k % 250 + 1}"
        for i in range(5):
            forward = i % 2 == 0
            packet = tcp(40000 + k, 443, 0x18, payload=100 * i) if forward else tcp(443, 40000 + k, 0x10)
            frames.append((1000.0 + 200 * k + 0.1 * i,
                           ether(ipv4(client, "10.3.9.9", 6, packet) if forward else ipv4("10.3.9.9", client, 6, packet))))
    frames += [(13000.0 + 90 * k, ether(ipv4("10.4.0.1", "10.4.0.2", 17, udp(5000, 5001, 20)))) for k in range(50)]
    frames += [(13000.5 + 90 * k, ether(ipv4("10.4.0.66", "10.4.0.2", 6, tcp(666, k + 1, 0x02)))) for k in range(50)]
    path = tmp_path / "day.pcap"
    write_frames(path, frames)
    whole = ours(path)
    meter = FlowMeter(batch=10)
    parts, carried = [], []
    for raw in capture_chunks(path, chunk=10):
        parts.append(meter.add(decode_packets(raw), raw.time_ms))
        carried.append(meter._carried)
    parts.append(meter.flush())
    chunked = pd.concat([p for p in parts if len(p)], ignore_index=True)
    assert_same_flows(chunked, whole, "chunked")
    assert len(whole) == 60 + 3 + 50 and max(carried[:30]) <= 10  # the conversations never pile up
    table = extract_flows([path]).table  # the same, through the capture reader's own chunks
    assert len(table) == len(whole) and (table["packets"].to_numpy() == whole["bidirectional_packets"]).all()


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_a_growing_capture_read_piece_by_piece_gives_every_flow_once(tmp_path, kind):
    from deepsentry.flows.meter import FlowMeter
    from deepsentry.flows.packets import CaptureTail

    frames = [(1000.0 + 30 * k + 0.1 * i, ether(ipv4(f"10.5.0.{k % 200 + 1}", "10.5.1.1", 6,
                                                  tcp(20000 + k, 80, 0x18, payload=10 * i))))
              for k in range(40) for i in range(3)]
    whole = tmp_path / f"whole.{kind}"
    if kind == "pcap":
        write_frames(whole, frames)
    else:
        whole.write_bytes(section() + interface(LINKTYPE_ETHERNET)
                          + b"".join(packet_block(0, round(t * 1e6), f) for t, f in frames))
    data = whole.read_bytes()
    growing = tmp_path / f"growing.{kind}"
    tail, meter, seen = CaptureTail(growing), FlowMeter(), []
    # the writer's pieces end anywhere, mid-record too
    for cut in [10, 30, 200, 1001, 2500, 2501, 4000, len(data) - 7, len(data)]:
        growing.write_bytes(data[:cut])
        while (raw := tail.read(limit=7)) is not None:  # several reads when much was appended
            seen.append(meter.add(decode_packets(raw), raw.time_ms))
        seen.append(meter.finished())
    assert sum(len(s) for s in seen) > 0  # flows ended while the file was still growing
    seen.append(meter.flush())
    flows = pd.concat([s for s in seen if len(s)], ignore_index=True)
    assert_same_flows(flows, ours(whole), kind)
    assert tail.records == len(frames) and not tail.problems
    growing.write_bytes(data + struct.pack("<IIII", 0, 0, 10_000_000, 10_000_000) if kind == "pcap"
                        else data + struct.pack("<II", 6, 7) + bytes(8))  # then a corrupt record
    assert tail.read() is None and tail.problems and tail.read() is None
    growing.write_bytes(data[:2600])  # replaced by a new, shorter capture: read from its start
    raw = tail.read()
    assert raw is not None and tail.records == len(raw) and not tail.problems
    while tail.read() is not None:
        pass
    # a rotating writer moves the capture away and starts another under the name, which has grown
    # past the old one's end by the next poll: the new file is read from its start, not from there
    growing.rename(tmp_path / f"rotated.{kind}")
    assert tail.read() is None
    growing.write_bytes(data)
    assert sum(len(raw) for raw in iter(tail.read, None)) == len(frames)
    moved = tmp_path / f"moved.{kind}"
    growing.rename(moved)
    growing.write_bytes(data)  # replaced between two polls, never missing
    assert sum(len(raw) for raw in iter(tail.read, None)) == len(frames)


def test_extraction_reports_progress_per_chunk(tmp_path):
    calls = []

    class Recorder:
        def start(self, description, total):
            calls.append(("start", description))

        def advance(self, **info):
            calls.append(("advance", info["packets"]))

        def finish(self):
            calls.append(("finish",))

    path = tmp_path / "flood.pcap"
    write_pcap(path, syn_flood(500, seed=4))
    extract_flows([path], progress=Recorder())
    assert calls[0][0] == "start" and ("advance", 500) in calls and calls[-1] == ("finish",)


def pcap_records(source: bytes) -> list[tuple[int, int, int, bytes]]:
    """(seconds, microseconds, wire length, bytes) of each record of a little-endian pcap."""
    records, at = [], 24
    while at + 16 <= len(source):
        seconds, micros, caplen, wirelen = struct.unpack("<IIII", source[at:at + 16])
        records.append((seconds, micros, wirelen, source[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return records


def test_nanosecond_big_endian_and_cut_short_captures_match_nfstream(tmp_path):
    """The same packets written as a nanosecond pcap, a big-endian pcap, and with snap lengths that
    cut payloads (54 bytes) or TCP headers (40 bytes: every packet takes the one-by-one path)."""
    source = dataset_path("network", "pcaps", "attack", "chrissanders_ftp-crack.pcap").read_bytes()
    header = struct.unpack("<IHHiIII", source[:24])
    records = pcap_records(source)
    variants = {
        "nano": struct.pack("<IHHiIII", 0xA1B23C4D, *header[1:]) + b"".join(
            struct.pack("<IIII", s, us * 1000 + 999, len(b), w) + b for s, us, w, b in records),
        "big": struct.pack(">IHHiIII", 0xA1B2C3D4, *header[1:]) + b"".join(
            struct.pack(">IIII", s, us, len(b), w) + b for s, us, w, b in records)}
    for snap in (54, 40):
        variants[f"snap{snap}"] = struct.pack("<IHHiIII", *header[:5], snap, header[6]) + b"".join(
            struct.pack("<IIII", s, us, len(b[:snap]), w) + b[:snap] for s, us, w, b in records)
    for name, data in variants.items():
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(data)
        assert_same_flows(ours(path), nfstream_flows(path), name)


def test_pcap_files_joined_with_cat_read_as_one_capture(tmp_path):
    """`cat a.pcap b.pcap` leaves b's file header where a record would start: it was read as a
    record of absurd length and every packet after it was lost. Each part keeps its own byte
    order and time unit."""
    original = dataset_path("network", "pcaps", "attack", "chrissanders_ftp-crack.pcap")
    source = original.read_bytes()
    header = struct.unpack("<IHHiIII", source[:24])
    records = pcap_records(source)
    half = len(records) // 2
    little = source[:24] + b"".join(struct.pack("<IIII", s, us, len(b), w) + b for s, us, w, b in records[:half])
    big_nano = struct.pack(">IHHiIII", 0xA1B23C4D, *header[1:]) + b"".join(
        struct.pack(">IIII", s, us * 1000, len(b), w) + b for s, us, w, b in records[half:])
    joined = tmp_path / "joined.pcap"
    joined.write_bytes(little + big_nano)
    flows = extract_flows([joined])
    assert flows.packets == len(records) and not flows.report.malformed_rows
    pd.testing.assert_frame_equal(ours(joined), ours(original))


def test_pcapng_read_in_chunks_and_a_skipped_block_does_not_stop_the_reading(tmp_path):
    from deepsentry.flows.packets import capture_chunks

    frame = ether(ipv4("10.6.0.1", "10.6.0.2", 17, udp(1000, 2000, 8)))
    blocks = [section(), interface(LINKTYPE_ETHERNET)]
    blocks += [packet_block(0, (1_700_000_000 + k) * 1_000_000, frame) for k in range(25)]
    blocks += [packet_block(7, 1_700_000_030_000_000, frame)]  # names an interface that does not exist
    blocks += [packet_block(0, (1_700_000_031 + k) * 1_000_000, frame) for k in range(25)]
    path = tmp_path / "skip.pcapng"
    path.write_bytes(b"".join(blocks))
    chunks = list(capture_chunks(path, chunk=10))
    assert [len(c) for c in chunks] == [10, 10, 9, 10, 10, 1] and sum(len(c) for c in chunks) == 50
    problems = [p for c in chunks for p in c.problems]
    assert len(problems) == 1 and not problems[0].fatal and "no known interface" in problems[0].message
    flows = extract_flows([path])
    assert flows.packets == 50 and flows.table["packets"].sum() == 50
