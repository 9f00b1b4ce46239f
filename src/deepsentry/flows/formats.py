"""Known flow-record formats: their columns, labels and identifier columns.

Each format is detected from the header (or, for header-less NSL-KDD and raw UNSW-NB15, from the
shape of the first record) or named explicitly with ``--format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NSL_KDD_COLUMNS = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)

# The raw UNSW-NB15 CSVs (UNSW-NB15_1.csv ... _4.csv) have no header; these are the names of
# NUSW-NB15_features.csv. Normal rows leave attack_cat empty.
UNSW_NB15_RAW_COLUMNS = (
    "srcip", "sport", "dstip", "dsport", "proto", "state", "dur", "sbytes", "dbytes", "sttl", "dttl",
    "sloss", "dloss", "service", "Sload", "Dload", "Spkts", "Dpkts", "swin", "dwin", "stcpb", "dtcpb",
    "smeansz", "dmeansz", "trans_depth", "res_bdy_len", "Sjit", "Djit", "Stime", "Ltime", "Sintpkt",
    "Dintpkt", "tcprtt", "synack", "ackdat", "is_sm_ips_ports", "ct_state_ttl", "ct_flw_http_mthd",
    "is_ftp_login", "ct_ftp_cmd", "ct_srv_src", "ct_srv_dst", "ct_dst_ltm", "ct_src_ltm",
    "ct_src_dport_ltm", "ct_dst_sport_ltm", "ct_dst_src_ltm", "attack_cat", "Label",
)
# The raw files' category names (with their spelling variants) -> the partitioned files' 10 classes.
UNSW_NB15_CLASSES: dict[str, str] = {
    "": "Normal", "normal": "Normal", "analysis": "Analysis", "backdoor": "Backdoor", "backdoors": "Backdoor",
    "dos": "DoS", "exploits": "Exploits", "fuzzers": "Fuzzers", "generic": "Generic",
    "reconnaissance": "Reconnaissance", "shellcode": "Shellcode", "worms": "Worms",
}
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")

# The 5-class taxonomy of the KDD'99 / NSL-KDD attack names, including the 17 names that occur
# only in the test files (apache2, mailbomb, processtable, udpstorm; mscan, saint; httptunnel,
# named, sendmail, snmpgetattack, snmpguess, worm, xlock, xsnoop; ps, sqlattack, xterm).
NSL_KDD_CLASSES: dict[str, str] = {
    "normal": "normal",
    **dict.fromkeys(("back", "land", "neptune", "pod", "smurf", "teardrop", "apache2", "mailbomb",
                     "processtable", "udpstorm"), "DoS"),
    **dict.fromkeys(("ipsweep", "nmap", "portsweep", "satan", "mscan", "saint"), "Probe"),
    **dict.fromkeys(("ftp_write", "guess_passwd", "imap", "multihop", "phf", "spy", "warezclient",
                     "warezmaster", "httptunnel", "named", "sendmail", "snmpgetattack", "snmpguess",
                     "worm", "xlock", "xsnoop"), "R2L"),
    **dict.fromkeys(("buffer_overflow", "loadmodule", "perl", "rootkit", "ps", "sqlattack",
                     "xterm"), "U2R"),
}

NETFLOW_MARKERS = ("IPV4_SRC_ADDR", "L4_DST_PORT", "IN_BYTES")
CIC_MARKERS = ("flow duration", "label")
UNSW_MARKERS = ("sttl", "attack_cat")

# Identifier columns: they name a flow, a host or a moment, not a behaviour. Matched on the
# normalised column name (lower case, spaces and punctuation removed).
_IDENTIFIER_NAMES = {
    "id", "rowid", "index", "flowid", "srcip", "dstip", "sourceip", "destinationip", "saddr",
    "daddr", "srcaddr", "dstaddr", "ipv4srcaddr", "ipv4dstaddr", "ipv6srcaddr", "ipv6dstaddr",
    "timestamp", "stime", "ltime", "ts", "time", "date", "datetime", "starttime", "endtime",
    "flowstartmilliseconds", "flowendmilliseconds", "firstseen", "lastseen",
    "srcport", "sport", "sourceport", "l4srcport", "uid", "attemptedcategory",
    # a saved pandas index (CIC-DDoS2019's 'Unnamed: 0') and Bot-IoT's packet sequence id: row
    # numbers, ordered by capture and so by attack
    "unnamed0", "pkseqid",
}


# Columns that hold a label in some published flow data set. When one of them is the label, the
# others are read as labels too (never as features); in a generic CSV where the label is not named,
# a lone one of them is taken as the label.
LABEL_TWINS = frozenset({
    "label", "labels", "attack", "class", "attackcat", "category", "subcategory", "type", "attacktype",
    "detailedlabel", "trafficcategory", "traffictype",
})


def is_default_benign(value: str) -> bool:
    """A label that means benign when none was named: normal/benign in any case or spacing, with an
    optional 'traffic' suffix, or the number 0.

    >>> [is_default_benign(v) for v in ("BENIGN", "BenignTraffic", "0.0", "DoS", "1")]
    [True, True, True, False, False]
    """
    key = normalise_name(str(value)).removesuffix("traffic")
    if key in ("normal", "benign"):
        return True
    try:
        return float(value) == 0
    except ValueError:
        return False


def normalise_name(name: str) -> str:
    """``' Flow ID'`` -> ``'flowid'``: the key used to recognise columns across naming variants."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def is_identifier(name: str) -> bool:
    """True for columns that identify a record (addresses, flow ids, timestamps, source ports)."""
    return normalise_name(name) in _IDENTIFIER_NAMES


@dataclass(frozen=True)
class FlowFormat:
    """How to read one flow-record format."""

    name: str
    #: column holding the class name (attack type); None when there is none
    label_column: str | None
    #: label values that mean benign traffic (compared case-insensitively)
    benign_labels: tuple[str, ...] = ("normal", "benign", "0")
    #: columns that are labels, never features (e.g. a binary twin of the class column)
    other_label_columns: tuple[str, ...] = ()
    #: column holding a record id, used as the output ``id``
    id_column: str | None = None
    #: label name -> class name, for formats whose raw labels are finer than their classes
    class_map: dict[str, str] = field(default_factory=dict)
    header: bool = True
    #: column names of a header-less format
    columns: tuple[str, ...] = ()


FORMATS: dict[str, FlowFormat] = {
    "nsl-kdd": FlowFormat(
        name="nsl-kdd", label_column="label", other_label_columns=("difficulty",),
        class_map=NSL_KDD_CLASSES, header=False, columns=NSL_KDD_COLUMNS,
    ),
    "unsw-nb15-raw": FlowFormat(
        name="unsw-nb15-raw", label_column="attack_cat", other_label_columns=("Label",),
        class_map=UNSW_NB15_CLASSES, header=False, columns=UNSW_NB15_RAW_COLUMNS,
    ),
    "unsw-nb15": FlowFormat(
        name="unsw-nb15", label_column="attack_cat", other_label_columns=("label",), id_column="id",
    ),
    "cic-ids2017": FlowFormat(
        name="cic-ids2017", label_column="Label", other_label_columns=("Attempted Category",),
        id_column="id",
    ),
    "netflow": FlowFormat(
        name="netflow", label_column="Attack", other_label_columns=("Label",),
    ),
    # Weka ARFF (NSL-KDD's .arff files: the 41 features and a binary 'class', normal/anomaly)
    "arff": FlowFormat(name="arff", label_column="class"),
    "csv": FlowFormat(name="csv", label_column=None),
}


def detect_format(header_fields: list[str]) -> str:
    """Name of the format whose columns match ``header_fields`` (the first record's fields)."""
    normalised = {normalise_name(f) for f in header_fields}
    if all(normalise_name(m) in normalised for m in NETFLOW_MARKERS):
        return "netflow"
    if all(normalise_name(m) in normalised for m in UNSW_MARKERS):
        return "unsw-nb15"
    if all(normalise_name(m) in normalised for m in CIC_MARKERS):
        return "cic-ids2017"
    if len(header_fields) == len(UNSW_NB15_RAW_COLUMNS) and _IPV4.match(header_fields[0].strip()) \
            and _IPV4.match(header_fields[2].strip()):
        return "unsw-nb15-raw"
    if len(header_fields) in (42, 43) and header_fields[1].strip() in ("tcp", "udp", "icmp"):
        return "nsl-kdd"
    return "csv"
