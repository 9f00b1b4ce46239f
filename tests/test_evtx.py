"""Windows EVTX logs (issue 5): reading binary .evtx, flattening events, damage accounting, fuzzing,
and the log verbs end to end. The files are written by tests/evtx_writer.py (no EVTX sample ships
with the datasets); the writer was checked against two independent parsers (pyevtx-rs and
python-evtx read its files identically)."""

from __future__ import annotations

import json
import random
import struct

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepsentry.cli import main
from deepsentry.core.errors import ConfigError
from deepsentry.core.tables import ReadReport
from deepsentry.logs.drain import TemplateMiner
from deepsentry.logs.evtx import EvtxFormat, census, flatten_event, is_evtx
from deepsentry.logs.formats import LogFormat
from deepsentry.logs.sequences import iter_lines, read_log_sessions
from evtx_writer import CHUNK_HEADER, CHUNK_SIZE, FILE_HEADER, write_evtx

SESSION = r'"(?:Target|Subject)UserName": "([^"]+)"'


def logon_day(users: int, brute_force: int, seed: int) -> list[tuple[dict, dict]]:
    """Per user: a logon, a few process starts, a logoff; the first ``brute_force`` users are
    preceded by a burst of failed logons (4625) from another network."""
    rng = random.Random(seed)
    events = []
    for i in range(users):
        user = f"user{i}"
        if i < brute_force:
            events += [({"EventID": "4625"}, {"TargetUserName": user, "IpAddress": f"10.9.9.{rng.randint(1, 9)}",
                                              "LogonType": "3", "Status": "0xc000006d"})
                       for _ in range(rng.randint(8, 15))]
        events.append(({"EventID": "4624"}, {"TargetUserName": user, "IpAddress": f"10.0.0.{rng.randint(1, 200)}",
                                             "LogonType": rng.choice(["2", "3", "10"])}))
        events += [({"EventID": "4688"}, {"SubjectUserName": user, "NewProcessName": rng.choice(
            ["C:\\Windows\\explorer.exe", "C:\\Program Files\\Office\\word.exe"])}) for _ in range(rng.randint(1, 4))]
        events.append(({"EventID": "4634"}, {"TargetUserName": user, "LogonType": "3"}))
    return events


def test_events_become_flat_json_lines_in_record_order(tmp_path):
    events = logon_day(40, 0, seed=1)
    path = write_evtx(tmp_path / "Security.evtx", events, records_per_chunk=50)  # several chunks
    assert is_evtx(path) and census(path).records == len(events)
    report = ReadReport()
    lines = list(iter_lines(path, report))
    assert report.rows == len(events) and report.malformed_rows == 0 and not report.bad_values
    assert [n for n, _ in lines] == list(range(1, len(events) + 1))
    fmt = LogFormat.from_spec("evtx")
    first = fmt.parse(lines[0][1])
    assert first["EventID"] == "4624" and first["TargetUserName"] == "user0" and first["Channel"] == "Security"
    assert first["TimeCreated"].startswith("2026-11-01T08:00:00")
    assert first["Content"].startswith("Microsoft-Windows-Security-Auditing EventID_4624 TargetUserName=user0 ")
    ids = [json.loads(line)["EventRecordID"] for _, line in lines]
    assert ids == list(range(1, len(events) + 1))
    spaces = fmt.parse(next(line for _, line in lines if "word.exe" in line))
    assert "NewProcessName=C:\\Program_Files\\Office\\word.exe" in spaces["Content"]  # one token per value


def test_flatten_handles_userdata_unnamed_data_and_evtx_dump_lines():
    cleared = flatten_event({"Event": {"System": {"EventID": {"#text": 1102, "#attributes": {"Qualifiers": 0}},
                                                  "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}}},
                                       "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"},
                                                                       "SubjectUserName": "admin"}}}})
    assert cleared["EventID"] == 1102 and cleared["SubjectUserName"] == "admin"
    assert cleared["message"] == "Microsoft-Windows-Eventlog EventID_1102 SubjectUserName=admin"
    unnamed = flatten_event({"Event": {"System": {"EventID": 7045}, "EventData": {"Data": ["svc", None, "x y"]}}})
    assert unnamed["Data.0"] == "svc" and unnamed["Data.2"] == "x y" and "Data.1" not in unnamed
    dumped = json.dumps({"Event": {"System": {"EventID": 4625, "Computer": "DC1"}, "EventData": {"TargetUserName": "bob"}}})
    fields = EvtxFormat().parse(dumped)  # evtx_dump -o jsonl
    assert fields["Computer"] == "DC1" and fields["Content"] == "- EventID_4625 TargetUserName=bob"
    for garbage in ("not json", "[1, 2]", '{"some": "thing"}'):
        assert EvtxFormat().parse(garbage) is None


def test_success_and_failure_logons_stay_separate_templates(tmp_path):
    path = write_evtx(tmp_path / "day.evtx", logon_day(30, 5, seed=2))
    out = tmp_path / "t.csv"
    assert main(["extract", "templates", str(path), "--format", "evtx", "--out", str(out)]) == 0
    table = pd.read_csv(tmp_path / "t.templates.csv")
    assert len(table) == 4  # 4624, 4625, 4688, 4634: numbers are masked, event ids are not
    assert sorted(t.split()[1] for t in table["template"]) == ["EventID_4624", "EventID_4625", "EventID_4634",
                                                               "EventID_4688"]


def test_damaged_records_chunks_and_truncation_are_counted_not_fatal(tmp_path):
    events = logon_day(40, 0, seed=3)
    clean = write_evtx(tmp_path / "clean.evtx", events, records_per_chunk=50).read_bytes()
    n_chunks = census(tmp_path / "clean.evtx").chunks

    broken_record = bytearray(clean)
    broken_record[FILE_HEADER + CHUNK_HEADER + 4:FILE_HEADER + CHUNK_HEADER + 8] = struct.pack("<I", 3)  # size
    (tmp_path / "record.evtx").write_bytes(broken_record)
    report = ReadReport()
    kept = list(iter_lines(tmp_path / "record.evtx", report))
    assert kept and report.rows + report.malformed_rows >= len(events) - 1
    assert report.malformed_rows >= 1 and any("record" in str(e) for e in report.examples)

    broken_chunk = bytearray(clean)
    second = FILE_HEADER + CHUNK_SIZE
    broken_chunk[second:second + 8] = b"XXXXXXXX"
    (tmp_path / "chunk.evtx").write_bytes(broken_chunk)
    report = ReadReport()
    kept = list(iter_lines(tmp_path / "chunk.evtx", report))
    assert len(kept) == len(events) - 50 and report.bad_values["EVTX corrupt chunks"] == 1
    assert n_chunks > 2

    (tmp_path / "cut.evtx").write_bytes(clean[:FILE_HEADER + CHUNK_SIZE + 1000])
    report = ReadReport()
    kept = list(iter_lines(tmp_path / "cut.evtx", report))
    assert len(kept) == 50 and report.bad_values["EVTX file ends early"] == 1
    # cut at a chunk's edge, down to the file header alone (a fuzzed case): every record was lost
    # and nothing said so, as no chunk was left to end early
    for chunks in (1, 0):
        (tmp_path / "edge.evtx").write_bytes(clean[:FILE_HEADER + chunks * CHUNK_SIZE])
        report = ReadReport()
        kept = list(iter_lines(tmp_path / "edge.evtx", report))
        assert len(kept) == 50 * chunks and report.bad_values["EVTX file ends early"] == 1
    assert census(tmp_path / "clean.evtx").truncated is False


_CLEAN: dict[str, object] = {}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, 255)), min_size=1, max_size=30),
       cut=st.one_of(st.none(), st.integers(8, 3 * CHUNK_SIZE)))
def test_fuzz_evtx_reader_never_crashes_and_accounts_for_records(tmp_path, edits, cut):
    if "file" not in _CLEAN:
        events = logon_day(30, 3, seed=4)
        _CLEAN["file"] = write_evtx(tmp_path / "seed.evtx", events, records_per_chunk=60).read_bytes()
        _CLEAN["records"] = len(events)
    data = bytearray(_CLEAN["file"])
    for offset, value in edits:
        data[(FILE_HEADER + offset) % len(data)] = value
    if cut is not None:
        data = data[:cut]
    path = tmp_path / "fuzzed.evtx"
    path.write_bytes(bytes(data))
    report = ReadReport()
    lines = list(iter_lines(path, report))  # never raises: damage is counted
    fmt = LogFormat.from_spec("evtx")
    assert all(fmt.parse(line) is not None for _, line in lines)
    assert report.rows == len(lines)
    if not report.problems:  # nothing reported means nothing lost
        assert len(lines) == _CLEAN["records"]


def test_train_and_detect_on_evtx_flag_the_brute_forced_accounts(tmp_path):
    train = write_evtx(tmp_path / "train.evtx", logon_day(300, 0, seed=1))
    test = write_evtx(tmp_path / "test.evtx", logon_day(100, 5, seed=2))
    model = tmp_path / "model"
    assert main(["train", "logs", "--data", str(train), "--format", "evtx", "--session", SESSION,
                 "--epochs", "5", "--out", str(model)]) == 0
    preds = tmp_path / "preds.csv"
    assert main(["detect", "--model", str(model), str(test), "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert len(table) == 100
    alerted = set(table.loc[table["alert"] == 1, "id"])
    assert {f"user{i}" for i in range(5)} <= alerted
    assert len(alerted) <= 5 + 3  # at most 3 of the 95 ordinary accounts


def renamed(events: list[tuple[dict, dict]], prefix: str) -> list[tuple[dict, dict]]:
    return [(system, {k: v.replace("user", prefix) for k, v in data.items()}) for system, data in events]


def test_watch_follows_a_growing_evtx_by_record_id(tmp_path):
    """Windows rewrites an .evtx in place: each change is read again and only events past the last
    EventRecordID handled are fed; a cleared log (ids start again) is read from its first event."""
    from deepsentry.detection.watch_logs import watch_log

    model_dir = tmp_path / "model"
    train = write_evtx(tmp_path / "train.evtx", logon_day(300, 0, seed=1))
    assert main(["train", "logs", "--data", str(train), "--format", "evtx", "--session", SESSION,
                 "--epochs", "5", "--out", str(model_dir)]) == 0
    from deepsentry.logs.detector import LogSequenceDetector

    model = LogSequenceDetector.load(model_dir)
    log, alerts, state = tmp_path / "Security.evtx", tmp_path / "alerts.jsonl", tmp_path / "state"
    first = logon_day(40, 0, seed=3)
    write_evtx(log, first)
    counts = watch_log(model, log, alerts=alerts, state_dir=state, once=True)
    assert counts["lines"] == len(first) and counts["sessions"] == 40
    before = alerts.read_text().splitlines() if alerts.exists() else []

    later = renamed(logon_day(30, 4, seed=4), "late")
    inode = log.stat().st_ino
    write_evtx(log, first + later)  # the same file, grown in place
    assert log.stat().st_ino == inode
    counts = watch_log(model, log, alerts=alerts, state_dir=state, once=True)
    assert counts["lines"] == len(later) and counts["sessions"] == 30
    new = [json.loads(line) for line in alerts.read_text().splitlines()[len(before):]]
    flagged = {a["deepsentry"]["session"] for a in new}
    assert {f"late{i}" for i in range(4)} <= flagged and len(flagged) <= 4 + 3

    again = watch_log(model, log, alerts=alerts, state_dir=state, once=True)
    assert again["lines"] == 0  # nothing new: nothing fed, nothing alerted twice

    cleared = renamed(logon_day(5, 0, seed=5), "fresh")
    write_evtx(log, cleared)  # ids start again at 1
    assert watch_log(model, log, alerts=alerts, state_dir=state, once=True)["lines"] == len(cleared)


def test_watch_on_evtx_needs_a_model_trained_on_evtx(tmp_path):
    from deepsentry.detection.watch_logs import watch_log

    path = write_evtx(tmp_path / "Security.evtx", logon_day(3, 0, seed=5))

    class Model:
        log_source_ = {"format": "json", "session": SESSION}
        templates_ = TemplateMiner().to_json()

    with pytest.raises(ConfigError, match="--format evtx"):
        watch_log(Model(), path, alerts=tmp_path / "a.jsonl", state_dir=tmp_path / "s", once=True)


def test_sessions_from_evtx_group_by_account(tmp_path):
    path = write_evtx(tmp_path / "day.evtx", logon_day(10, 2, seed=6))
    sessions = read_log_sessions(path, LogFormat.from_spec("evtx"), SESSION, TemplateMiner())
    assert sessions.ids == [f"user{i}" for i in range(10)]
    assert sessions.report.malformed_rows == 0
