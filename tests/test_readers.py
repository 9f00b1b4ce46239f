import dataclasses
import gzip
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepsentry.core.errors import ConfigError, InputError
from deepsentry.flows.formats import NSL_KDD_COLUMNS
from deepsentry.flows.readers import ReadOptions, read_flows

NSL_ROW = ("0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,"
           "0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,{label},20")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_nsl_kdd_is_detected_and_mapped_to_five_classes(tmp_path):
    labels = ["normal", "neptune", "mscan", "snmpgetattack", "xterm", "apache2"]
    path = write(tmp_path, "kdd.txt", "\n".join(NSL_ROW.format(label=l) for l in labels) + "\n")
    data = read_flows(path)
    assert data.format == "nsl-kdd"
    assert list(data.features.columns) == list(NSL_KDD_COLUMNS)
    assert list(data.labels) == ["normal", "DoS", "Probe", "R2L", "U2R", "DoS"]
    assert list(data.raw_labels) == labels
    assert list(data.is_malicious) == [0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("label,difficulty", [("attack", "level"), ("outcome", "difficulty"), ("class", None)])
def test_nsl_kdd_with_a_header_reads_as_the_header_less_files(tmp_path, label, difficulty):
    """Copies of NSL-KDD with a header (Kaggle's) name the label 'attack', 'outcome' or 'class' and
    the difficulty 'level': read as format nsl-kdd, five classes, the difficulty never a feature
    (it grades each record's attack), the same features as the header-less file."""
    labels = ["normal", "neptune", "guess_passwd", "anomaly"]
    names = [*NSL_KDD_COLUMNS, label, *([difficulty] if difficulty else [])]
    rows = [NSL_ROW.format(label=l) if difficulty else NSL_ROW.format(label=l).rsplit(",", 1)[0] for l in labels]
    data = read_flows(write(tmp_path, "KDDTrain+.csv", ",".join(names) + "\n" + "\n".join(rows) + "\n"),
                      ReadOptions(require_labels=True))
    assert data.format == "nsl-kdd" and list(data.features.columns) == list(NSL_KDD_COLUMNS)
    assert list(data.labels) == ["normal", "DoS", "R2L", "attack"] and list(data.is_malicious) == [0, 1, 1, 1]
    assert sorted(data.report.label_columns) == (["difficulty", "label"] if difficulty else ["label"])
    plain = read_flows(write(tmp_path, "kdd.txt", "\n".join(rows) + "\n"), ReadOptions(require_labels=True))
    pd.testing.assert_frame_equal(data.features, plain.features)
    # a model trained on one form names the label 'label': the other form finds its own
    assert list(read_flows(tmp_path / "KDDTrain+.csv", ReadOptions(format="nsl-kdd", label_column="label",
                                                                   require_labels=True)).labels) == list(data.labels)


def test_kdd_cup_99_labels_end_in_a_full_stop_and_have_no_difficulty(tmp_path):
    # kddcup.data / corrected: 41 features and a label such as 'smurf.', no difficulty column
    labels = ["normal.", "smurf.", "snmpgetattack.", "buffer_overflow."]
    rows = [NSL_ROW.format(label=l).rsplit(",", 1)[0] for l in labels]
    data = read_flows(write(tmp_path, "kddcup.data_10_percent", "\n".join(rows) + "\n"))
    assert data.format == "nsl-kdd"
    assert list(data.labels) == ["normal", "DoS", "R2L", "U2R"]
    assert list(data.is_malicious) == [0, 1, 1, 1]


def test_unknown_nsl_kdd_label_is_named(tmp_path, caplog):
    """Where labels are needed (training, evaluation) an unknown one is an error; where they are not
    (scoring), a warning, and the label is a class of its own."""
    path = write(tmp_path, "kdd.txt", NSL_ROW.format(label="martian") + "\n" + NSL_ROW.format(label="smurf") + "\n")
    with pytest.raises(InputError, match="unknown nsl-kdd label.*martian"):
        read_flows(path, ReadOptions(require_labels=True))
    assert list(read_flows(path).labels) == ["martian", "DoS"]
    assert "unknown nsl-kdd label(s) martian read as classes of their own" in caplog.text


def test_unsw_with_bom_drops_id_and_binary_label(tmp_path):
    text = "\ufeffid,dur,proto,sttl,sbytes,attack_cat,label\n1,0.1,tcp,254,100,Normal,0\n2,0.2,udp,62,90, Exploits,1\n"
    data = read_flows(write(tmp_path, "unsw.csv", text))
    assert data.format == "unsw-nb15"
    assert list(data.features.columns) == ["dur", "proto", "sttl", "sbytes"]
    assert list(data.ids) == [1, 2]
    assert list(data.labels) == ["Normal", "Exploits"]
    assert data.report.identifier_columns == ["id"]


def test_unsw_raw_files_with_a_header_keep_their_normal_rows(tmp_path):
    """The raw UNSW-NB15 files with a header added (NUSW-NB15_features.csv's names) leave attack_cat
    empty for normal traffic: those rows are Normal, as in the header-less files, not rows without
    a label; 'Backdoors' and spaced names are the partitioned files' classes; 'NaN' has no label."""
    header = "srcip,sport,dstip,dsport,proto,dur,sbytes,sttl,attack_cat,Label\n"
    rows = ["59.166.0.1,1390,149.171.126.6,53,udp,0.001,132,31,,0", "175.45.176.1,3593,149.171.126.16,80,tcp,0.5,"
            "900,254, Fuzzers ,1", "175.45.176.3,1043,149.171.126.10,445,tcp,1.2,600,62,Backdoors,1",
            "59.166.0.2,1391,149.171.126.7,53,udp,0.002,130,31,NaN,0"]
    data = read_flows(write(tmp_path, "UNSW-NB15_1.csv", header + "\n".join(rows) + "\n"),
                      ReadOptions(require_labels=True))
    assert data.format == "unsw-nb15" and list(data.labels) == ["Normal", "Fuzzers", "Backdoor"]
    assert list(data.is_malicious) == [0, 1, 1] and data.report.malformed_rows == 1
    assert "line 5, column attack_cat: the record has no label ('NaN')" in str(data.report.examples[0])


def test_record_ids_are_integers_whatever_a_few_rows_hold(tmp_path):
    """A header repeated mid-file or a corrupt id makes the id column text: the ids stay integers,
    and a record whose id is not one is a malformed record; ids that are all text stay text."""
    header = "id,dur,proto,sttl,sbytes,attack_cat,label\n"
    rows = ["7,0.1,tcp,254,100,Normal,0", "8,0.2,udp,62,90,Exploits,1", "8x1,0.3,udp,62,90,Exploits,1",
            header.strip(), "9,0.4,tcp,254,100,Normal,0"]
    data = read_flows(write(tmp_path, "unsw.csv", header + "\n".join(rows) + "\n"))
    assert list(data.ids) == [7, 8, 9] and data.ids.dtype == np.int64 and list(data.positions) == [0, 1, 4]
    assert data.report.malformed_rows == 2
    assert sorted(str(e).split("unsw.csv, ")[1] for e in data.report.examples) == [
        "line 4, column id: record id '8x1' is not an integer, as the file's other ids are",
        "line 5: the row repeats the header"]
    with pytest.raises(InputError, match="line 4, column id: record id '8x1' is not an integer"):
        read_flows(write(tmp_path, "one.csv", header + "\n".join(rows[:3]) + "\n"), ReadOptions(strict=True))
    decimal = read_flows(write(tmp_path, "decimal.csv", header + "7,0.1,tcp,254,100,Normal,0\n"
                               "8.5,0.2,udp,62,90,DoS,1\n,0.3,udp,62,90,DoS,1\n9,0.4,tcp,254,100,Normal,0\n"))
    assert list(decimal.ids) == [7, 9] and decimal.ids.dtype == np.int64
    assert [e.reason for e in decimal.report.examples] == [
        "record id 8.5 is not an integer, as the file's other ids are", "the record has no id"]
    named = read_flows(write(tmp_path, "named.csv", header + "a7,0.1,tcp,254,100,Normal,0\nb8,0.2,udp,62,90,DoS,1\n"))
    assert list(named.ids) == ["a7", "b8"] and named.report.malformed_rows == 0


def test_cic_original_naming_with_leading_spaces(tmp_path):
    text = (" Destination Port, Flow Duration, Total Fwd Packets, Flow Bytes/s, Label\n"
            "80,100,3,Infinity,BENIGN\n22,5,1,NaN,SSH-Patator\n")
    data = read_flows(write(tmp_path, "Monday.csv", text))
    assert data.format == "cic-ids2017"
    assert "Destination Port" in data.features.columns
    assert np.isinf(data.features["Flow Bytes/s"].iloc[0])
    assert list(data.is_malicious) == [0, 1]


def test_rows_repeating_the_header_are_malformed_records_not_a_class(tmp_path):
    """The published CSE-CIC-IDS2018 CSVs repeat their header inside the file (concatenated
    captures): such a row is reported by line and left out, so ``Label`` never becomes a class."""
    header = "\ufeffDst Port,Protocol,Timestamp,Flow Duration,Flow Byts/s,Label"
    rows = ["80,6,14/02/2018 08:31:01,100,Infinity,Benign", "21,6,14/02/2018 08:31:02,5,2.5,FTP-BruteForce"]
    text = "\n".join([header, rows[0], " Dst Port, Protocol,Timestamp,Flow Duration,Flow Byts/s,Label ", rows[1],
                      "Dst Port,Protocol,Timestamp,Flow Duration,Flow Byts/s,Label"]) + "\n"
    data = read_flows(write(tmp_path, "Wednesday-14-02-2018.csv", text))
    assert list(data.labels) == ["Benign", "FTP-BruteForce"]
    assert data.features["Flow Duration"].tolist() == [100, 5] and np.isinf(data.features["Flow Byts/s"].iloc[0])
    assert data.report.malformed_rows == 2
    assert [e.row for e in data.report.examples] == [3, 5]
    assert all("repeats the header" in e.reason for e in data.report.examples)
    with pytest.raises(InputError, match="repeats the header") as caught:
        read_flows(write(tmp_path, "again.csv", text), ReadOptions(strict=True))
    assert caught.value.row == 3
    # a header that is not repeated is untouched, and so is a data row that merely shares a value
    plain = "Label,Flow Duration\nLabel,7\nBenign,8\n"
    assert list(read_flows(write(tmp_path, "plain.csv", plain)).labels) == ["Label", "Benign"]


def test_a_file_of_another_known_format_than_the_one_asked_is_named(tmp_path):
    # a model passes its own format on: NSL-KDD records to a UNSW-NB15 model, or the reverse, used to
    # fail on missing columns (the first record read as a header) or on a field count at line 1
    kdd = write(tmp_path, "kdd.txt", NSL_ROW.format(label="normal") + "\n")
    unsw = write(tmp_path, "unsw.csv", "id,dur,proto,sttl,sbytes,attack_cat,label\n1,0.1,tcp,254,100,Normal,0\n")
    with pytest.raises(InputError, match="^.*kdd.txt: its first record is of format nsl-kdd, not unsw-nb15"):
        read_flows(kdd, ReadOptions(format="unsw-nb15"))
    with pytest.raises(InputError, match="unsw.csv: its first record is of format unsw-nb15, not nsl-kdd"):
        read_flows(unsw, ReadOptions(format="nsl-kdd"))
    assert len(read_flows(unsw, ReadOptions(format="csv", label_column="attack_cat"))) == 1  # generic: any header


def test_raw_unsw_nb15_without_header_is_detected_and_named(tmp_path):
    """UNSW-NB15_1.csv ... _4.csv: no header, 49 fields, attack_cat empty on normal rows and spelled
    with spaces or as 'Backdoors' elsewhere; mapped to the partitioned files' class names."""
    from deepsentry.flows.formats import UNSW_NB15_RAW_COLUMNS

    def row(src: str, dport: str, category: str, label: int) -> str:
        values = {c: "0" for c in UNSW_NB15_RAW_COLUMNS}
        values.update(srcip=src, sport="1390", dstip="149.171.126.6", dsport=dport, proto="udp", state="CON",
                      service="dns", dur="0.001055", sbytes="132", Stime="1421927414", Ltime="1421927414",
                      attack_cat=category, Label=str(label))
        return ",".join(values[c] for c in UNSW_NB15_RAW_COLUMNS)

    text = "\n".join([row("59.166.0.0", "53", "", 0), row("175.45.176.3", "0x000b", " Fuzzers ", 1),
                      row("175.45.176.1", "80", "Backdoors", 1), row("175.45.176.2", "80", "Exploits", 1)]) + "\n"
    data = read_flows(write(tmp_path, "UNSW-NB15_1.csv", text))
    assert data.format == "unsw-nb15-raw"
    assert list(data.labels) == ["Normal", "Fuzzers", "Backdoor", "Exploits"]
    assert list(data.is_malicious) == [0, 1, 1, 1]
    assert set(data.report.identifier_columns) == {"srcip", "dstip", "sport", "Stime", "Ltime"}
    assert "dsport" in data.features.columns and "attack_cat" not in data.features.columns
    assert data.features["dsport"].tolist() == [53, 11, 80, 80]  # hexadecimal ports are read as numbers
    with pytest.raises(InputError, match="49 fields, this one has 48"):
        read_flows(write(tmp_path, "short.csv", text.replace(",0\n", "\n")), ReadOptions(format="unsw-nb15-raw"))


def test_original_cic_labels_in_windows_1252_are_read_not_dropped(tmp_path):
    """MachineLearningCVE's Thursday file names its web attacks 'Web Attack \\x96 Brute Force'
    (Windows-1252): the label is decoded and noted, the rows are kept."""
    text = (b" Destination Port, Flow Duration, Label\n80,100,BENIGN\n80,5,Web Attack \x96 Brute Force\n"
            b"80,6,Web Attack \x96 XSS\n80,7,Web Attack \x96 Brute Force\n")
    data = read_flows(write(tmp_path, "Thursday-WorkingHours-Morning-WebAttacks.pcap_ISCX.csv", text))
    assert list(data.labels) == ["BENIGN", "Web Attack \u2013 Brute Force", "Web Attack \u2013 XSS",
                                 "Web Attack \u2013 Brute Force"]
    assert data.report.malformed_rows == 0 and len(data) == 4
    assert any("Windows-1252" in e.reason for e in data.report.examples)
    # the same bytes in a feature column still make the row malformed (see the test above)
    bad = read_flows(write(tmp_path, "f.csv", b"dur,proto,Label\n1,tcp,BENIGN\n2,u\x96dp,BENIGN\n"))
    assert len(bad) == 1 and bad.report.malformed_rows == 1


def test_gzip_compressed_tables_read_like_plain_ones(tmp_path):
    text = (" Destination Port, Flow Duration, Total Fwd Packets, Label\n"
            + "".join(f"{80 + i % 3},{100 * i},{i % 7},{'BENIGN' if i % 4 else 'DDoS'}\n" for i in range(200)))
    plain = read_flows(write(tmp_path, "day.csv", text))
    for name in ("day.csv.gz", "day-without-suffix.csv"):  # by content, not by name
        packed = read_flows(write(tmp_path, name, gzip.compress(text.encode())))
        assert packed.format == plain.format and list(packed.labels) == list(plain.labels)
        pd.testing.assert_frame_equal(packed.features, plain.features)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "folder" / "b.csv").write_text(text)
    (tmp_path / "folder" / "README.txt").write_text("Day one of the capture, by the lab.\n")  # not flows
    assert len(read_flows(tmp_path / "folder")) == 2 * len(plain)
    cut = read_flows(write(tmp_path, "cut.csv.gz", gzip.compress(text.encode())[:200]))  # its records before the cut
    assert 0 < len(cut) < len(plain) and cut.report.malformed_rows == 1
    pd.testing.assert_frame_equal(cut.features, plain.features.iloc[:len(cut)])


def test_rows_without_a_label_are_left_out_where_labels_are_needed(tmp_path):
    """An empty label is not a class (nor, by not being benign, an attack): training and evaluation
    leave the row out and report it; detection, which needs no labels, keeps every row."""
    # 'NaN' and 'N/A': what pandas and spreadsheets write for a missing value, not a class
    path = write(tmp_path, "flows.csv",
                 "dur,bytes,label\n1,10,normal\n2,20,\n3,30,attack\n4,40, \n5,50,NaN\n6,60,n/a\n")
    needed = read_flows(path, ReadOptions(label_column="label", require_labels=True))
    assert list(needed.labels) == ["normal", "attack"] and list(needed.positions) == [0, 2]
    assert needed.report.malformed_rows == 4 and [e.row for e in needed.report.examples] == [3, 5, 6, 7]
    assert needed.report.examples[2].reason == "the record has no label ('NaN')"
    assert len(needed) + needed.report.malformed_rows == needed.total_rows
    with pytest.raises(InputError, match="flows.csv, line 3, column label: the record has no label"):
        read_flows(path, ReadOptions(label_column="label", require_labels=True, strict=True))
    assert len(read_flows(path, ReadOptions(label_column="label"))) == 6


def test_weka_arff_as_nsl_kdd_ships_it(tmp_path):
    """KDDTrain+.arff: @attribute names (quoted), blank and comment lines, then CSV records with a
    binary 'class' (normal/anomaly); a bad record is reported by its line in the file."""
    row = NSL_ROW.rsplit(",", 2)[0]
    kinds = {"protocol_type": "{'tcp','udp', 'icmp'}", "service": "{'ftp_data','http'}", "flag": "{'SF','S0'}"}
    header = ["% NSL-KDD", "@relation 'KDDTrain'", ""]
    header += [f"@attribute '{c}' {kinds.get(c, 'real')}" for c in NSL_KDD_COLUMNS]
    header += ["@attribute 'class' {'normal', 'anomaly'}", "", "@data"]
    records = [row + ",normal", row.replace("tcp", "udp") + ",anomaly", "1,2,3", row + ",anomaly"]
    data = read_flows(write(tmp_path, "KDDTrain+.arff", "\n".join(header + records) + "\n"))
    assert data.format == "arff" and list(data.features.columns) == list(NSL_KDD_COLUMNS)
    assert list(data.labels) == ["normal", "anomaly", "anomaly"] and list(data.is_malicious) == [0, 1, 1]
    assert data.features["protocol_type"].tolist() == ["tcp", "udp", "tcp"]
    assert data.report.malformed_rows == 1 and data.report.examples[0].row == len(header) + 3
    with pytest.raises(InputError, match="without a @data line"):
        read_flows(write(tmp_path, "broken.arff", "\n".join(header[:-1]) + "\n"))


def test_netflow_drops_addresses_and_source_port(tmp_path):
    text = ("IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,IN_BYTES,OUT_BYTES,Label,Attack\n"
            "10.0.0.1,5555,10.0.0.2,80,6,100,200,0,Benign\n10.0.0.3,5556,10.0.0.2,22,6,10,0,1,Brute Force\n")
    data = read_flows(write(tmp_path, "nf.csv", text))
    assert data.format == "netflow"
    assert list(data.features.columns) == ["L4_DST_PORT", "PROTOCOL", "IN_BYTES", "OUT_BYTES"]
    assert set(data.report.identifier_columns) == {"IPV4_SRC_ADDR", "L4_SRC_PORT", "IPV4_DST_ADDR"}
    assert list(data.is_malicious) == [0, 1]


def test_generic_csv_needs_label_column_and_keep_column_overrides(tmp_path, flows_csv):
    # a lone column named like a label is taken as the label; none, or several, is an error
    found = read_flows(flows_csv, ReadOptions(require_labels=True, label_column=None, format="csv"))
    assert found.label_column == "label" and "normal" in set(found.labels)
    with pytest.raises(InputError, match="no label column"):
        read_flows(write(tmp_path, "plain.csv", "dur,bytes,verdict\n1,2,ok\n"), ReadOptions(require_labels=True))
    with pytest.raises(InputError, match="label column 'verdict' not found"):
        read_flows(flows_csv, ReadOptions(label_column="verdict", require_labels=True))
    data = read_flows(flows_csv, ReadOptions(label_column="label", benign_labels=("normal",)))
    assert "src_ip" not in data.features.columns and data.report.identifier_columns == ["src_ip"]
    kept = read_flows(flows_csv, ReadOptions(label_column="label", keep_columns=("src_ip",)))
    assert "src_ip" in kept.features.columns
    with pytest.raises(InputError, match=r"column\(s\) 'src_adr' not found"):  # a typo is not passed over
        read_flows(flows_csv, ReadOptions(label_column="label", keep_columns=("src_adr",)))
    # row numbers under other names: a saved pandas index (CIC-DDoS2019), Bot-IoT's pkSeqID
    text = "Unnamed: 0,pkSeqID,stime,dur,category\n0,1,1528089,0.5,Normal\n1,2,1528090,0.1,DDoS\n"
    rows = read_flows(write(tmp_path, "bot.csv", text), ReadOptions(label_column="category"))
    assert rows.report.identifier_columns == ["Unnamed: 0", "pkSeqID", "stime"]
    assert list(rows.features.columns) == ["dur"]


def test_label_twins_are_never_features_and_benign_spellings_are_found(tmp_path, caplog):
    # TON_IoT: a binary 'label' and the class in 'type'; neither may become a feature
    ton = write(tmp_path, "ton.csv", "ts,proto,duration,label,type\n1.5,tcp,0.1,0,normal\n"
                                     "2.5,udp,3.0,1,ddos\n3.5,tcp,0.2,1,scanning\n")
    with pytest.raises(InputError, match=r"several label columns \(label, type\)"):
        read_flows(ton, ReadOptions(require_labels=True))
    data = read_flows(ton, ReadOptions(label_column="type", require_labels=True))
    assert list(data.features.columns) == ["proto", "duration"]
    assert sorted(data.report.label_columns) == ["label", "type"]
    # Bot-IoT's 'subcategory' beside the chosen 'category'
    bot = write(tmp_path, "bot.csv", "dur,attack,category,subcategory\n0.5,0,Normal,Normal\n0.1,1,DDoS,TCP\n")
    assert list(read_flows(bot, ReadOptions(label_column="category")).features.columns) == ["dur"]
    # CIC-IoT-2023 calls benign 'BenignTraffic'; a float label column has 0.0
    iot = write(tmp_path, "iot.csv", "flow_duration,Rate,label\n0.1,3,BenignTraffic\n0.2,9,DDoS-SYN_Flood\n")
    assert "BenignTraffic" in read_flows(iot, ReadOptions(require_labels=True)).benign_labels
    folder = tmp_path / "per-class"  # one file per class: the benign spelling is in a later file
    folder.mkdir()
    write(folder, "a.csv", "flow_duration,Rate,label\n0.2,9,DDoS-SYN_Flood\n")
    write(folder, "b.csv", "flow_duration,Rate,label\n0.1,3,BenignTraffic\n")
    assert "BenignTraffic" in read_flows(folder, ReadOptions(require_labels=True)).benign_labels
    floats = tmp_path / "floats.parquet"
    pd.DataFrame({"dur": [0.1, 0.2], "label": [0.0, 1.0]}).to_parquet(floats)
    assert "0.0" in read_flows(floats, ReadOptions(label_column="label")).benign_labels
    # a directory of generic files: the first file's label is every file's, named in one warning
    days = tmp_path / "days"
    days.mkdir()
    for day in range(3):
        write(days, f"day{day}.csv", f"dur,bytes,type\n0.{day},10,normal\n0.5,99,scan\n")
    with caplog.at_level(logging.WARNING, logger="deepsentry.flows.readers"):
        read = read_flows(days, ReadOptions(require_labels=True))
    assert read.label_column == "type" and len(read.labels) == 6
    assert sum("as the label" in r.getMessage() for r in caplog.records) == 1
    # a benign label the user names is taken as named, and only that one
    named = read_flows(iot, ReadOptions(require_labels=True, benign_labels=("quiet",)))
    assert named.benign_labels == ("quiet",)
    # a boolean flag named for the attack side; KDD'99 exports with a header call the label 'outcome'
    flag = read_flows(write(tmp_path, "flag.csv", "dur,is_attack\n0.1,False\n0.2,True\n0.3,false\n"),
                      ReadOptions(require_labels=True))
    assert flag.label_column == "is_attack" and list(flag.is_malicious) == [0, 1, 0]
    outcome = read_flows(write(tmp_path, "kdd.csv", "duration,src_bytes,outcome\n0,181,normal.\n0,0,smurf.\n"),
                         ReadOptions(require_labels=True))
    assert outcome.label_column == "outcome" and list(outcome.is_malicious) == [0, 1]


def test_directory_reads_as_one_set(tmp_path):
    (tmp_path / "d").mkdir()
    for i, label in enumerate(["BENIGN", "DDoS"]):
        write(tmp_path / "d", f"{label}.csv", f"id,Flow Duration,Fwd Pkts,Label\n{i},10,2,{label}\n{i+10},11,3,{label}\n")
    data = read_flows(tmp_path / "d")
    assert len(data) == 4 and list(data.labels) == ["BENIGN", "BENIGN", "DDoS", "DDoS"]
    assert data.report.files[0].endswith("BENIGN.csv")


def test_a_directory_names_the_files_it_leaves_out(tmp_path, caplog):
    folder = tmp_path / "d"
    folder.mkdir()
    write(folder, "flows.csv", "Flow Duration,Fwd Pkts,Label\n10,2,BENIGN\n11,3,DDoS\n")
    write(folder, "more_flows.xlsx", "not read")
    write(folder, "README.md", "about the data")  # documentation beside the data: not worth a warning
    with caplog.at_level("WARNING"):
        assert len(read_flows(folder)) == 2
    assert "1 file(s) that are not flow tables left out: more_flows.xlsx" in caplog.text
    assert "README" not in caplog.text


def test_a_folder_scored_past_a_file_that_cannot_be_read(tmp_path):
    import gzip as gz

    folder = tmp_path / "d"
    folder.mkdir()
    write(folder, "a.csv", "Flow Duration,Fwd Pkts,Label\n10,2,BENIGN\n11,3,DDoS\n")
    (folder / "b.csv.gz").write_bytes(gz.compress(b"Flow Duration,Fwd Pkts,Label\n" * 500)[:40])  # cut short
    write(folder, "c.csv", "Flow Duration,Fwd Pkts,Label\n12,4,BENIGN\n")
    scoring = ReadOptions(allow_empty=True, skip_unreadable=True)
    data = read_flows(folder, scoring)
    assert len(data) == 3 and data.report.bad_values["<unreadable file>"] == 1
    assert [e.reason for e in data.report.examples if e.path.endswith("b.csv.gz")][0].endswith("; file left out")
    with pytest.raises(InputError, match="b.csv.gz: cannot decompress"):
        read_flows(folder)  # training refuses it
    with pytest.raises(InputError, match="b.csv.gz: cannot decompress"):
        read_flows(folder, ReadOptions(skip_unreadable=True, strict=True))


def test_gzipped_tables_padded_or_cut_short(tmp_path):
    """Zero padding after a gzip stream (tape and block devices write it; zcat ignores it) stopped
    pyarrow ("unknown compression method"): the table reads whole. A stream cut short keeps its
    whole lines, the cut a malformed record; one cut inside its header is refused, named."""
    import gzip as gz

    text = b"a,b,label\n" + b"".join(b"%d,%d,%s\n" % (i, i * 2, b"x" if i % 3 else b"y") for i in range(3000))
    padded = tmp_path / "padded.csv.gz"
    padded.write_bytes(gz.compress(text) + bytes(512))
    data = read_flows(padded, ReadOptions(label_column="label"))
    assert len(data) == data.total_rows == 3000 and data.report.malformed_rows == 0
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gz.compress(text)[:-1000])
    data = read_flows(cut, ReadOptions(label_column="label"))
    assert 1000 < len(data) < 3000 and data.report.malformed_rows == 1
    assert data.features["a"].tolist() == list(range(len(data)))
    head_only = tmp_path / "head.csv.gz"
    head_only.write_bytes(gz.compress(text)[:12])
    with pytest.raises(InputError, match="head.csv.gz: cannot"):
        read_flows(head_only, ReadOptions(label_column="label"))


def test_tables_compressed_otherwise_than_with_gzip_say_so(tmp_path):
    """A bzip2, xz or zstd table was "binary, not delimited text": it now says how it is compressed
    and how to undo it, a CSV, a JSON-lines table or a Zeek log alike."""
    import bz2
    import lzma

    csv = b"dur,proto,label\n1,tcp,x\n2,udp,y\n"
    zeek = (Path(__file__).parent / "fixtures" / "zeek_conn.log").read_bytes()
    for name, blob, kind in (("f.csv.bz2", bz2.compress(csv), "bzip2"), ("f.jsonl.xz", lzma.compress(b'{"a": 1}\n'), "xz"),
                             ("conn.log.bz2", bz2.compress(zeek), "bzip2"),
                             ("f.csv.zst", b"\x28\xb5\x2f\xfd" + bytes(20), "zstd")):
        with pytest.raises(InputError, match=rf"{name}: file is {kind}-compressed; deepsentry reads text"):
            read_flows(write(tmp_path, name, blob))
    # text that starts like a bzip2 header is still text
    assert len(read_flows(write(tmp_path, "bz.csv", b"BZh9,x,label\n1,2,a\n3,4,b\n"), ReadOptions(label_column="label"))) == 2


def test_malformed_rows_are_counted_with_line_numbers(tmp_path):
    text = "a,b,label\n1,2,normal\n3,4\n5,6,attack\n7,8,9,normal\n"
    data = read_flows(write(tmp_path, "x.csv", text), ReadOptions(label_column="label"))
    assert len(data) == 2
    assert data.report.malformed_rows == 2
    assert [e.row for e in data.report.examples] == [3, 5]
    assert data.malformed_positions == {1: "expected 3 fields, found 2", 3: "expected 3 fields, found 4"}
    assert list(data.positions) == [0, 2]
    with pytest.raises(InputError, match=r"x.csv, line 3: expected 3 fields, found 2"):
        read_flows(tmp_path / "x.csv", ReadOptions(label_column="label", strict=True))


def test_a_quote_left_open_is_reported_with_the_lines_it_swallowed(tmp_path):
    # CSV readers (pyarrow, Python's csv) run a quoted field on to the next closing quote, over lines
    text = 'a,b,label\n1,2,normal\n"3,4,attack\n5,6,attack\n7,8",attack\n9,10,normal\n11,12\n'
    data = read_flows(write(tmp_path, "x.csv", text), ReadOptions(label_column="label"))
    assert list(data.labels) == ["normal", "normal"] and data.report.malformed_rows == 2
    assert [e.row for e in data.report.examples] == [3, 7]  # lines, not pyarrow's record numbers (3, 5)
    assert "a quote opened on line 3 is not closed there, so lines 3-5 were read as this one record" \
        in data.report.examples[0].reason
    (tmp_path / "x.csv").write_text('a,b,label\n1,2,normal\n"3,4,attack\n5,6,attack\n')
    with pytest.raises(InputError, match=r"x.csv, line 3: expected 3 fields, found 1: a quote opened on line 3 "
                                         r"is not closed there, so lines 3-4"):
        read_flows(tmp_path / "x.csv", ReadOptions(label_column="label", strict=True))


def test_non_numeric_values_are_counted_or_rejected(tmp_path):
    text = "dur,bytes,label\n1,2,normal\n2,oops,attack\n3,4,normal\n"
    path = write(tmp_path, "x.csv", text)
    data = read_flows(path, ReadOptions(label_column="label"))
    assert data.report.bad_values == {"bytes": 1}
    assert np.isnan(data.features["bytes"].iloc[1])
    assert "line 3, column bytes: not a number: 'oops'" in str(data.report.examples[0])
    with pytest.raises(InputError, match=r"line 3, column bytes: not a number"):
        read_flows(path, ReadOptions(label_column="label", strict=True))


def test_rows_that_are_not_utf8_are_malformed_records_not_a_rejected_file(tmp_path, monkeypatch):
    # a short row (skipped while parsing) before the bad bytes: line numbers must count it
    path = write(tmp_path, "x.csv", b"dur,proto,label\n1,tcp,normal\n2,udp\n3,u\xffdp,attack\n4,tcp,attack\n")
    data = read_flows(path, ReadOptions(label_column="label"))
    assert len(data) == 2 and list(data.positions) == [0, 3]
    assert data.report.malformed_rows == 2 and [e.row for e in data.report.examples] == [3, 4]
    assert "field 'proto' is not valid UTF-8" in data.report.examples[1].reason
    assert list(data.features["proto"]) == ["tcp", "tcp"] and list(data.labels) == ["normal", "attack"]
    with pytest.raises(InputError, match=r"x.csv, line 3: expected 3 fields"):
        read_flows(path, ReadOptions(label_column="label", strict=True))
    path.write_bytes(b"dur,proto,label\n1,tcp,normal\n3,u\xffdp,attack\n")
    with pytest.raises(InputError, match=r"x.csv, line 3: field 'proto' is not valid UTF-8 \(byte b'\\xff'\) "
                                         r"\(it reads as Windows-1252 text .*iconv -f WINDOWS-1252 -t UTF-8"):
        read_flows(path, ReadOptions(label_column="label", strict=True))
    path.write_bytes(b"dur,proto,label\n1,tcp,normal\n3,u\xff\x81dp,attack\n")  # not Windows-1252 text
    with pytest.raises(InputError, match=r"x.csv, line 3: .* \(re-encode the file as UTF-8\)$"):
        read_flows(path, ReadOptions(label_column="label", strict=True))
    # a short row that is also not UTF-8 stops pyarrow's row handler: read again with the bytes replaced
    path.write_bytes(b"dur,proto,label\n1,tcp,normal\n3,\xfc\xfc\n4,udp,attack\n")
    unraisable = []  # pyarrow reports its failed decode as "Exception ignored in ...": not to the user
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    both = read_flows(path, ReadOptions(label_column="label"))
    assert list(both.labels) == ["normal", "attack"] and both.report.malformed_rows == 1
    assert [e.row for e in both.report.examples if e.row] == [3]
    with pytest.raises(InputError, match=r"x.csv, line 3: expected 3 fields, found 2"):
        read_flows(path, ReadOptions(label_column="label", strict=True))
    assert unraisable == [] and sys.unraisablehook == unraisable.append  # and the hook is put back
    # beside such a row, a record with those bytes is left out as it is without the row (and as in
    # the pieces of a large file that hold only one of the two), not kept with U+FFFD
    path.write_bytes(b"dur,proto,label\n1,tcp,normal\n3,\xfc\xfc\n4,u\xffdp,attack\n5,udp,attack\n")
    mixed = read_flows(path, ReadOptions(label_column="label"))
    assert list(mixed.positions) == [0, 3] and list(mixed.features["proto"]) == ["tcp", "udp"]
    assert [(e.row, e.reason[:22]) for e in mixed.report.examples if e.row] == \
        [(3, "expected 3 fields, fou"), (4, "field 'proto' is not v")]


@pytest.mark.parametrize("content,match", [
    (b"", "file is empty"),
    (b"   \n\n", "file is empty"),
    (b"a b c\n1 2 3\n", "single field"),
    (b"# exported by a tool\ndur,label\n1,normal\n", "starts with a comment line, not a header row.*grep -v"),
    (b"a,b,label\n", "no data rows"),
    (b"\x00\x01\x02binary", "binary"),
    (b"\x80dur,label\n1,normal\n", "header row is not UTF-8"),
])
def test_bad_files(tmp_path, content, match):
    with pytest.raises(InputError, match=match):
        read_flows(write(tmp_path, "bad.csv", content))


def test_semicolon_delimiter_is_detected(tmp_path):
    data = read_flows(write(tmp_path, "s.csv", "x;y;label\n1;2;normal\n3;4;attack\n"),
                      ReadOptions(label_column="label"))
    assert list(data.features.columns) == ["x", "y"]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_commas_of_a_european_export_read_as_numbers(tmp_path, sep):
    rows = [["dur", "bytes", "note", "label"], ["0,5", "1.234,5", "a,b", "normal"], ["2", "12", "c", "attack"],
            ["-1,25E-3", "", "d", "normal"], ["3,0", "7", "e", "attack"]]
    data = read_flows(write(tmp_path, "x.csv", "".join(sep.join(r) + "\n" for r in rows)),
                      ReadOptions(label_column="label"))
    assert data.features["dur"].tolist() == [0.5, 2.0, -0.00125, 3.0]
    assert data.features["bytes"].tolist()[:2] == [1234.5, 12.0] and np.isnan(data.features["bytes"].iloc[2])
    assert data.features["note"].tolist() == ["a,b", "c", "d", "e"]  # not every value a number: text


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(ConfigError, match="unknown flow format"):
        read_flows(tmp_path, ReadOptions(format="pcapish"))
    with pytest.raises(InputError, match="no such file"):
        read_flows(tmp_path / "nope.csv")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(alphabet=",;\n\"0123456789abc.-\ufeff\t ", max_size=400).map(str.encode)
       | st.tuples(st.text(alphabet=",\n0123456789abc@'% ", max_size=400), st.integers(0, 400)).map(
           lambda t: gzip.compress(t[0].encode())[:max(t[1], 2)]))  # compressed, maybe cut
def test_fuzz_reader_fails_only_with_input_errors(tmp_path, blob):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(blob)
    try:
        data = read_flows(path)
    except InputError:
        return
    # whatever was read accounts for every record: kept + malformed = total
    assert len(data) + data.report.malformed_rows == data.total_rows


# -- Zeek conn.log ---------------------------------------------------------------------------------
_LINE = st.text(alphabet="ab,{}#\r ", max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blank=st.integers(0, 2), header=st.sampled_from(["none", "one", "zeek"]), lines=st.lists(_LINE, max_size=40),
       newline_at_end=st.booleans(), piece_bytes=st.integers(1, 60), compressed=st.booleans())
def test_pieces_of_a_table_hold_every_line_once_and_know_where_they_are(tmp_path, blank, header, lines,
                                                                       newline_at_end, piece_bytes, compressed):
    """The cutter of large tables: each piece is the header and whole lines; the pieces' lines are
    the file's after its header, each once, in order; a piece knows how many lines come before it
    (what relocates its line numbers), and only a line that may open a piece opens one."""
    import gzip

    from deepsentry.flows.readers import _cut

    head = {"none": [], "one": ["h1,h2"], "zeek": ["#separator \\x09", "#fields\ta", "#types\tcount"]}[header]
    text = "\n".join([""] * blank + head + lines) + ("\n" if newline_at_end else "")
    data = text.encode()
    path = tmp_path / ("t.csv.gz" if compressed else "t.csv")
    path.write_bytes(gzip.compress(data) if compressed else data)
    opening = (lambda line: line.lstrip().startswith(b"{")) if header == "none" else None
    pieces = list(_cut(path, header != "none", piece_bytes, opening,
                       header_line=(lambda line: line.startswith(b"#")) if header == "zeek" else None))
    if header == "zeek":  # a Zeek header is every # line before the first record (#open, #path...)
        head += list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    # where the records start: after the blank lines and the header, each line ended by a newline
    start = min(len(data), sum(len(line) + 1 for line in [""] * blank + head)) if head else 0
    head_bytes = data[blank:start]
    bodies = b""
    for k, piece in enumerate(pieces):
        assert piece.text.startswith(head_bytes) and piece.header_lines == head_bytes.count(b"\n")
        body = piece.text[len(head_bytes):]
        at = start + len(bodies)
        assert data[at:at + len(body)] == body  # whole lines, in the file's order
        assert data[:at].count(b"\n") == piece.header_lines + piece.lines_before
        if k and opening is not None:
            assert opening(body.split(b"\n", 1)[0] + b"\n")
        assert k == len(pieces) - 1 or body.endswith(b"\n")
        bodies += body
    assert bodies == data[start:]


def test_a_json_array_is_refused_with_the_command_that_makes_it_json_lines(tmp_path):
    """A JSON document holding an array of records (pretty-printed or on one line; named .json or
    not) was read as JSON lines: one malformed record per line, or a table of nonsense. It is
    refused, naming the conversion. A JSON-lines file whose first line is an array of values is
    still JSON lines (that line a malformed record)."""
    records = [{"duration": 1.5, "bytes": 10, "label": "normal"}, {"duration": 0.1, "bytes": 99, "label": "scan"}]
    for name, text in (("pretty.json", json.dumps(records, indent=2)), ("one.json", json.dumps(records)),
                       ("export.txt", "\ufeff" + json.dumps(records, indent=1)), ("empty.jsonl", "[]\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=rf"{name}: a JSON array \(one document\), not JSON lines") as caught:
            read_flows(tmp_path / name)
        assert f"jq -c '.[]' {name} > records.jsonl" in caught.value.hint
    rows = tmp_path / "rows.jsonl"
    rows.write_text('[1, 2]\n' + "".join(json.dumps(r) + "\n" for r in records * 3))
    data = read_flows(rows)
    assert len(data) == 6 and data.malformed_positions == {0: "not a JSON object (list)"}


def test_zeek_conn_log_tsv_and_json(tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "zeek_conn.log"
    tsv = read_flows(fixture)
    assert tsv.format == "zeek" and len(tsv) == 4 and tsv.report.malformed_rows == 1
    assert "line 12" in str(tsv.report.examples[0])
    assert np.isnan(tsv.features.loc[2, "duration"]) and tsv.features.loc[0, "resp_bytes"] == 15322
    assert {"src_ip", "dst_ip", "dst_port"} <= set(tsv.identifiers.columns)
    assert "id.orig_h" not in tsv.features.columns and "id.resp_p" in tsv.features.columns
    import json as _json

    header = next(line for line in fixture.read_text().splitlines() if line.startswith("#fields")).split("\t")[1:]
    records = [dict(zip(header, line.split("\t"))) for line in fixture.read_text().splitlines()
               if not line.startswith("#") and len(line.split("\t")) == len(header)]
    as_json = tmp_path / "conn.json"
    as_json.write_text("".join(_json.dumps({k: v for k, v in r.items() if v != "-"}) + "\n" for r in records)
                       + "not json\n")
    js = read_flows(as_json)
    assert js.format == "zeek" and len(js) == 4 and js.report.malformed_rows == 1
    np.testing.assert_allclose(js.features["orig_bytes"].to_numpy(dtype=float),
                               tsv.features["orig_bytes"].to_numpy(dtype=float), equal_nan=True)
    with pytest.raises(InputError, match=r"conn.json, line 5: not JSON \(Expecting value, character 1\)$"):
        read_flows(as_json, ReadOptions(strict=True))
    # IoT-23's conn.log.labeled: its last three columns are joined by runs of spaces, not tabs
    lines = fixture.read_text().splitlines()
    iot = []
    for line in lines:
        if line.startswith("#fields"):
            line = line.replace("\ttunnel_parents", "\ttunnel_parents   label   detailed-label")
        elif not line.startswith("#") and line.strip():
            line += "   " + ("Malicious   PartOfAHorizontalPortScan" if "10.0.1.11" in line else "Benign   -")
        iot.append(line)
    labelled = read_flows(write(tmp_path, "conn.log.labeled", "\n".join(iot) + "\n"))
    assert labelled.format == "zeek" and len(labelled) == len(tsv) and labelled.label_column == "detailed-label"
    assert set(labelled.labels) == {"benign", "PartOfAHorizontalPortScan"} and labelled.is_malicious.sum() >= 1
    # a model trained on another format (its format is passed on) is told what this file is
    with pytest.raises(InputError, match="a Zeek conn.log, which has other flow features than format 'cic-ids2017'"):
        read_flows(fixture, ReadOptions(format="cic-ids2017"))
    # a corrupt #separator line (a cut escape, no value): a malformed line, and the tab Zeek writes
    for written in ("#separator \\x0", "#separator"):
        text = fixture.read_text().replace("#separator \\x09", written, 1)
        assert text != fixture.read_text()
        broken = read_flows(write(tmp_path, "conn.log", text), ReadOptions(format="zeek"))
        assert len(broken) == len(tsv) and broken.report.malformed_rows == tsv.report.malformed_rows + 1
        assert any("line 1: #separator" in str(e) and "tab kept" in str(e) for e in broken.report.examples)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["csv", "gzip", "arff", "jsonl"]), rows=st.integers(3, 40), data=st.data())
def test_problems_are_named_by_their_line_in_the_file_whatever_blank_lines_come_before(tmp_path, kind, rows, data):
    """The readers skip blank lines without counting them; a problem (a value that is not a number,
    a short record) must still name the line an editor shows, in strict and lenient reading."""
    bad = data.draw(st.integers(0, rows - 1), label="bad record")
    short = data.draw(st.booleans(), label="short record") and kind != "jsonl"
    if kind == "jsonl":
        header = []
        records = [json.dumps({"dur": i, "bytes": "x" if i == bad else 10 * i, "label": "normal"}) for i in range(rows)]
    else:
        header = ["@relation flows", "", "@attribute dur real", "", "@attribute bytes real",
                  "@attribute label {normal}", "", "@data"] if kind == "arff" else ["dur,bytes,label"]
        records = [f"{i},{'x' if i == bad else 10 * i},normal" for i in range(rows)]
        if short:
            records[bad] = f"{bad},x"
    lines = header + records
    blank = "   " if kind == "jsonl" else ""  # JSON lines: a line of spaces is blank too
    for at in sorted(data.draw(st.lists(st.integers(0 if kind != "arff" else len(header), len(lines)),
                                        max_size=6), label="blank lines at"), reverse=True):
        lines.insert(at, blank)
    text = "\n".join(lines) + "\n"
    path = tmp_path / {"csv": "t.csv", "gzip": "t.csv.gz", "arff": "t.arff", "jsonl": "t.jsonl"}[kind]
    path.write_bytes(gzip.compress(text.encode()) if kind == "gzip" else text.encode())
    marker = f"{bad},x" if kind != "jsonl" else f'"dur": {bad}, "bytes": "x"'
    expected = next(number for number, line in enumerate(text.splitlines(), 1) if marker in line)
    options = ReadOptions(label_column="label", benign_labels=("normal",))
    with pytest.raises(InputError) as caught:
        read_flows(path, dataclasses.replace(options, strict=True))
    assert caught.value.row == expected, str(caught.value)
    found = read_flows(path, options).report.examples
    assert [e.row for e in found] == [expected], [str(e) for e in found]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["b", "c", "", "b.c"]) | st.text(max_size=3),
                                                                inner, max_size=3), max_leaves=6)
_JSON_LINES = st.lists(
    st.dictionaries(st.sampled_from(["dur", "bytes", "proto", "label", "Src IP", "a", "a.b", "a.b.1", "", "1"]), _JSON_VALUES,
                    max_size=6).map(json.dumps)
    | st.text(alphabet='{}[]":,0123456789abc \\', max_size=30), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_JSON_LINES, cut=st.none() | st.integers(0, 300))
def test_fuzzed_json_lines_tables_are_read_or_rejected_never_crash(tmp_path, lines, cut):
    """JSON-lines flow tables with values of every JSON kind (nested, huge, NaN), keys that
    collide once flattened, and broken lines, maybe cut: every record accounted for, or an
    input error; never another exception."""
    blob = "\n".join(lines).encode()
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(blob if cut is None else blob[:cut])
    try:
        data = read_flows(path)
    except InputError:
        return
    assert len(data) + data.report.malformed_rows == data.total_rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
           [b"", b"\t", b"\n", b"\\x0", b"#", b"-", b"(empty)", b"\xff", b"\x00", b"{", b" "])), max_size=12),
       json_lines=st.booleans())
def test_fuzzed_zeek_logs_are_read_or_rejected_never_crash(tmp_path, edits, json_lines):
    """Mutants of the conn.log fixture (TSV, or its records as JSON lines): read with every record
    accounted for, or refused with an input error; never another exception."""
    text = (Path(__file__).parent / "fixtures" / "zeek_conn.log").read_bytes()
    if json_lines:
        lines = text.decode().splitlines()
        header = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
        text = "".join(json.dumps(dict(zip(header, line.split("\t")))) + "\n"
                       for line in lines if line and not line.startswith("#")).encode()
    data = bytearray(text)
    for at, piece in edits:
        at %= len(data) + 1
        data[at:at + 1] = piece
    path = tmp_path / "conn.log"
    path.write_bytes(bytes(data))
    try:
        flows = read_flows(path, ReadOptions(format="zeek"))
    except InputError:
        return
    assert len(flows) + flows.report.malformed_rows >= flows.total_rows


_ZEEK_VALUE = st.lists(st.sampled_from(["x", "1", "0.5", "-", "(empty)", '"', "'", " ", "  ", ",", "\x00", "é", "\\",
                                       "\t"]), max_size=4).map("".join)
_ZEEK_LINE = st.one_of(
    st.sampled_from(["#separator \\x09", "#separator ,", "#separator \\x0", "#close\t2026", "# a comment", "", "  ",
                     "#fields\tuid\tduration\tproto", "#fields\tuid\tduration\tuid",
                     "#fields\tuid\tproto   label   detailed-label", "#fields,uid,duration"]),
    st.lists(_ZEEK_VALUE, min_size=1, max_size=5).map("\t".join),
    st.lists(_ZEEK_VALUE, min_size=1, max_size=4).map(",".join))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_ZEEK_LINE, max_size=14))
def test_zeek_tsv_columns_read_as_the_records_do(lines):
    """Files are read in columns (pyarrow splits the lines); each record the service reads alone
    goes through :func:`zeek_records`. Both must read every log alike: the same values (Zeek's
    markers missing), the same malformed lines with the same messages, separators and #fields
    headers changing midway, repeated field names, IoT-23's spaced columns, quotes left as written."""
    from deepsentry.flows.zeek import MISSING, _tsv_table, zeek_records

    numbered = list(enumerate(["#fields\tuid\tduration"] + lines, 1))  # a TSV log, never JSON
    told_records, told_columns = [], []
    try:
        records = list(zeek_records(numbered, lambda *bad: told_records.append(bad)))
    except InputError as exc:
        with pytest.raises(InputError) as raised:
            _tsv_table(numbered, lambda *bad: None, None)
        assert str(raised.value) == str(exc)
        return
    frame, numbers = _tsv_table(numbered, lambda *bad: told_columns.append(bad), None)
    assert told_columns == told_records
    expected = pd.DataFrame(records).replace(dict.fromkeys(MISSING, np.nan))
    assert len(numbers) == len(expected) and len(set(numbers)) == len(numbers)
    assert sorted(set(numbers) | {n for n, _ in told_records}) == sorted(numbers.tolist() + [n for n, _ in told_records])
    assert list(frame.columns) == list(expected.columns)
    for column in expected:
        assert ([None if pd.isna(v) else v for v in frame[column]]
                == [None if pd.isna(v) else v for v in expected[column]]), column


_JSON_SCALAR = (st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.sampled_from([2**70, 10**30, -0.0, 0.1])
                | st.floats() | st.sampled_from(["2017-07-07 12:00:00", "2017-07-07", "NaN", "Inf", "-", "é\\u00e9"])
                | st.text(max_size=4))
_JSON_FIELD = st.recursive(_JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["b", "c"]), inner, max_size=2), max_leaves=4)
_JSON_TOKENS = st.sampled_from(['{"a": ', '{"b": ', '"x"', "1", "}", "{", "[", "]", ",", " ", "NaN", "-NaN", "Inf", "-Inf",
                                "Infinity", "1e400", "9" * 400, "9" * 4400, '"2017-07-07"', "\ufeff", "\t", "\x00", "'",
                                "true", "null", "/* */", "//", "0x1", "+1", ".5", "01", '"\\ud800"', '"\t"'])
_JSON_TABLE_LINE = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "a.b", "", "c"]), _JSON_FIELD, max_size=4).map(json.dumps),
    st.lists(_JSON_TOKENS, max_size=6).map("".join),
    st.sampled_from(['{"a": 1}{"a": 2}', '{"a": 1, "a": 2}', "", "  ", '{"a": 1} x', "[1]", "{}"]))


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_JSON_TABLE_LINE, max_size=10), batch_chars=st.integers(1, 120))
def test_json_lines_read_by_pyarrow_as_python_reads_them(lines, batch_chars):
    """JSON lines are parsed by pyarrow a batch at a time; Python's json, a line at a time, is the
    rule: the same records and columns in the same order, the same values, the same column kinds
    (numbers, booleans, text), the same malformed lines with the same reasons, whatever the batches
    (pyarrow's own: Inf and -NaN, which Python refuses, integers beyond 64 bits, ISO dates, two
    objects on a line, a key written twice, kinds changing from batch to batch)."""
    from deepsentry.core.tables import flat_record, json_lines_table, json_object, opens_json_array

    numbered = list(enumerate(lines, 1))
    records, numbers, told = [], [], []
    for number, line in numbered:
        if line.strip():
            record, why = json_object(line)
            if record is None:
                told.append((number, why))
            else:
                records.append(record)
                numbers.append(number)
    first = next((line for line in lines if line.strip()), "")
    if opens_json_array(first):
        with pytest.raises(InputError, match="JSON array"):
            json_lines_table(numbered, lambda *bad: None, batch_chars=batch_chars)
        return
    if any(isinstance(v, dict) for record in records for v in record.values()):
        records = [flat_record(record) for record in records]
    expected = pd.DataFrame(records)
    got_told = []
    frame, got_numbers = json_lines_table(numbered, lambda *bad: got_told.append(bad), batch_chars=batch_chars)
    assert got_told == told and got_numbers.tolist() == numbers
    assert list(frame.columns) == list(expected.columns) and len(frame) == len(expected)

    def value(v):  # missing and NaN alike, in lists too (NaN is no NaN's equal)
        if isinstance(v, list):
            return [value(x) for x in v]
        return None if v is None or isinstance(v, float) and np.isnan(v) else v

    for column in expected:
        assert [value(v) for v in frame[column]] == [value(v) for v in expected[column]], column
        if expected[column].isna().all():  # pandas: object when every record has a null, else float
            continue
        for kind in (pd.api.types.is_numeric_dtype, pd.api.types.is_bool_dtype):
            assert kind(frame[column]) == kind(expected[column]), (column, frame[column].dtype, expected[column].dtype)


def test_json_lines_whose_kinds_change_between_pyarrow_blocks_do_not_stop_the_process():
    """pyarrow 26 reads JSON in blocks (1 MiB by default) and, where a key's kind changes from one
    block to the next (lists of lists, then a boolean), may end the process with a segmentation
    fault instead of an error: found by fuzzing, 2.25 MB of lines as a user could write them. A batch
    is now one block; the records read as Python's json reads them. In a child process, so that a
    crash fails this test rather than ending the run."""
    import subprocess

    code = """
import json
from deepsentry.core.tables import json_lines_table
def padded(line, size):
    return line[:-1] + " " * (size - len(line)) + "}"
a, b, c, d, e = '{"a":[1.5],"c":[[null]]}', '{"c":[[null]]}', '{"b":true,"c":true}', '{}', '{"b":2.5,"c":["x"]}'
lines = [padded(a, 250_000), padded(a, 250_000), padded(b, 250_000), padded(b, 248_000),
         padded(c, 250_000), padded(d, 250_000), padded(d, 250_000), padded(d, 248_000), padded(e, 250_000)]
frame, numbers = json_lines_table(enumerate(lines, 1), print)
print(json.dumps([numbers.tolist(), frame.astype(object).where(frame.notna(), None).to_dict("list")]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    numbers, columns = json.loads(done.stdout.splitlines()[-1])
    assert numbers == list(range(1, 10))
    assert columns == {"a": [[1.5], [1.5]] + [None] * 7, "c": [[[None]]] * 4 + [True, None, None, None, ["x"]],
                       "b": [None] * 4 + [True, None, None, None, 2.5]}


def test_zeek_record_longer_than_a_read_block(tmp_path):
    """pyarrow reads text in 1 MiB blocks and refuses a line longer than one: a 3 MB record (a
    runaway field in a log) reads as the others do."""
    fixture = (Path(__file__).parent / "fixtures" / "zeek_conn.log").read_text().splitlines()
    at = next(i for i, line in enumerate(fixture) if line and not line.startswith("#"))
    values = fixture[at].split("\t")
    values[-1] = "é" * 1_500_000
    fixture[at] = "\t".join(values)
    path = tmp_path / "conn.log"
    path.write_text("\n".join(fixture) + "\n", encoding="utf-8")
    flows = read_flows(path, ReadOptions(format="zeek", keep_columns=("tunnel_parents",)))
    assert len(flows) == 4 and flows.features["tunnel_parents"][0] == "é" * 1_500_000


def test_zeek_logs_compressed_cut_short_in_folders_and_with_a_chosen_label(tmp_path):
    """Zeek gzips the logs it rotates and keeps conn.log beside dns.log, http.log...: each reads
    as a user keeps them. A log cut short keeps its records before the cut, and every malformed
    record keeps its place (detect writes it as an error row, named by its line)."""
    fixture = Path(__file__).parent / "fixtures" / "zeek_conn.log"
    plain = read_flows(fixture)
    packed = write(tmp_path, "conn.01:00:00-02:00:00.log.gz", gzip.compress(fixture.read_bytes()))
    compressed = read_flows(packed)
    assert compressed.format == "zeek" and list(compressed.ids) == list(plain.ids)
    assert compressed.malformed_positions == {3: "expected 21 fields, found 20"}
    assert compressed.malformed_ids == {3: "line 12"} and list(compressed.positions) == [0, 1, 2, 4]
    whole = [line for number, line in enumerate(fixture.read_text().splitlines(keepends=True), 1) if number != 12]
    cut = write(tmp_path, "cut.log.gz", gzip.compress("".join(whole).encode())[:-40])
    short = read_flows(cut)
    assert 1 <= len(short) < len(plain) and short.report.malformed_rows == 1
    assert "file ends early or is corrupt" in list(short.malformed_positions.values())[-1]
    with pytest.raises(InputError, match="cut.log.gz, line 1[0-9]: file ends early"):
        read_flows(cut, ReadOptions(strict=True))
    # a label the user names is the label, and leaves the features
    chosen = read_flows(fixture, ReadOptions(label_column="conn_state", benign_labels=("SF",)))
    assert chosen.label_column == "conn_state" and "conn_state" not in chosen.features.columns
    assert chosen.is_malicious.tolist() == [0, 0, 1, 0]
    with pytest.raises(InputError, match="label column 'verdict' not found"):
        read_flows(fixture, ReadOptions(label_column="verdict", require_labels=True))
    # a field kept by name joins the features (text or numbers as its values are); a typo is named
    kept = read_flows(fixture, ReadOptions(keep_columns=("history", "orig_ip_bytes", "id.orig_p")))
    assert kept.features["history"].tolist() == ["ShADadFf", "Dd", "S", "ShADadFf"]
    assert kept.features["id.orig_p"].tolist() == [51000, 53001, 40000, 51003]
    with pytest.raises(InputError, match="column\\(s\\) 'histroy' not found"):
        read_flows(fixture, ReadOptions(keep_columns=("histroy",)))
    # another kind of Zeek log is no flow record
    dns = write(tmp_path, "dns.log", "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tquery\n"
                                     "1.0\tCa\t10.0.0.1\texample.com\n")
    with pytest.raises(InputError, match="dns.log: a Zeek dns log, not a conn.log"):
        read_flows(dns)
    # a folder of Zeek logs: its conn logs, one set; the others named and left out
    folder = tmp_path / "zeek"
    folder.mkdir()
    for source in (packed, dns):
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "conn.log").write_bytes(fixture.read_bytes())
    both = read_flows(folder)
    assert len(both) == 2 * len(plain) and both.report.malformed_rows == 2
    assert set(both.malformed_ids.values()) == {"conn.log, line 12", f"{packed.name}, line 12"}
    with pytest.raises(InputError, match="a Zeek conn.log, which has other flow features than format 'cic-ids2017'"):
        read_flows(folder, ReadOptions(format="cic-ids2017"))


def test_typed_parquet_columns_read_as_features_or_are_left_out_by_name(tmp_path, caplog):
    """Typed Parquet columns: a duration is seconds, nullable integers and booleans are numbers,
    a timestamp is an identifier; lists, records and raw bytes hold no feature value and are
    left out by name (their text made a category of every row, and bytes crashed the reader)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 6
    table = pa.table({
        "when": pa.array(pd.date_range("2026-01-01", periods=n, freq="s")),
        "elapsed": pa.array(pd.to_timedelta([0, 1500, 250, None, 10, 20], unit="ms")),
        "pkts": pa.array([1, 2, None, 4, 5, 6], type=pa.int64()),
        "syn": pa.array([True, False, None, True, False, True]),
        "sizes": pa.array([[60, 1500]] * n),
        "tls": pa.array([{"version": "1.3"}] * n),
        "payload": pa.array([b"\x80\xff"] * n),
        "label": pa.array(["normal", "attack"] * 3)})
    pq.write_table(table, tmp_path / "typed.parquet")
    with caplog.at_level(logging.WARNING):
        data = read_flows(tmp_path / "typed.parquet", ReadOptions(require_labels=True))
    assert list(data.features.columns) == ["elapsed", "pkts", "syn"]
    np.testing.assert_allclose(data.features["elapsed"], [0, 1.5, 0.25, np.nan, 0.01, 0.02])
    assert all(data.features[c].dtype.kind == "f" or c == "syn" for c in data.features.columns)
    assert any("sizes, tls, payload hold lists, records or raw bytes" in r.getMessage() for r in caplog.records)
    assert "when" in data.report.identifier_columns


def test_json_lines_flow_tables_read_as_the_same_table_in_csv_does(tmp_path, caplog):
    """A flow table written as JSON lines was read as a one-column CSV: 'missing columns', and a
    one-record file was a header with no rows, scored as 0 records with exit 0."""
    csv_text = ("Src IP,dur,bytes,proto,state,label\n10.0.0.1,0.5,100,tcp,SF,normal\n"
                "10.0.0.2,1.5,,udp,,attack\n10.0.0.3,n/a,300,tcp,S0,normal\n")
    from_csv = read_flows(write(tmp_path, "flows.csv", csv_text), ReadOptions(label_column="label"))
    lines = ['{"Src IP": "10.0.0.1", "dur": 0.5, "bytes": 100, "proto": "tcp", "state": "SF", "label": "normal"}',
             '',  # blank lines are no records, as in a CSV
             '{"Src IP": "10.0.0.2", "dur": 1.5, "bytes": null, "proto": "udp", "label": "attack"}',
             '{"Src IP": "10.0.0.3", "dur": "n/a", "bytes": 300, "proto": "tcp", "state": "S0", "label": "normal"}']
    for name in ("flows.jsonl", "flows.json", "flows.log"):
        data = read_flows(write(tmp_path, name, "\n".join(lines) + "\n"), ReadOptions(label_column="label"))
        assert list(data.features.columns) == list(from_csv.features.columns) == ["dur", "bytes", "proto", "state"]
        pd.testing.assert_frame_equal(data.features.astype(object).fillna(""),
                                      from_csv.features.astype(object).fillna(""), check_dtype=False)
        assert data.labels.tolist() == from_csv.labels.tolist() and data.ids.tolist() == [0, 1, 2]
        assert data.report.identifier_columns == ["Src IP"] and data.report.bad_values
    one = read_flows(write(tmp_path, "one.jsonl", lines[0] + "\n"), ReadOptions())
    # a null or absent label is an empty one, as a CSV's empty field (it read as the class 'nan')
    nulls = write(tmp_path, "nulls.jsonl", '{"dur": 1, "label": "normal"}\n{"dur": 2, "label": null}\n{"dur": 3}\n')
    assert read_flows(nulls, ReadOptions(label_column="label")).labels.tolist() == ["normal", "", ""]
    assert len(one.features) == 1
    # a line that is not a JSON object is a malformed record, counted and named; --strict refuses it
    broken = [lines[0], '{"dur": 2, "bytes"', "[1, 2]", lines[3], '{"dur": 3, "ports": [80, 443], "tls": {"v": 1.3}}']
    path = write(tmp_path, "broken.jsonl", "\n".join(broken) + "\n")
    with caplog.at_level(logging.WARNING):
        data = read_flows(path, ReadOptions())
    assert data.ids.tolist() == [0, 3, 4] and data.report.malformed_rows == 2
    assert [(e.row, e.reason.split(" (")[0]) for e in data.report.examples[:2]] == [(2, "not JSON"),
                                                                                     (3, "not a JSON object")]
    assert "tls.v" in data.features.columns and "ports" not in data.features.columns
    # a key "a.b" beside {"a": {"b": ...}}: both kept, as pandas keeps repeated columns
    both = read_flows(write(tmp_path, "both.jsonl", '{"a.b": 1, "a": {"b": 2}}\n{"a.b": 3, "a": {"b": 4}}\n'))
    assert both.features.to_dict("list") == {"a.b": [1, 3], "a.b.1": [2, 4]}
    assert "ports hold lists" in caplog.text
    with pytest.raises(InputError, match="not JSON") as caught:
        read_flows(path, ReadOptions(strict=True))
    assert caught.value.row == 2
    # gzip-compressed, and in a folder beside CSV tables
    with gzip.open(tmp_path / "more.jsonl.gz", "wt") as handle:
        handle.write("\n".join(lines))
    assert len(read_flows(tmp_path / "more.jsonl.gz", ReadOptions())) == 3
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder, "a.csv", csv_text)
    write(folder, "b.jsonl", "\n".join(lines))
    assert read_flows(folder, ReadOptions(label_column="label")).labels.tolist() == ["normal", "attack", "normal"] * 2


def test_a_json_number_python_refuses_to_convert_is_a_malformed_record(tmp_path):
    """Python refuses to convert an integer of more than 4,300 digits (a ValueError, not a JSON
    error): one such value in a JSON-lines table or a JSON Zeek log stopped `detect` with a
    traceback. It is a malformed record, counted and named; --strict refuses it at its line."""
    huge = "9" * 5000
    table = write(tmp_path, "flows.jsonl", f'{{"dur": 1, "label": "normal"}}\n{{"dur": {huge}, "label": "x"}}\n'
                                           '{"dur": 3, "label": "normal"}\n')
    zeek = write(tmp_path, "conn.log", '{"id.orig_h": "10.0.0.1", "duration": 1.5, "proto": "tcp"}\n'
                                       f'{{"id.orig_h": "10.0.0.2", "duration": {huge}, "proto": "tcp"}}\n')
    for path, kept in ((table, 2), (zeek, 1)):
        data = read_flows(path)
        assert len(data) == kept and data.report.malformed_rows == 1
        assert data.report.examples[0].row == 2 and "4300 digits" in data.report.examples[0].reason
        with pytest.raises(InputError, match="4300 digits") as caught:
            read_flows(path, ReadOptions(strict=True))
        assert caught.value.row == 2


def test_damaged_parquet_and_feather_files_are_read_or_refused_never_crash(tmp_path, caplog):
    """Mutants of a Parquet and a Feather file (bytes changed, cut, removed): each is read, or
    refused as an input error naming the file. pyarrow's own errors (a corrupt length asking for
    terabytes: ArrowMemoryError; an unknown codec) and pandas' (its metadata in the file: bad JSON,
    bad UTF-8) stopped `detect` with a traceback. A file whose pandas metadata alone is corrupt is
    read by its Arrow schema, with a warning."""
    import random

    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"dur": np.arange(40) * 0.5, "proto": ["tcp", "udp"] * 20, "label": ["normal", "attack"] * 20},
                         index=np.arange(40) * 2)
    clean = read_flows(write(tmp_path, "clean.csv", frame.to_csv(index=False)), ReadOptions(label_column="label"))
    rng = random.Random(0)
    for suffix in ("parquet", "feather"):
        source = tmp_path / f"base.{suffix}"
        frame.to_parquet(source) if suffix == "parquet" else frame.reset_index(drop=True).to_feather(source)
        # pandas' metadata alone corrupt: the columns as Arrow has them, the saved index left out
        table = pq.read_table(source) if suffix == "parquet" else feather.read_table(source)
        table = table.replace_schema_metadata({b"pandas": b'{"index_columns": \xff'})
        damaged = tmp_path / f"meta.{suffix}"
        pq.write_table(table, damaged) if suffix == "parquet" else feather.write_feather(table, damaged)
        with caplog.at_level(logging.WARNING):
            data = read_flows(damaged, ReadOptions(label_column="label"))
        pd.testing.assert_frame_equal(data.features, clean.features, check_dtype=False)
        assert "pandas metadata stored in the file is corrupt" in caplog.text
        caplog.clear()
        base = source.read_bytes()
        for _ in range(300):
            blob = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(blob))
                if rng.random() < 0.6:
                    blob[at] = rng.randrange(256)
                elif rng.random() < 0.5:
                    blob[at:at + 4] = rng.randbytes(4)
                else:
                    del blob[at:at + rng.randint(1, 50)]
            path = tmp_path / f"mutant.{suffix}"
            path.write_bytes(bytes(blob))
            try:
                read_flows(path, ReadOptions(label_column="label"))
            except InputError as exc:
                assert "mutant" in str(exc)
    assert isinstance(pa.ArrowMemoryError("x"), MemoryError)  # caught as pyarrow's, not as the machine's


def test_feather_tables_read_as_parquet_does(tmp_path):
    """Feather (Arrow IPC), what pandas' to_feather writes, was refused as 'binary, not delimited text'."""
    frame = pd.DataFrame({"dur": [0.5, 1.5, 2.5], "proto": pd.Categorical(["tcp", "udp", None]),
                          "sizes": [[1], [2], [3]], "label": ["normal", "attack", "normal"]})
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_feather(tmp_path / "t.feather")
    parquet = read_flows(tmp_path / "t.parquet", ReadOptions(label_column="label"))
    feather = read_flows(tmp_path / "t.feather", ReadOptions(label_column="label"))
    pd.testing.assert_frame_equal(feather.features, parquet.features)
    assert list(feather.features.columns) == ["dur", "proto"] and feather.labels.tolist() == parquet.labels.tolist()
    (tmp_path / "cut.feather").write_bytes((tmp_path / "t.feather").read_bytes()[:100])
    with pytest.raises(InputError, match=r"cannot read Feather \(Arrow IPC\)"):
        read_flows(tmp_path / "cut.feather")


def test_labels_that_differ_only_in_case_are_one_class(tmp_path, caplog):
    """Exports of one dataset spell a class differently ('BENIGN', 'Benign'; 'DoS', 'dos'): one
    class each, under the spelling most records use, in a file and across a folder's files."""
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder, "a.csv", "dur,label\n" + "1,BENIGN\n2,DoS\n3,DoS\n")
    write(folder, "b.csv", "dur,label\n" + "4,Benign\n5,Benign\n6,dos\n7,Benign\n")
    with caplog.at_level(logging.WARNING):
        data = read_flows(folder, ReadOptions(label_column="label"))
    assert data.labels.tolist() == ["Benign", "DoS", "DoS", "Benign", "Benign", "DoS", "Benign"]
    assert data.raw_labels.tolist()[:3] == ["BENIGN", "DoS", "DoS"]  # as written
    assert "labels that differ only in case read as one class: 'BENIGN' as 'Benign', 'dos' as 'DoS'" in caplog.text
    assert data.is_malicious.tolist() == [0, 1, 1, 0, 0, 1, 0]


def test_a_utf16_table_or_a_workbook_is_a_clear_error(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("dur,bytes,label\n1,2,normal\n", encoding="utf-16")
    with pytest.raises(InputError, match="export.csv: file is UTF-16 text; tables are read as UTF-8.*iconv"):
        read_flows(path)
    import zipfile

    workbook = tmp_path / "flows.xlsx"
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputError, match="flows.xlsx: file is a ZIP archive.*save the sheet as CSV"):
        read_flows(workbook)


def test_address_and_time_columns_are_identifiers_whatever_their_name(tmp_path):
    rows = [f"10.0.{i}.7,fe80::{i},2024-01-0{i % 9 + 1} 10:00:0{i},aa:bb:cc:dd:ee:0{i},tcp,{i * 10},{'attack' if i % 2 else 'normal'}"
            for i in range(8)]
    path = write(tmp_path, "x.csv", "sAddress,peer6,when,mac,proto,bytes,label\n" + "\n".join(rows) + "\n")
    data = read_flows(path, ReadOptions(label_column="label"))
    assert data.report.identifier_columns == ["sAddress", "peer6", "when", "mac"]
    assert list(data.features.columns) == ["proto", "bytes"]
    kept = read_flows(path, ReadOptions(label_column="label", keep_columns=("saddress",)))
    assert "sAddress" in kept.features.columns


def test_ctu13_argus_flows_map_their_labels_to_botnet_normal_and_background(tmp_path):
    header = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label\n"
    rows = ("2011/08/10 09:46:53.047277,3550.18,udp,212.50.71.179,39678,  <->,147.32.84.229,13363,CON,0,0,12,875,413,"
            "flow=Background-UDP-Established\n"
            "2011/08/10 09:46:54.001000,0.5,icmp,147.32.84.165,0x0008,   ->,8.8.8.8,0x0303,URP,0,,2,140,70,"
            "flow=From-Botnet-V42-ICMP\n"
            "2011/08/10 09:46:55.001000,1.5,tcp,147.32.84.170,1042,   ->,74.125.1.1,80,FSPA_FSPA,0,0,9,1200,600,"
            "flow=From-Normal-V42-Stribrling\n")
    path = write(tmp_path, "capture20110810.binetflow", header + rows)
    data = read_flows(path, ReadOptions(require_labels=True))
    assert data.format == "ctu-13"
    assert list(data.labels) == ["Background", "Botnet", "Normal"] and list(data.is_malicious) == [0, 1, 0]
    assert data.raw_labels[1] == "flow=From-Botnet-V42-ICMP"
    assert list(data.features["Dport"]) == [13363, 0x0303, 80]  # ICMP type and code, in hex
    assert [d.strip() for d in data.features["Dir"]] == ["<->", "->", "->"] and not data.report.bad_values
    assert set(data.report.identifier_columns) == {"StartTime", "SrcAddr", "Sport", "DstAddr"}
    unknown = write(tmp_path, "other.binetflow", header + rows.replace("flow=From-Normal-V42-Stribrling", "scan"))
    with pytest.raises(InputError, match="unknown ctu-13 label.*scan.*--format csv"):
        read_flows(unknown, ReadOptions(require_labels=True))
    as_they_are = read_flows(unknown, ReadOptions(format="csv", label_column="Label", benign_labels=("scan",)))
    assert list(as_they_are.is_malicious) == [1, 1, 0]
    unknown.unlink()  # a scenario's folder, as CTU-13 ships it: the flows beside the capture
    (tmp_path / "botnet-capture-20110810-neris.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    assert list(read_flows(tmp_path, ReadOptions(require_labels=True)).labels) == ["Background", "Botnet", "Normal"]


def test_cidds_and_edge_iiotset_attack_columns_are_labels_never_features(tmp_path):
    """CIDDS-001 names each attack flow's attack in attackID and attackDescription, beside class and
    attackType; Edge-IIoTset has a binary Attack_label beside Attack_type: as features they would
    hand the model the answer."""
    cidds = ("Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,"
             "class,attackType,attackID,attackDescription\n"
             "2017-03-15 00:01:16.632,0.000,TCP,192.168.100.5,445,192.168.220.16,58844.0,1,108,1,.AP...,0,"
             "normal,---,---,---\n"
             "2017-03-15 00:01:17.100,0.010,TCP,192.168.220.16,41000,192.168.100.5,22.0,1,   1.2 M,1,....S.,0,"
             "attacker,portScan,1,nmap args: -sS -T4\n")
    path = write(tmp_path, "CIDDS-001-internal-week1.csv", cidds)
    with pytest.raises(InputError, match="several label columns"):
        read_flows(path, ReadOptions(require_labels=True))
    data = read_flows(path, ReadOptions(label_column="class", benign_labels=("normal",), require_labels=True))
    assert list(data.features.columns) == ["Duration", "Proto", "Dst Pt", "Packets", "Bytes", "Flows", "Flags", "Tos"]
    assert "Src Pt" in data.report.identifier_columns and list(data.is_malicious) == [0, 1]
    assert list(data.features["Bytes"]) == [108, 1.2e6] and not data.report.bad_values  # nfdump's units
    edge = write(tmp_path, "Edge-IIoTset.csv", "tcp.len,tcp.flags,Attack_label,Attack_type\n0,2,1,Port_Scanning\n"
                                               "40,24,0,Normal\n")
    data = read_flows(edge, ReadOptions(label_column="Attack_type", require_labels=True))
    assert list(data.features.columns) == ["tcp.len", "tcp.flags"] and list(data.is_malicious) == [1, 0]
    # X-IIoTID numbers its three labels (and spells its source port Scr_port); NF-UQ-NIDS names
    # each flow's data set
    xiiotid = write(tmp_path, "X-IIoTID.csv", "Scr_port,Des_port,Duration,class1,class2,class3\n"
                                             "51000,80,0.5,Normal,Normal,Normal\n41000,22,0.1,Reconnaissance,Scanning,Attack\n")
    data = read_flows(xiiotid, ReadOptions(label_column="class3", benign_labels=("Normal",), require_labels=True))
    assert list(data.features.columns) == ["Des_port", "Duration"] and list(data.is_malicious) == [0, 1]
    assert data.report.label_columns == ["class1", "class2", "class3"]
    nfuq = write(tmp_path, "NF-UQ-NIDS.csv", "IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,IN_BYTES,"
                                           "Label,Attack,Dataset\n10.0.0.1,5555,10.0.0.2,80,6,100,0,Benign,NF-UNSW-NB15\n"
                                           "10.0.0.3,5556,10.0.0.2,22,6,10,1,DoS,NF-BoT-IoT\n")
    data = read_flows(nfuq)
    assert "Dataset" in data.report.identifier_columns and "Dataset" not in data.features.columns


def test_nfdump_silk_and_argus_exports_leave_their_identifiers_and_footer_out(tmp_path):
    """nfdump's CSV names its source port 'sp' and ends with a summary footer; SiLK writes
    year-first dates with slashes and Argus times of day: none of them is a feature."""
    header = "ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt,label\n"
    rows = [f"2016-08-23 12:00:0{i},2016-08-23 12:00:0{i},1.5,10.0.0.{i},10.0.1.9,{40000 + i},80,TCP,.AP.SF,"
            f"{i + 3},{i * 100 + 60},{'attack' if i % 2 else 'benign'}" for i in range(6)]
    footer = "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n6,1560,33,4000,5,100\n"
    data = read_flows(write(tmp_path, "nfdump.csv", header + "\n".join(rows) + "\n" + footer),
                      ReadOptions(label_column="label"))
    assert data.report.identifier_columns == ["ts", "te", "sa", "da", "sp"]
    assert list(data.features.columns) == ["td", "dp", "pr", "flg", "ipkt", "ibyt"]
    assert data.report.malformed_rows == 3 and sorted(data.malformed_positions) == [6, 7, 8]
    assert all("nfdump's summary footer" in why for why in data.malformed_positions.values())
    silk = "sIP,dIP,sPort,dPort,protocol,packets,bytes,sTime,eTime,Argus LastTime,label\n" + "".join(
        f"10.0.0.{i},10.0.1.9,{40000 + i},22,6,{i + 3},{i * 100 + 60},2009/02/12T00:00:0{i}.000,"
        f"2009/02/12T00:00:1{i}.000,12:34:5{i}.789012,{'attack' if i % 2 else 'benign'}\n" for i in range(6))
    data = read_flows(write(tmp_path, "silk.csv", silk), ReadOptions(label_column="label"))
    assert list(data.features.columns) == ["dPort", "protocol", "packets", "bytes"]


def test_repeated_and_empty_header_names_are_renamed_and_said(tmp_path, caplog):
    path = write(tmp_path, "hd.csv", "a,a,,label\n" + "1,2,3,x\n4,5,6,normal\n" * 5)
    with caplog.at_level(logging.WARNING, logger="deepsentry.core.tables"):
        data = read_flows(path, ReadOptions(label_column="label", benign_labels=("normal",)))
    assert list(data.features.columns) == ["a", "a.1", "column_3"]
    assert any("renamed: a -> a.1, (empty) -> column_3" in r.getMessage() for r in caplog.records)


def eve_lines() -> list[str]:
    """A few events of Suricata's eve.json: TCP and UDP flows (nested objects, booleans, a hex
    flag word only TCP flows have), with a dns and a stats event between them."""
    def flow(i: int, proto: str, pkts: int, state: str) -> dict:
        event = {"timestamp": f"2026-11-29T10:00:0{i}.000000+0000", "flow_id": 1000 + i, "in_iface": "eth0",
                 "event_type": "flow", "src_ip": f"10.0.0.{i}", "src_port": 40000 + i, "dest_ip": "192.0.2.1",
                 "dest_port": 443 if proto == "TCP" else 53, "proto": proto, "community_id": f"1:abc{i}=",
                 "flow": {"pkts_toserver": pkts, "pkts_toclient": pkts - 1, "bytes_toserver": 100 * pkts,
                          "bytes_toclient": 90 * pkts, "start": "2026-11-29T10:00:00.000000+0000",
                          "end": "2026-11-29T10:00:01.000000+0000", "age": 1, "state": state,
                          "reason": "timeout", "alerted": i == 4}}
        if proto == "TCP":
            event["tcp"] = {"tcp_flags": "1b", "syn": True, "fin": i % 2 == 0, "state": "closed"}
        return event

    events = [flow(1, "TCP", 10, "closed"), flow(2, "UDP", 2, "established"),
              {"timestamp": "2026-11-29T10:00:02.5+0000", "flow_id": 1002, "event_type": "dns", "proto": "UDP",
               "dns": {"type": "query", "rrname": "example.com"}},
              flow(3, "UDP", 3, "established"),
              {"timestamp": "2026-11-29T10:00:03.5+0000", "event_type": "stats", "stats": {"uptime": 9}},
              flow(4, "TCP", 8, "closed"), flow(5, "UDP", 2, "new")]
    return [json.dumps(e) for e in events]


def eve_training_lines(copies: int = 40) -> list[str]:
    """:func:`eve_lines` ``copies`` times, each copy's flows with their own flow_id and packet count."""
    events = []
    for copy in range(copies):
        for line in eve_lines():
            event = json.loads(line)
            if "flow_id" in event:
                event["flow_id"] += 100 * copy
            if event["event_type"] == "flow":
                event["flow"]["pkts_toserver"] += copy
            events.append(json.dumps(event))
    return events


def test_suricata_eve_json_reads_its_flow_events_as_flows(tmp_path, caplog):
    """eve.json read as a generic JSON-lines table scored every event as a flow (a stats event
    raised alerts), read JSON booleans as non-numbers, took a TCP-only text field for a number
    column with bad values (most records lack it), and a model's field absent from a file (no
    TCP flow in it) was a 'missing column' error."""
    path = write(tmp_path, "eve.json", "\n".join(eve_lines()) + "\n")
    with caplog.at_level(logging.WARNING):
        data = read_flows(path)
    assert data.format == "suricata-eve" and len(data) == 5
    assert data.ids.tolist() == [1001, 1002, 1003, 1004, 1005]  # flow_id, as Suricata's alerts name it
    assert data.report.malformed_rows == 2 and data.malformed_positions == {
        2: "a dns event, not a flow record (event_type is not 'flow')",
        4: "a stats event, not a flow record (event_type is not 'flow')"}
    assert [e.row for e in data.report.examples] == [3, 5]  # lines in the file
    assert not data.report.bad_values and "event(s) that are not flow records" in caplog.text
    columns = set(data.features.columns)
    assert not any(c.startswith(("dns.", "stats.")) for c in columns) and "event_type" not in columns
    assert {"src_ip", "src_port", "dest_ip", "community_id", "in_iface", "timestamp", "flow.start",
            "flow.end"} <= set(data.report.identifier_columns)
    assert "dest_port" in columns and data.features["flow.pkts_toserver"].tolist() == [10, 2, 3, 8, 2]
    features = data.features
    assert features["tcp.syn"].tolist()[::3] == [1.0, 1.0] and features["tcp.syn"].isna().sum() == 3
    assert features["tcp.fin"].tolist()[0] == 0.0 and features["tcp.fin"].tolist()[3] == 1.0
    assert features["flow.alerted"].tolist() == [0, 0, 0, 1, 0]
    # text fields stay categories, also where most records lack them
    for column in ("tcp.tcp_flags", "tcp.state", "proto", "flow.state"):
        assert not pd.api.types.is_numeric_dtype(features[column]), column
    # --strict: other events are not malformed flows, so they do not stop the read
    assert len(read_flows(path, ReadOptions(strict=True))) == 5
    # scoring with a model of these columns: a file without TCP flows lacks the tcp.* fields,
    # which are then missing values in every record, named in a warning
    udp_only = write(tmp_path, "udp.json", "\n".join(eve_lines()[1:4:2]) + "\n")
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        scored = read_flows(udp_only, ReadOptions(format="suricata-eve", model_columns=tuple(features.columns),
                                                  numeric_columns=tuple(numeric)))
    assert len(scored) == 2 and scored.features["tcp.syn"].isna().all()
    assert scored.features["tcp.state"].isna().all() and "tcp.syn" in caplog.text
    assert "read as missing values" in caplog.text


def test_text_columns_are_judged_on_the_values_present_and_booleans_are_numbers(tmp_path):
    """A generic table: a text column that most rows leave empty is a category, not a numeric
    column whose every value is bad; True/False (pandas' and spreadsheets' booleans) are 1 and 0,
    as a served record's JSON true and false are."""
    text = ("dur,state,syn,label\n" + "1,,True,normal\n" * 6 + "2,SF,FALSE,attack\n3,S0,,normal\n")
    data = read_flows(write(tmp_path, "flows.csv", text), ReadOptions(label_column="label"))
    assert not data.report.bad_values
    assert data.features["state"].tolist()[-2:] == ["SF", "S0"]
    assert data.features["syn"].tolist()[:7] == [1.0] * 6 + [0.0] and np.isnan(data.features["syn"].iloc[7])


def follow(path, actions, format=None, **options):
    """The pieces :func:`follow_pieces` gives while ``actions`` (one a poll) change the file."""
    import time

    from deepsentry.flows.readers import follow_pieces

    pending = list(actions)

    def sleep(seconds):
        if pending:
            pending.pop(0)()
        else:
            time.sleep(seconds)

    return [(p.text.decode(), p.lines_before, p.header_lines)
            for p in follow_pieces(path, format, poll_s=0.01, deadline=time.monotonic() + 1.0, sleep=sleep, **options)]


def test_a_growing_flow_table_is_followed_line_by_line_across_rotation_and_truncation(tmp_path):
    """watch flows reads a flow log as it is written: whole lines only (a line is taken once its
    newline is there), the header in front of each piece, line numbers of the file; a rotated
    file is read to its end before the new one, a truncated one again from its start."""
    path = tmp_path / "flows.csv"
    path.write_text("dur,bytes\n1,10\n2,20\n")

    def append(text):
        return lambda: path.open("a").write(text)

    def rotate():
        path.rename(tmp_path / "flows.csv.1")
        path.write_text("dur,bytes\n7,70\n")

    def truncate():
        path.write_text("dur,bytes\n9,90\n")  # shorter than what was read: read again from the start

    pieces = follow(path, [append("3,30\n4,"), append("40\n5,50"), rotate, append("8,80\n"), truncate])
    assert pieces == [("dur,bytes\n1,10\n2,20\n", 0, 1), ("dur,bytes\n3,30\n", 2, 1), ("dur,bytes\n4,40\n", 3, 1),
                      ("dur,bytes\n5,50\n", 4, 1),  # the old file's last line, never to get its newline
                      ("dur,bytes\n7,70\n", 0, 1), ("dur,bytes\n8,80\n", 1, 1), ("dur,bytes\n9,90\n", 0, 1)]
    # from its end: the lines there are skipped but counted; a Zeek log's '#' lines lead each piece
    zeek = tmp_path / "conn.log"
    head = "#separator \\x09\n#fields\tts\tduration\n#types\ttime\tinterval\n"
    zeek.write_text(head + "1.0\t0.5\n2.0\t0.7\n")
    grown = follow(zeek, [lambda: zeek.open("a").write("3.0\t0.9\n")], format="zeek", from_end=True)
    assert grown == [(head + "3.0\t0.9\n", 2, 3)]
    # JSON lines have no header; --once reads a last line without its newline
    lines = tmp_path / "eve.json"
    lines.write_text('{"a": 1}\n{"a": 2}\n{"a": 3}')
    assert follow(lines, [], once=True) == [('{"a": 1}\n{"a": 2}\n', 0, 0), ('{"a": 3}\n', 2, 0)]
    # a log long when first looked at is read a piece at a time
    assert follow(lines, [], once=True, piece_bytes=9) == [('{"a": 1}\n', 0, 0), ('{"a": 2}\n', 1, 0),
                                                           ('{"a": 3}\n', 2, 0)]
    # a file that appears later is waited for; one whose first line is not whole yet too
    later = tmp_path / "later.jsonl"
    assert follow(later, [lambda: later.write_text('{"a"'), lambda: later.open("a").write(': 1}\n')]) == \
        [('{"a": 1}\n', 0, 0)]
    with gzip.open(tmp_path / "z.jsonl", "wt") as handle:
        handle.write('{"a": 1}\n')
    with pytest.raises(InputError, match="a gzip-compressed file does not grow"):
        follow(tmp_path / "z.jsonl", [])


class _Done(Exception):
    pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.text(alphabet="ab,1 \"{}:", max_size=12), min_size=1, max_size=25),
       cuts=st.lists(st.integers(0, 400), max_size=8), header=st.booleans())
def test_a_followed_table_gives_each_whole_line_once_however_its_writes_are_cut(tmp_path, rows, cuts, header):
    """However a writer's bytes reach the file (cut mid-line, mid-header, many lines at once),
    the follower hands over every line exactly once, whole, in order, each piece numbered by the
    lines before it, and with the header in front."""
    from deepsentry.flows.readers import follow_pieces

    head = "h1,h2\n" if header else ""
    text = head + "".join(f"{r}\n" for r in rows)
    data = text.encode()
    points = sorted({min(c, len(data)) for c in cuts} | {len(data)})
    path = tmp_path / f"grow{len(rows)}-{len(cuts)}-{header}.csv"
    path.write_bytes(b"")
    chunks = [data[a:b] for a, b in zip([0, *points], points)]

    def sleep(_seconds):
        if not chunks:
            raise _Done
        with path.open("ab") as handle:
            handle.write(chunks.pop(0))

    pieces = []
    try:
        for piece in follow_pieces(path, "csv" if header else "nsl-kdd", poll_s=0, sleep=sleep):
            pieces.append(piece)
    except _Done:
        pass
    body_data = data[len(head):]
    end = 0  # where the lines handed over so far end in the file's records
    for piece in pieces:
        assert piece.text.startswith(head.encode()) and piece.header_lines == head.count("\n")
        body = piece.text[len(head):]
        assert body.endswith(b"\n") and body.strip()  # whole lines; blank-only reads are not handed over
        start = body_data.find(body, end)
        assert start >= 0 and not body_data[end:start].strip()  # only blank lines skipped between
        assert piece.lines_before == body_data[:start].count(b"\n")
        end = start + len(body)
    assert not body_data[end:].strip()  # nothing left over
    path.unlink()
