"""Known flow-record formats: their columns, labels and identifier columns.

Each format is detected from the header (or, for header-less NSL-KDD and raw UNSW-NB15, from the
shape of the first record) or named explicitly with ``--format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

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


def ctu13_class(label: str) -> str | None:
    """The class of a CTU-13 (Stratosphere) label: its botnet, normal or background traffic, by the
    word in the label ('flow=From-Botnet-V42-UDP-DNS'); None for a label with none of them.

    >>> [ctu13_class(v) for v in ("flow=From-Botnet-V42-UDP-DNS", "flow=To-Normal-V42-UDP-CVUT-DNS-Server",
    ...                           "flow=Background-TCP-Established", "Botnet", "scan")]
    ['Botnet', 'Normal', 'Background', 'Botnet', None]
    """
    lower = label.lower()
    return next((name for name in ("Botnet", "Normal", "Background") if name.lower() in lower), None)


def unsw_nb15_class(label: str) -> str:
    """The class of a UNSW-NB15 ``attack_cat``: one of the 10 of the partitioned files where the raw
    files spell it otherwise (empty for normal traffic, 'Backdoors', spaces around), else as written.

    >>> [unsw_nb15_class(v) for v in ("", " Fuzzers ", "Backdoors", "Exploits", "Ransomware")]
    ['Normal', 'Fuzzers', 'Backdoor', 'Exploits', 'Ransomware']
    """
    return UNSW_NB15_CLASSES.get(label.strip().lower(), label.strip())


NETFLOW_MARKERS = ("IPV4_SRC_ADDR", "L4_DST_PORT", "IN_BYTES")
CTU13_MARKERS = ("TotPkts", "TotBytes", "SrcBytes", "Label")  # Argus's binetflow, as CTU-13 ships it
CIC_MARKERS = ("flow duration", "label")
UNSW_MARKERS = ("sttl", "attack_cat")
# Suricata's eve.json (JSON lines, nested objects read as outer.inner): its flow events
SURICATA_MARKERS = ("event_type", "flow.pkts_toserver")

# Identifier columns: they name a flow, a host or a moment, not a behaviour. Matched on the
# normalised column name (lower case, spaces and punctuation removed).
_IDENTIFIER_NAMES = {
    "id", "rowid", "index", "flowid", "srcip", "dstip", "sourceip", "destinationip", "saddr",
    "daddr", "srcaddr", "dstaddr", "ipv4srcaddr", "ipv4dstaddr", "ipv6srcaddr", "ipv6dstaddr",
    "timestamp", "stime", "ltime", "ts", "time", "date", "datetime", "starttime", "endtime",
    "flowstartmilliseconds", "flowendmilliseconds", "firstseen", "lastseen",
    "srcport", "sport", "sourceport", "l4srcport", "srcpt", "uid", "attemptedcategory",
    # X-IIoTID spells its source port Scr_port; NF-UQ-NIDS names the data set each flow came from
    "scrport", "dataset",
    # nfdump's CSV (-o csv: ts, te, td, sa, da, sp, dp, ...; tr: time received), SiLK's rwcut
    # (sIP, dIP, sTime, eTime) and Argus (LastTime); td, dp and dur are features
    "te", "tr", "sa", "da", "sp", "sip", "dip", "etime", "lasttime",
    # a saved pandas index (CIC-DDoS2019's 'Unnamed: 0') and Bot-IoT's packet sequence id: row
    # numbers, ordered by capture and so by attack
    "unnamed0", "pkseqid",
    # Suricata's eve.json: the destination address, the Community ID flow hash and the sensor's
    # interface (flow_id, src_ip, src_port and timestamp are named above)
    "destip", "communityid", "iniface",
}


# Columns that hold a label in some published flow data set. When one of them is the label, the
# others are read as labels too (never as features); in a generic CSV where the label is not named,
# a lone one of them is taken as the label.
LABEL_TWINS = frozenset({
    "label", "labels", "attack", "class", "attackcat", "category", "subcategory", "type", "attacktype",
    "detailedlabel", "trafficcategory", "traffictype",
    # Edge-IIoTset's binary Attack_label; CIDDS-001's attackID and attackDescription (beside its
    # class and attackType), which name the attack of each attack flow
    "attacklabel", "attackid", "attackdescription",
    # KDD'99 / NSL-KDD exports with a header ('outcome'), and binary flags named for the attack side
    "outcome", "isattack", "malicious", "ismalicious",
})


# NSL-KDD / KDD'99 as a CSV with a header (Kaggle's copies): its feature names, a label under one
# of the names above ('attack', 'outcome', 'class'...) and the difficulty under one of these
NSL_KDD_HEADER_MARKERS = ("protocol_type", "srv_serror_rate", "dst_host_srv_count")
NSL_KDD_DIFFICULTY_NAMES = ("difficulty", "level", "difficultylevel")


def nsl_kdd_header(header_fields: list[str]) -> bool:
    """Whether a header names NSL-KDD's features (read as format ``nsl-kdd`` under its column names).

    >>> nsl_kdd_header(["duration", "protocol_type", "service", "srv_serror_rate", "dst_host_srv_count", "attack"])
    True
    """
    names = {normalise_name(f) for f in header_fields}
    return all(normalise_name(m) in names for m in NSL_KDD_HEADER_MARKERS)


def is_label_twin(name: str) -> bool:
    """Whether a column holds a label in some data set: a :data:`LABEL_TWINS` name, also numbered
    (X-IIoTID's class1, class2 and class3).

    >>> [is_label_twin(n) for n in ("Label", "attack_cat", "class3", "classes", "dst_port")]
    [True, True, True, False, False]
    """
    return normalise_name(name).rstrip("0123456789") in LABEL_TWINS


def is_default_benign(value: str) -> bool:
    """A label that means benign when none was named: normal/benign/legitimate in any case or
    spacing, with an optional 'traffic' suffix, the number 0, or False (a flag such as 'is_attack').

    >>> [is_default_benign(v) for v in ("BENIGN", "BenignTraffic", "0.0", "False", "DoS", "1", "True")]
    [True, True, True, True, False, False, False]
    """
    key = normalise_name(str(value)).removesuffix("traffic")
    if key in ("normal", "benign", "legitimate", "false"):
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


_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
# ISO and SiLK dates (2009/02/12t00:00:00.000), US dates, and times of day (Argus: 12:34:56.789)
_DATE_TIME = re.compile(r"\d{4}([-/])\d{2}\1\d{2}([ t]\d{1,2}:\d{2}.*)?|\d{1,2}/\d{1,2}/\d{2,4}( \d{1,2}:\d{2}.*)?"
                        r"|\d{1,2}:\d{2}:\d{2}(\.\d+)?")


def _address_or_time(text: str) -> bool:
    import ipaddress

    if _MAC.fullmatch(text) or _DATE_TIME.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def holds_identifiers(values: Any, *, sample: int = 200, share: float = 0.9) -> bool:
    """True for a text column whose values are IP or MAC addresses, or dates and times, whatever its
    name ('sAddress', 'when'): they identify hosts and moments, not behaviour. Looks at the first
    ``sample`` non-empty values; ``share`` of them must be such values.

    >>> holds_identifiers(["10.0.0.1", "fe80::1", "192.168.1.20"]), holds_identifiers(["tcp", "udp"])
    (True, False)
    >>> holds_identifiers(["2024-01-01 10:00:00", "3/7/2017 8:55"]), holds_identifiers(["1", "2"])
    (True, False)
    >>> holds_identifiers(["2009/02/12T00:00:00.000"]), holds_identifiers(["12:34:56.789012"])
    (True, True)
    """
    texts = [t for t in (str(v).strip().lower() for v in list(values[:sample * 2])) if t and t not in ("nan", "none", "-")]
    texts = texts[:sample]
    if not texts or all(t.replace(".", "", 1).lstrip("-").isdigit() for t in texts):
        return False
    return sum(_address_or_time(t) for t in texts) >= share * len(texts)


# CICFlowMeter's features as its releases spell them: the improved CIC-IDS2017 re-extraction (first,
# the shared sample's naming), the MachineLearningCVE CSVs, CICFlowMeter-V3/V4's own output and
# CSE-CIC-IDS2018 ('Tot Fwd Pkts', 'Flow Byts/s'), and the Parquet release of CIC-IDS2017 ('Fwd
# Packets Length Total'). Compared after normalise_name, so 'tot_fwd_pkts' matches too.
CIC_SPELLINGS: tuple[tuple[str, ...], ...] = (
    ("Dst Port", "Destination Port"),
    ("Total Fwd Packet", "Total Fwd Packets", "Tot Fwd Pkts"),
    ("Total Bwd packets", "Total Backward Packets", "Tot Bwd Pkts"),
    ("Total Length of Fwd Packet", "Total Length of Fwd Packets", "TotLen Fwd Pkts", "Fwd Packets Length Total"),
    ("Total Length of Bwd Packet", "Total Length of Bwd Packets", "TotLen Bwd Pkts", "Bwd Packets Length Total"),
    *((f"{d} Packet Length {s}", f"{d} Pkt Len {s}") for d in ("Fwd", "Bwd") for s in ("Max", "Min", "Mean", "Std")),
    ("Flow Bytes/s", "Flow Byts/s"), ("Flow Packets/s", "Flow Pkts/s"),
    ("Fwd IAT Total", "Fwd IAT Tot"), ("Bwd IAT Total", "Bwd IAT Tot"),
    ("Fwd Header Length", "Fwd Header Len"), ("Bwd Header Length", "Bwd Header Len"),
    ("Fwd Packets/s", "Fwd Pkts/s"), ("Bwd Packets/s", "Bwd Pkts/s"),
    ("Packet Length Min", "Min Packet Length", "Pkt Len Min"),
    ("Packet Length Max", "Max Packet Length", "Pkt Len Max"),
    ("Packet Length Mean", "Pkt Len Mean"), ("Packet Length Std", "Pkt Len Std"),
    ("Packet Length Variance", "Pkt Len Var"),
    *((f"{f} Flag Count", f"{f} Flag Cnt") for f in ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE")),
    ("CWR Flag Count", "CWE Flag Count", "CWR Flag Cnt", "CWE Flag Cnt"),
    ("Average Packet Size", "Pkt Size Avg"),
    ("Fwd Segment Size Avg", "Avg Fwd Segment Size", "Fwd Seg Size Avg"),
    ("Bwd Segment Size Avg", "Avg Bwd Segment Size", "Bwd Seg Size Avg"),
    *((f"{d} Bytes/Bulk Avg", f"{d} Avg Bytes/Bulk", f"{d} Byts/b Avg") for d in ("Fwd", "Bwd")),
    *((f"{d} Packet/Bulk Avg", f"{d} Avg Packets/Bulk", f"{d} Pkts/b Avg") for d in ("Fwd", "Bwd")),
    *((f"{d} Bulk Rate Avg", f"{d} Avg Bulk Rate", f"{d} Blk Rate Avg") for d in ("Fwd", "Bwd")),
    ("Subflow Fwd Packets", "Subflow Fwd Pkts"), ("Subflow Fwd Bytes", "Subflow Fwd Byts"),
    ("Subflow Bwd Packets", "Subflow Bwd Pkts"), ("Subflow Bwd Bytes", "Subflow Bwd Byts"),
    ("FWD Init Win Bytes", "Init_Win_bytes_forward", "Init Fwd Win Byts"),
    ("Bwd Init Win Bytes", "Init_Win_bytes_backward", "Init Bwd Win Byts"),
    ("Fwd Act Data Pkts", "act_data_pkt_fwd"),
    ("Fwd Seg Size Min", "min_seg_size_forward"),
)
_CIC_KEY = {normalise_name(spelling): group[0] for group in CIC_SPELLINGS for spelling in group}


def cic_key(name: str) -> str:
    """One key for the spellings of a CICFlowMeter feature (else the normalised name).

    >>> cic_key(" Total Fwd Packets") == cic_key("Tot Fwd Pkts") == cic_key("tot_fwd_pkts")
    True
    """
    key = normalise_name(name)
    return _CIC_KEY.get(key, key)


def column_renames(present: Any, expected: list[str]) -> dict[str, str]:
    """{present name: expected name} for the ``expected`` columns that ``present`` spells
    differently (a model trained on the improved CIC-IDS2017 naming scoring CICFlowMeter-V4 output,
    or the other way round). Columns already expected under their own name are never renamed.

    >>> column_renames(["Tot Fwd Pkts", "Protocol"], ["Total Fwd Packet", "Protocol"])
    {'Tot Fwd Pkts': 'Total Fwd Packet'}
    """
    present = list(present)
    have = set(present)
    missing = [c for c in expected if c not in have]
    if not missing:
        return {}
    wanted = set(expected)
    by_key: dict[str, str] = {}
    for column in present:
        if column not in wanted:
            by_key.setdefault(cic_key(str(column)), column)
    renames = {}
    for column in missing:
        source = by_key.pop(cic_key(column), None)
        if source is not None:
            renames[source] = column
    return renames


def align_columns(frame: Any, expected: list[str]) -> Any:
    """``frame`` with its columns renamed by :func:`column_renames`."""
    renames = column_renames(frame.columns, expected)
    return frame.rename(columns=renames) if renames else frame


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
    #: label -> class name (None: unknown) by rule, for labels that are free text around a class word
    class_rule: Callable[[str], str | None] | None = None
    header: bool = True
    #: column names of a header-less format
    columns: tuple[str, ...] = ()
    #: a column where most values present are not numbers is a category (formats whose columns
    #: are not known in advance); otherwise every non-number is a bad value
    text_columns: bool = False
    #: (column, value): only records with this value are flows; the others are left out, reported
    #: by their value (Suricata's eve.json mixes flow, dns, http, alert, stats ... events)
    record_filter: tuple[str, str] | None = None
    #: records carry only the fields that apply to them (Suricata: ``tcp.*`` for TCP flows alone),
    #: so a model's field that no record of a file has is a missing value there, not a schema
    #: mismatch (elsewhere such a file is refused: 'missing columns')
    sparse_fields: bool = False

    def not_a_flow(self, kind: Any) -> str | None:
        """Why a record whose :attr:`record_filter` column holds ``kind`` (None: it has none) is
        no flow of this format; None when it is one (or the format takes every record).

        >>> FORMATS["suricata-eve"].not_a_flow("dns"), FORMATS["suricata-eve"].not_a_flow("flow")
        ("a dns event, not a flow record (event_type is not 'flow')", None)
        """
        if self.record_filter is None:
            return None
        column, wanted = self.record_filter
        if kind is not None and str(kind) == wanted:
            return None
        return f"a {'untyped' if kind is None or str(kind) == '' else kind} event, not a flow record " \
               f"({column} is not {wanted!r})"

    @property
    def maps_labels(self) -> bool:
        """Whether labels are mapped to classes (:meth:`class_of`) rather than used as they are."""
        return bool(self.class_map) or self.class_rule is not None

    def class_of(self, label: str) -> str | None:
        """The class of a raw label; None when the format does not know it. KDD Cup '99 ends every
        label with a full stop ('smurf.'); NSL-KDD does not."""
        if self.class_rule is not None:
            return self.class_rule(label)
        return self.class_map.get(label.lower().removesuffix("."))


FORMATS: dict[str, FlowFormat] = {
    "nsl-kdd": FlowFormat(
        name="nsl-kdd", label_column="label", other_label_columns=("difficulty",),
        # 'anomaly': the binary label of NSL-KDD's ARFF files and of copies made from them
        class_map={**NSL_KDD_CLASSES, "anomaly": "attack"}, header=False, columns=NSL_KDD_COLUMNS,
    ),
    "unsw-nb15-raw": FlowFormat(
        name="unsw-nb15-raw", label_column="attack_cat", other_label_columns=("Label",),
        class_map=UNSW_NB15_CLASSES, header=False, columns=UNSW_NB15_RAW_COLUMNS,
    ),
    # the partitioned files; also the raw files with a header added, whose normal rows leave
    # attack_cat empty and spell some classes otherwise (unsw_nb15_class)
    "unsw-nb15": FlowFormat(
        name="unsw-nb15", label_column="attack_cat", other_label_columns=("label",), id_column="id",
        class_rule=unsw_nb15_class,
    ),
    "cic-ids2017": FlowFormat(
        name="cic-ids2017", label_column="Label", other_label_columns=("Attempted Category",),
        id_column="id",
    ),
    "netflow": FlowFormat(
        name="netflow", label_column="Attack", other_label_columns=("Label",),
    ),
    # CTU-13's Argus flows: 'flow=From-Botnet-...', '...-Normal-...', 'flow=Background-...' labels.
    # Background flows are traffic not known to be a botnet's; most work on CTU-13 counts them benign.
    "ctu-13": FlowFormat(
        name="ctu-13", label_column="Label", class_rule=ctu13_class, benign_labels=("normal", "background"),
    ),
    # Weka ARFF (NSL-KDD's .arff files: the 41 features and a binary 'class', normal/anomaly)
    "arff": FlowFormat(name="arff", label_column="class"),
    # Suricata's eve.json: its flow events, identified by flow_id (Suricata's own alerts name
    # the same flow_id). Labels, where a user has added them, are named with --label-column.
    "suricata-eve": FlowFormat(name="suricata-eve", label_column=None, id_column="flow_id", text_columns=True,
                               record_filter=("event_type", "flow"), sparse_fields=True),
    "csv": FlowFormat(name="csv", label_column=None, text_columns=True),
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
    if all(normalise_name(m) in normalised for m in CTU13_MARKERS):
        return "ctu-13"
    if all(normalise_name(m) in normalised for m in SURICATA_MARKERS):
        return "suricata-eve"
    if len(header_fields) == len(UNSW_NB15_RAW_COLUMNS) and _IPV4.match(header_fields[0].strip()) \
            and _IPV4.match(header_fields[2].strip()):
        return "unsw-nb15-raw"
    if len(header_fields) in (42, 43) and header_fields[1].strip() in ("tcp", "udp", "icmp"):
        return "nsl-kdd"
    return "csv"
