"""core.durable: what watchers and searches keep across a kill -9."""

import json

from deepsentry.core.durable import drop_partial_line, renamed_file, write_json_atomic


def test_a_half_written_last_line_is_cut_back_to_the_last_whole_one(tmp_path):
    path = tmp_path / "alerts.jsonl"
    whole = '{"a": 1}\n' * 3
    for tail, kept in (("", whole), ('{"a": 2', whole), ("x" * 200_000, whole)):  # longer than a read block
        path.write_text(whole + tail)
        drop_partial_line(path)
        assert path.read_text() == kept
    path.write_text("no newline at all, " * 10_000)
    drop_partial_line(path)
    assert path.read_bytes() == b""
    drop_partial_line(tmp_path / "missing.jsonl")  # nothing to cut: no error
    assert not (tmp_path / "missing.jsonl").exists()


def test_checkpoints_are_replaced_whole_and_a_rotated_file_is_found_by_its_inode(tmp_path):
    state = tmp_path / "state.json"
    write_json_atomic(state, {"offset": 1})
    write_json_atomic(state, {"offset": 2})
    assert json.loads(state.read_text()) == {"offset": 2} and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    log = tmp_path / "eve.json"
    log.write_text("x\n")
    info = log.stat()
    log.rename(tmp_path / "eve.json.1")
    log.write_text("y\n")
    assert renamed_file(log, info.st_ino, info.st_dev) == tmp_path / "eve.json.1"
    assert renamed_file(log, info.st_ino + 10**9, info.st_dev) is None
