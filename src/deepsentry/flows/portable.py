"""The ``portable`` flow feature set: features computable both from packet captures (flows as
nfstream meters them, see :mod:`.capture`) and from CICFlowMeter-style CSVs, under one name each, so
a model trained on the CIC-IDS2017 sample (or any CICFlowMeter output) scores flows from a user's
capture.

Units: seconds for durations and inter-arrival times, payload bytes for lengths (CICFlowMeter
measures packet lengths as payload; extraction uses nfstream's payload accounting to match).

Left out on purpose: header lengths, bulk and subflow features, window sizes, active/idle times and
rates (definitions differ between the tools or need per-packet state nfstream does not export);
source ports, addresses and times are identifiers, never features.

>>> sorted(PORTABLE_FEATURES)[:3]
['ack_flags', 'bwd_bytes', 'bwd_iat_max']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import InputError
from .formats import cic_key

PORTABLE_VERSION = 1

# portable name -> (CICFlowMeter column(s), scale to portable units); every spelling of
# formats.CIC_SPELLINGS matches
_CIC: dict[str, tuple[tuple[str, ...], float]] = {
    "duration": (("Flow Duration",), 1e-6),
    "fwd_packets": (("Total Fwd Packet", "Total Fwd Packets"), 1.0),
    "bwd_packets": (("Total Bwd packets", "Total Backward Packets"), 1.0),
    "fwd_bytes": (("Total Length of Fwd Packet", "Total Length of Fwd Packets"), 1.0),
    "bwd_bytes": (("Total Length of Bwd Packet", "Total Length of Bwd Packets"), 1.0),
    "fwd_len_max": (("Fwd Packet Length Max",), 1.0),
    "fwd_len_min": (("Fwd Packet Length Min",), 1.0),
    "fwd_len_mean": (("Fwd Packet Length Mean",), 1.0),
    "fwd_len_std": (("Fwd Packet Length Std",), 1.0),
    "bwd_len_max": (("Bwd Packet Length Max",), 1.0),
    "bwd_len_min": (("Bwd Packet Length Min",), 1.0),
    "bwd_len_mean": (("Bwd Packet Length Mean",), 1.0),
    "bwd_len_std": (("Bwd Packet Length Std",), 1.0),
    "flow_iat_mean": (("Flow IAT Mean",), 1e-6),
    "flow_iat_std": (("Flow IAT Std",), 1e-6),
    "flow_iat_max": (("Flow IAT Max",), 1e-6),
    "flow_iat_min": (("Flow IAT Min",), 1e-6),
    "fwd_iat_mean": (("Fwd IAT Mean",), 1e-6),
    "fwd_iat_max": (("Fwd IAT Max",), 1e-6),
    "bwd_iat_mean": (("Bwd IAT Mean",), 1e-6),
    "bwd_iat_max": (("Bwd IAT Max",), 1e-6),
    "syn_flags": (("SYN Flag Count",), 1.0),
    "ack_flags": (("ACK Flag Count",), 1.0),
    "rst_flags": (("RST Flag Count",), 1.0),
    "psh_flags": (("PSH Flag Count",), 1.0),
    "fin_flags": (("FIN Flag Count",), 1.0),
    "urg_flags": (("URG Flag Count",), 1.0),
    "cwr_flags": (("CWR Flag Count", "CWE Flag Count"), 1.0),
    "ece_flags": (("ECE Flag Count",), 1.0),
    # named apart from the identity columns (dst_port, protocol) that captures also carry
    "service_port": (("Dst Port", "Destination Port"), 1.0),
    "ip_proto": (("Protocol",), 1.0),
}

# portable name -> (nfstream column, scale)
_NFSTREAM: dict[str, tuple[str, float]] = {
    "duration": ("bidirectional_duration_ms", 1e-3),
    "fwd_packets": ("src2dst_packets", 1.0), "bwd_packets": ("dst2src_packets", 1.0),
    "fwd_bytes": ("src2dst_bytes", 1.0), "bwd_bytes": ("dst2src_bytes", 1.0),
    "fwd_len_max": ("src2dst_max_ps", 1.0), "fwd_len_min": ("src2dst_min_ps", 1.0),
    "fwd_len_mean": ("src2dst_mean_ps", 1.0), "fwd_len_std": ("src2dst_stddev_ps", 1.0),
    "bwd_len_max": ("dst2src_max_ps", 1.0), "bwd_len_min": ("dst2src_min_ps", 1.0),
    "bwd_len_mean": ("dst2src_mean_ps", 1.0), "bwd_len_std": ("dst2src_stddev_ps", 1.0),
    "flow_iat_mean": ("bidirectional_mean_piat_ms", 1e-3), "flow_iat_std": ("bidirectional_stddev_piat_ms", 1e-3),
    "flow_iat_max": ("bidirectional_max_piat_ms", 1e-3), "flow_iat_min": ("bidirectional_min_piat_ms", 1e-3),
    "fwd_iat_mean": ("src2dst_mean_piat_ms", 1e-3), "fwd_iat_max": ("src2dst_max_piat_ms", 1e-3),
    "bwd_iat_mean": ("dst2src_mean_piat_ms", 1e-3), "bwd_iat_max": ("dst2src_max_piat_ms", 1e-3),
    "syn_flags": ("bidirectional_syn_packets", 1.0), "ack_flags": ("bidirectional_ack_packets", 1.0),
    "rst_flags": ("bidirectional_rst_packets", 1.0), "psh_flags": ("bidirectional_psh_packets", 1.0),
    "fin_flags": ("bidirectional_fin_packets", 1.0), "urg_flags": ("bidirectional_urg_packets", 1.0),
    "cwr_flags": ("bidirectional_cwr_packets", 1.0), "ece_flags": ("bidirectional_ece_packets", 1.0),
    "service_port": ("dst_port", 1.0), "ip_proto": ("protocol", 1.0),
}
PORTABLE_FEATURES: tuple[str, ...] = tuple(_CIC)


def is_portable(columns: list[str]) -> bool:
    return set(PORTABLE_FEATURES) <= set(columns)


def portable_from_cic(features: pd.DataFrame) -> pd.DataFrame:
    """The portable features of CICFlowMeter-style columns (either naming)."""
    by_key: dict[str, str] = {}
    for c in features.columns:
        by_key.setdefault(cic_key(str(c)), c)
    out = {}
    for name, (candidates, scale) in _CIC.items():
        column = next((by_key[cic_key(c)] for c in candidates if cic_key(c) in by_key), None)
        if column is None:
            raise InputError(f"column {candidates[0]!r} (portable feature {name}) not found",
                             hint="the portable feature set needs CICFlowMeter-style columns")
        out[name] = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=np.float64) * scale
    return pd.DataFrame(out)


#: the nfstream flow attributes the portable features are computed from
NFSTREAM_SOURCES: tuple[str, ...] = tuple(column for column, _ in _NFSTREAM.values())


def portable_from_nfstream(flows: pd.DataFrame) -> pd.DataFrame:
    """The portable features of nfstream flows (statistical analysis on, payload accounting)."""
    return pd.DataFrame({name: flows[column].to_numpy(dtype=np.float64) * scale
                         for name, (column, scale) in _NFSTREAM.items()})
