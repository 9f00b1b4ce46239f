"""Reading flow records (CSV, Parquet, a directory of either) into a :class:`FlowData`.

Nothing is lost silently: rows with the wrong number of fields and values that do not parse are
counted in a :class:`ReadReport` with their line numbers, or rejected with ``strict=True``.

>>> from deepsentry.flows.readers import read_flows   # doctest: +SKIP
>>> data = read_flows("KDDTrain+.txt")                 # doctest: +SKIP
>>> data.format, data.features.shape                   # doctest: +SKIP
('nsl-kdd', (125973, 41))
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from ..core.errors import ConfigError, InputError
from ..core.preprocessing import category_text
from ..core.tables import (COLUMNAR_SUFFIXES, GZIP_MAGIC, UNREADABLE_FILE, BadRecord, LabelledTable, ReadReport,
                           arff_header, coerce_numeric, ends_early, is_columnar, is_gzip, is_json_lines, is_pipe,
                           is_text_column, kept_positions, leave_out, no_data_rows, one_spelling_per_class, open_bytes,
                           read_columnar, read_delimited, read_json_lines, refuse_stream, sniff_delimited,
                           text_encoding)
from .zeek import looks_like_zeek, read_zeek, zeek_log_kind
from .formats import (FORMATS, NSL_KDD_COLUMNS, NSL_KDD_DIFFICULTY_NAMES, FlowFormat, detect_format, holds_identifiers,
                      is_default_benign, is_identifier, is_label_twin, normalise_name, nsl_kdd_header)

log = logging.getLogger(__name__)

# .binetflow: CTU-13's Argus flows; a folder's .json files may describe it, so only .jsonl/.ndjson
_SUFFIXES = (".csv", ".txt", ".tsv", ".binetflow", ".jsonl", ".ndjson", *COLUMNAR_SUFFIXES)
# Columns that are categorical in the known formats (NSL-KDD, UNSW-NB15, CTU-13's Argus flows with
# their direction '<->'); everything else is meant to be numeric.
CATEGORICAL = frozenset({"protocoltype", "service", "flag", "proto", "state", "dir"})


#: Flow records split into features, labels and ids (the generic table of :mod:`deepsentry.core.tables`).
FlowData = LabelledTable


@dataclass(frozen=True)
class ReadOptions:
    """How to read flow records; every field has a command-line twin."""

    format: str | None = None
    label_column: str | None = None
    benign_labels: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    strict: bool = False
    require_labels: bool = False
    #: a model's numeric input columns: read as numbers however many values are not (those are
    #: counted as bad values), never taken for a text column as in a new generic CSV
    numeric_columns: tuple[str, ...] = ()
    #: a model's input columns: features whatever their names suggest (an identifier or a label's
    #: name kept with --keep-column at training), but unlike ``keep_columns`` not required to exist
    model_columns: tuple[str, ...] = ()
    #: a table with no data rows (a header alone, or only malformed rows) reads as zero flows
    #: instead of an error: scoring writes what there is, training needs rows
    allow_empty: bool = False
    #: a file of a folder that cannot be read is left out, counted and named (unless ``strict``),
    #: so one corrupt export does not end the scoring of the others; training refuses it
    skip_unreadable: bool = False


def list_inputs(path: str | os.PathLike[str]) -> list[Path]:
    """The data files a path stands for: the file itself, or the CSV/Parquet files of a directory."""
    source = Path(path)
    if not source.exists():
        raise InputError("no such file or directory", path=source)
    if source.is_dir():
        # Zeek's log folders hold conn.log beside dns.log, http.log...: only conn logs are flows
        files = [p for p in _data_files(source) if _is_table_name(p) or zeek_log_kind(p) == "conn"]
        if not files:
            raise InputError(f"directory holds no {', '.join(_SUFFIXES)} files (or such files gzipped), nor Zeek "
                             "conn logs", path=source)
        return files
    return [source]


def _data_files(folder: Path) -> list[Path]:
    """A folder's files, less hidden ones and the reference/description files that ship beside
    some datasets (README, LICENSE, CICFlowMeter's header reference), which are not flows."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and "header_reference" not in p.name
                  and not p.name.lower().startswith(("readme", "license", "licence", "notice")))


def _is_table_name(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in _SUFFIXES or suffix == ".gz" and Path(path.stem).suffix.lower() in _SUFFIXES


def read_flows(path: str | os.PathLike[str], options: ReadOptions | None = None) -> FlowData:
    """Read a flow file (or a directory of them, as one set) into features, labels and ids."""
    refuse_stream(path, "reread")
    options = options or ReadOptions()
    if options.format is not None and options.format not in (*FORMATS, "zeek"):
        raise ConfigError(f"unknown flow format {options.format!r}",
                          hint=f"choose one of {', '.join(FORMATS)}, zeek")
    files = list_inputs(path)
    if Path(path).is_dir() and (not_tables := [p.name for p in _data_files(Path(path)) if p not in files]):
        log.warning("%s: %d file(s) that are not flow tables left out: %s", path, len(not_tables),
                    ", ".join(not_tables[:5]) + (f" and {len(not_tables) - 5} more" if len(not_tables) > 5 else ""))
    parts: list[FlowData] = []
    unreadable: list[InputError] = []
    picked = False
    for file in files:
        try:
            part = _read_one(file, options)
        except InputError as exc:
            if not options.skip_unreadable or options.strict or len(files) == 1:
                raise
            unreadable.append(exc)
            continue
        if not parts:
            picked = options.label_column is None and part.format == "csv" and part.label_column is not None
            if picked:  # every file of a directory takes the label the first one was found to have
                options = dataclasses.replace(options, label_column=str(part.label_column))
        parts.append(part)
    if not parts:
        raise unreadable[0]
    data = parts[0] if len(parts) == 1 else _concat(parts, str(path))
    if unreadable:
        data.report.bad_values[UNREADABLE_FILE] = len(unreadable)
        for exc in unreadable:
            data.report.add(BadRecord(exc.path or str(path), exc.row, exc.column, f"{exc.message}; file left out"))
        log.warning("%s: %d file(s) could not be read and were left out (first: %s)", path, len(unreadable),
                    unreadable[0])
    if picked:
        log.warning("%s: using column %r as the label (name another with --label-column)", path, data.label_column)
    if data.labels is not None:
        data.labels, replaced = one_spelling_per_class(data.labels)
        if replaced:
            log.warning("%s: labels that differ only in case read as one class: %s", path,
                        ", ".join(f"{a!r} as {b!r}" for a, b in list(replaced.items())[:5]))
    others = [c for c in data.report.label_columns if c != data.label_column]
    if others and data.format == "csv":
        log.warning("%s: column(s) %s read as labels, not features (label: %r)",
                    path, ", ".join(map(str, others)), data.label_column)
    # the record-id column is no feature either, but it is not lost: it names the output's rows
    dropped = [c for c in data.report.identifier_columns if c != data.id_column]
    if dropped:
        log.warning("%s: dropped identifier column(s) %s (keep one with --keep-column)", path, ", ".join(dropped))
    return data


@dataclass(frozen=True)
class TablePiece:
    """Consecutive whole lines of a flow table (delimited or JSON lines), with its header line (none
    for a header-less format) in front: a table of its own, readable by :func:`read_flows` once
    written to a file. ``lines_before``: the lines of records before it (a line's number in the
    file is its number in the piece plus this); ``header_lines``: the lines in front of its records."""

    text: bytes
    lines_before: int
    header_lines: int = 0
    #: the last piece of a file cut short or corrupt (see :func:`ends_early`): what the malformed
    #: record after its lines says
    fault: str | None = None
    #: of a followed file (:func:`follow_pieces`): where to go on after this piece
    then: "FollowPoint | None" = None


@dataclass(frozen=True)
class FollowPoint:
    """Where a follower of a growing file stands: the file (inode and device, which rotation
    does not change), the byte after the last whole line it read, and how many lines those were
    after the header. A watcher's checkpoint; :func:`follow_pieces` resumes from it."""

    inode: int
    device: int
    offset: int
    lines: int


def table_pieces(path: str | os.PathLike[str], format: str | None, piece_bytes: int) -> Iterator[TablePiece] | None:
    """A flow table larger than ``piece_bytes``, delimited (read as ``format``; None: as its first
    record shows) or JSON lines, as pieces of about that size, each cut at the end of a line:
    detection and evaluation read such a file piece by piece, in bounded memory; a gzip-compressed
    table is cut as it is decompressed; a Zeek log too, TSV (its ``#`` header lines in front of
    each piece) or JSON. None for what must be read whole: a small table, a folder, a stream,
    Parquet, ARFF, a capture, or a file that is not of ``format`` (whose error the reader gives).
    A record is a line, but for a quote left open, which runs on over lines as one malformed
    record: at a piece's end it stops there, and the lines after it are read anew. A compressed
    file cut short or corrupt ends with a piece that says so (the readers keep the records before
    the fault, read whole). The keys of
    JSON records may differ from piece to piece (a key absent from one piece's records only): the
    caller fills a piece's absent columns (see ``detection.batch._scored_pieces``)."""
    from .capture import is_capture

    source = Path(path)
    if (is_pipe(source) or not source.is_file() or _table_bytes(source) <= piece_bytes
            or is_columnar(source) or arff_header(source) is not None or is_capture(source)):
        return None
    if looks_like_zeek(source):
        if not is_json_lines(source):
            return _cut(source, True, piece_bytes, header_line=lambda line: line.startswith(b"#"))
        # a piece must show itself a Zeek log as the file does: its first record names the originator
        return _cut(source, False, piece_bytes, lambda line: line.lstrip().startswith(b"{") and b'"id.orig_h"' in line)
    if is_json_lines(source):  # only a line that opens an object opens a piece (read as JSON lines)
        return _cut(source, False, piece_bytes, lambda line: line.lstrip().startswith(b"{"))
    try:
        delimiter, first = sniff_delimited(source)
        fmt = FORMATS[_format_of(source, None if format == "csv" else format, detect_format(first))]
    except (InputError, KeyError):
        return None
    header = fmt.header or nsl_kdd_header(first)  # NSL-KDD as a CSV with a header: the header leads each piece
    opening = None if header else _opens_like(delimiter, len(first))
    return _cut(source, header, piece_bytes, opening)


def follow_pieces(path: str | os.PathLike[str], format: str | None, *, once: bool = False, poll_s: float = 2.0,
                  deadline: float | None = None, from_end: bool = False, piece_bytes: int = 32 << 20,
                  resume: FollowPoint | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> Iterator[TablePiece]:
    """A flow table that keeps growing (a Suricata eve.json, a Zeek conn.log, a CICFlowMeter CSV in
    real-time mode, any JSON-lines or delimited table of ``format``) as pieces: each the complete
    lines added since the last look, with the header in front (a delimited table's first line, a
    Zeek log's ``#`` lines), readable as :func:`table_pieces`' are. A line is taken once its newline
    is written (with ``once``, a last line without one too). The file is looked at every ``poll_s``
    seconds until ``once`` has read it to its end or ``time.monotonic()`` passes ``deadline``; a
    file that does not exist yet is waited for. Rotation (the name now holds another file: the rest
    of the old one is read first) and truncation (the file shrank: read again from its start) are
    followed. ``from_end``: the lines already there when it is first opened are skipped. A piece
    holds about ``piece_bytes`` at most (a log that was long when first looked at is read in pieces).
    Each piece says where to go on after it (:attr:`TablePiece.then`); ``resume`` goes on from there:
    in the same file, or, when it was rotated since, in the file beside it that it became (read to
    its end first); when that is gone too, the file under the name is read from its start, named
    in a warning."""
    from ..core.durable import renamed_file
    from .formats import FORMATS

    source = Path(path)
    refuse_stream(source, "follow")
    if resume is not None:
        try:
            info = os.stat(source)
            current = (info.st_ino, info.st_dev)
        except FileNotFoundError:
            current = None
        if current != (resume.inode, resume.device):
            old = renamed_file(source, resume.inode, resume.device)
            if old is not None:  # rotated while no one was watching: its rest first
                yield from follow_pieces(old, format, once=True, piece_bytes=piece_bytes, resume=resume)
            else:
                log.warning("%s: the file followed before is gone (rotated and removed, or compressed); the lines "
                            "written to it after the last checkpoint are not read", source)
            resume, from_end = None, False
    if once and not source.exists():
        raise InputError("no such file", path=source, hint="without --once, watch waits for it to appear")
    header_kind = FORMATS[format].header if format in FORMATS else True  # zeek: its '#' lines when TSV
    handle = None
    identity: tuple[int, int] | None = None
    head, partial, lines, first_open = b"", b"", 0, True

    def stop() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def open_file() -> bool:
        """Open the file and read its header; False while it is missing or holds no whole line."""
        nonlocal handle, identity, head, partial, lines, first_open
        try:
            opened = open(source, "rb")
        except FileNotFoundError:
            return False
        start = opened.read(2)
        if start[:2] == GZIP_MAGIC:
            opened.close()
            raise InputError("a gzip-compressed file does not grow", path=source,
                             hint="score it with detect; watch follows a plain file as it is written")
        opened.seek(0)
        info = os.fstat(opened.fileno())
        header, header_end = b"", 0
        first = opened.readline()
        if not first.endswith(b"\n"):
            opened.close()
            return False  # not one whole line yet
        zeek_tsv = first.startswith(b"#separator")
        json_lines = first.lstrip(codecs.BOM_UTF8 + b" \t\r").startswith(b"{")
        if zeek_tsv:
            header = first
            while (line := opened.readline()).startswith(b"#") and line.endswith(b"\n"):
                header += line
            if not line.endswith(b"\n") or line.startswith(b"#"):
                opened.close()
                return False  # the header is still being written (no record yet)
            header_end = len(header)
        elif header_kind and not json_lines:
            header, header_end = first, len(first)
        opened.seek(header_end)
        handle, identity, head, partial, lines = opened, (info.st_ino, info.st_dev), header, b"", 0
        if resume is not None and first_open and identity == (resume.inode, resume.device) \
                and header_end <= resume.offset <= info.st_size:
            handle.seek(resume.offset)
            lines = resume.lines
        elif from_end and first_open:
            while chunk := handle.read(1 << 20):  # the lines already written are skipped, but counted
                lines += chunk.count(b"\n")
                partial = (partial + chunk)[-(1 << 20):]
            tail = partial[partial.rfind(b"\n") + 1:]  # a line being written: read whole once it ends
            handle.seek(handle.tell() - len(tail))
            partial = b""
        first_open = False
        return True

    def piece(body: bytes, end: int) -> TablePiece | None:
        """The lines of ``body``, which end at byte ``end`` of the file."""
        nonlocal lines
        before = lines
        lines += body.count(b"\n")
        if not body.strip():
            return None
        return TablePiece(head + body, before, head.count(b"\n"), then=FollowPoint(*identity, end, lines))

    try:
        while True:
            if handle is None and not open_file():
                if once or stop():
                    return
                sleep(poll_s)
                continue
            data = partial + handle.read(piece_bytes)
            cut = data.rfind(b"\n") + 1
            body, partial = data[:cut], data[cut:]
            if (made := piece(body, handle.tell() - len(partial))) is not None:
                yield made
            if cut:
                continue  # more may have been written meanwhile
            try:
                info = os.stat(source)
                now = (info.st_ino, info.st_dev)
            except FileNotFoundError:
                info, now = None, None
            if now is not None and now != identity:  # rotated: the old file is read to its end above
                if partial and (made := piece(partial + b"\n", handle.tell())) is not None:
                    yield made  # its last line, which will never get its newline
                handle.close()
                handle = None
                continue
            if info is not None and info.st_size < handle.tell():  # truncated: read it again
                handle.close()
                handle = None
                continue
            if once:
                if partial and (made := piece(partial + b"\n", handle.tell())) is not None:
                    yield made
                return
            if stop():
                return
            sleep(poll_s)
    finally:
        if handle is not None:
            handle.close()


def _table_bytes(path: Path) -> int:
    """A table file's size, decompressed: gzip keeps it (modulo 4 GiB) in its last four bytes."""
    size = path.stat().st_size
    if size < 18 or not is_gzip(path):
        return size
    with open(path, "rb") as handle:
        handle.seek(-4, os.SEEK_END)
        return max(size, int.from_bytes(handle.read(4), "little"))


def _opens_like(delimiter: str, fields: int) -> Callable[[bytes], bool]:
    """Whether a line can open a piece of a header-less table whose first record has ``fields``
    fields: a piece is read as a file of its own, whose first record sets the format, so a
    malformed line (a comment, a short record, a byte-order mark) must not start one: read whole,
    the file counts it as one malformed record."""
    separator = delimiter.encode()

    def opens(line: bytes) -> bool:
        return (line.count(separator) == fields - 1 and text_encoding(line) is None
                and b"\x00" not in line and not line.lstrip().startswith(b"#"))

    return opens


def _cut(path: Path, header: bool, piece_bytes: int, opening: Callable[[bytes], bool] | None = None,
         header_line: Callable[[bytes], bool] | None = None) -> Iterator[TablePiece]:
    """``path`` in pieces of about ``piece_bytes``, each cut at the end of a line and the header in
    front of each (its first line, and the lines after it for which ``header_line`` is true); lines
    that cannot open a piece (``opening`` false) stay with the piece before. Of a compressed file
    cut short or corrupt, the last piece holds the whole lines before the fault and says what is
    wrong (:attr:`TablePiece.fault`), as the readers keep the records before it."""
    import zlib

    def refused(exc: BaseException) -> InputError:
        return InputError(f"cannot {'decompress' if is_gzip(path) else 'read'} ({exc})", path=path)

    faults = (EOFError, zlib.error, OSError)
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(open_bytes(path))
            head = handle.readline() if header else b""
            lines = 0
            while head and not head.strip(b"\r\n"):  # empty lines before the header: skipped, as read whole
                head = handle.readline()
                lines += 1
            carried = b""  # the line read past a piece's (or the header's) end, which opens the next one
            while header_line is not None and head and (line := handle.readline()):
                if not header_line(line):
                    carried = line
                    break
                head += line
        except faults as exc:
            raise refused(exc) from None
        # each piece reads the line that opens the next, which it carries: so a fault always comes
        # with a line or more to keep, and the piece that holds them tells it
        opens = opening or (lambda line: True)
        while True:
            parts, size, carried, failure = [carried], len(carried), b"", None
            try:
                # read1, not read: a fault in read's loop loses what it had decompressed
                while size < piece_bytes and (chunk := handle.read1(piece_bytes - size)):
                    parts.append(chunk)
                    size += len(chunk)
                if size and not parts[-1].endswith(b"\n"):
                    parts.append(handle.readline())  # on to the end of the line
                while line := handle.readline():
                    if opens(line):
                        carried = line
                        break
                    parts.append(line)
            except faults as exc:
                failure = exc
            body = b"".join(parts)
            parts = chunk = None  # the text is held once, with the header, when the piece goes out
            if failure is not None:
                body = body[:body.rfind(b"\n") + 1]  # the line cut short, lost as it is read whole
                if not body:  # not one whole line after the header: nothing to keep
                    raise refused(failure)
            elif not body:
                return
            yield TablePiece(head + body, lines, head.count(b"\n"), None if failure is None else ends_early(failure))
            if failure is not None:
                return
            lines += body.count(b"\n")
            body = None  # before the next piece is read


def _concat(parts: list[FlowData], where: str) -> FlowData:
    formats = {p.format for p in parts}
    if len(formats) > 1:
        raise InputError(f"files of different formats in one directory: {', '.join(sorted(formats))}",
                         path=where)
    columns = list(parts[0].features.columns)
    for p in parts[1:]:
        if list(p.features.columns) != columns:
            diff = sorted(set(columns).symmetric_difference(p.features.columns))
            raise InputError(f"columns differ from the first file ({', '.join(diff[:5]) or 'order'})",
                             path=p.report.files[0])
    report = ReadReport()
    offset = 0
    positions, malformed, malformed_ids = [], {}, {}
    for p in parts:
        report.absorb(p.report)
        report.files += p.report.files
        positions.append(p.positions + offset)
        malformed.update({k + offset: v for k, v in p.malformed_positions.items()})
        malformed_ids.update({k + offset: f"{Path(p.report.files[0]).name}, {v}" for k, v in p.malformed_ids.items()})
        offset += p.total_rows
    report.identifier_columns = parts[0].report.identifier_columns
    report.label_columns = parts[0].report.label_columns
    labels = None if parts[0].labels is None else np.concatenate([p.labels for p in parts])
    raw = None if parts[0].raw_labels is None else np.concatenate([p.raw_labels for p in parts])
    return FlowData(
        features=pd.concat([p.features for p in parts], ignore_index=True),
        labels=labels, raw_labels=raw,
        ids=np.concatenate([p.ids.astype(str) for p in parts]) if len({p.ids.dtype for p in parts}) > 1
        else np.concatenate([p.ids for p in parts]),
        format=parts[0].format, report=report,
        benign_labels=tuple(dict.fromkeys(b for p in parts for b in p.benign_labels)),
        positions=np.concatenate(positions), total_rows=offset, malformed_positions=malformed,
        malformed_ids=malformed_ids, label_column=parts[0].label_column, id_column=parts[0].id_column,
        identifiers=None if any(p.identifiers is None for p in parts)
        else pd.concat([p.identifiers for p in parts], ignore_index=True),
    )


def _read_one(path: Path, options: ReadOptions) -> FlowData:
    zeek = options.format == "zeek" or (not is_columnar(path) and looks_like_zeek(path))
    if zeek and options.format not in (None, "zeek"):  # a model's own format (or --format) asks for a table
        raise InputError(f"a Zeek conn.log, which has other flow features than format {options.format!r}",
                         path=path, hint="a model scores flows of the format it was trained on; train one on "
                                         "conn.log records (--format zeek) to score them")
    if zeek:
        return read_zeek(path, strict=options.strict, label_column=options.label_column,
                         benign_labels=tuple(options.benign_labels), require_labels=options.require_labels,
                         allow_empty=options.allow_empty, keep_columns=tuple(options.keep_columns),
                         model_columns=tuple(options.model_columns), numeric_columns=tuple(options.numeric_columns))
    report = ReadReport(files=[str(path)])
    header_lines = None  # as the format has it
    if is_columnar(path):
        frame = read_columnar(path)
        fmt = FORMATS[_format_of(path, options.format, detect_format(list(frame.columns)))]
        malformed: dict[int, str] = {}
        total = len(frame)
    elif is_json_lines(path):
        frame, malformed, total = read_json_lines(path, report, options.strict)
        fmt = FORMATS[_format_of(path, options.format, detect_format(list(map(str, frame.columns))))]
        header_lines = 0
        if fmt.record_filter is not None:
            frame = _filter_records(path, frame, fmt, malformed, total, report)
        if fmt.sparse_fields:
            frame = _absent_fields(path, frame, options)
    elif (arff := arff_header(path)) is not None:
        names, header_lines = arff
        fmt = FORMATS[options.format or "arff"]
        frame, malformed, total = read_delimited(path, ",", report, options.strict, column_names=names,
                                                 skip_lines=header_lines)
    else:
        delimiter, first = sniff_delimited(path)
        if nsl_kdd_header(first) and options.format in (None, "nsl-kdd"):
            frame, malformed, total = read_delimited(path, delimiter, report, options.strict)
            frame, options = _as_nsl_kdd(path, frame, options)
            fmt = FORMATS["nsl-kdd"]
        else:
            fmt = FORMATS[_format_of(path, options.format, detect_format(first))]
            frame, malformed, total = _read_csv(path, delimiter, fmt, first, report, options.strict,
                                                options.label_column)
    if frame.empty and not options.allow_empty:
        raise no_data_rows(path, malformed, report)
    return _split_columns(path, frame, fmt, options, report, malformed, total, header_lines)


def _as_nsl_kdd(path: Path, frame: pd.DataFrame, options: ReadOptions) -> tuple[pd.DataFrame, ReadOptions]:
    """An NSL-KDD table with a header under the names of the header-less files: its label (the
    named one, or the one column named like a label) as ``label``, its difficulty (``level``...)
    as ``difficulty``, a label too, never a feature (it grades how hard each record's attack is to
    find); so a model trained on one form scores the other."""
    by_norm = {normalise_name(c): c for c in frame.columns}
    difficulty = next((by_norm[n] for n in NSL_KDD_DIFFICULTY_NAMES if n in by_norm), None)
    label = by_norm.get(normalise_name(options.label_column)) if options.label_column else None
    if label is None and options.label_column not in (None, "label"):
        return frame, options  # the reader names the missing column
    if label is None:  # none named, or the header-less files' name (a model's): the one named like a label
        twins = [c for c in frame.columns if is_label_twin(c) and normalise_name(c) not in NSL_KDD_DIFFICULTY_NAMES]
        label = twins[0] if len(twins) == 1 else None
    renames = {old: new for old, new in ((label, "label"), (difficulty, "difficulty")) if old is not None and old != new}
    taken = set(renames.values()) & (set(frame.columns) - set(renames))
    if taken:  # a column already under the name: leave the table as written
        return frame, options
    if renames:
        log.warning("%s: NSL-KDD with a header: %s", path, ", ".join(f"{a!r} read as {b!r}" for a, b in renames.items()))
    return frame.rename(columns=renames), dataclasses.replace(options, label_column=None)


def _filter_records(path: Path, frame: pd.DataFrame, fmt: FlowFormat, malformed: dict[int, str],
                    total: int, report: ReadReport) -> pd.DataFrame:
    """The records that are flows by the format's :attr:`~FlowFormat.record_filter`; the others
    are left out, counted and reported by line, and keep their row in ``detect``'s output with the
    reason. Not an error with ``--strict``: they are other events of a valid file, not malformed
    flows. Fields that only the left-out records carried go with them."""
    column, wanted = fmt.record_filter
    kinds = frame[column].astype(object) if column in frame.columns else \
        pd.Series(None, index=frame.index, dtype=object)
    kinds = kinds.where(kinds.notna(), None).tolist()  # one None for every missing kind, so it keys a dict
    # each distinct kind judged once (a file holds a handful: flow, dns, http, stats ...)
    why = {kind: fmt.not_a_flow(kind) for kind in set(kinds)}
    reasons = {i: why[kind] for i, kind in enumerate(kinds) if why[kind] is not None}
    if reasons:
        keep = leave_out(path, reasons, kept_positions(total, malformed), 0, report, malformed, strict=False,
                         what="event(s) that are not flow records",
                         hint=f"only records whose {column} is {wanted!r} are flows")
        frame = frame.loc[keep].reset_index(drop=True)
        frame = frame.drop(columns=[c for c in frame.columns if frame[c].isna().all()])
    return frame.drop(columns=[column], errors="ignore")


def _absent_fields(path: Path, frame: pd.DataFrame, options: ReadOptions) -> pd.DataFrame:
    """A model's field that no record of this file has, in a format whose records carry only the
    fields that apply to them (:attr:`FlowFormat.sparse_fields`): a missing value in every record
    (as in a served record), named in a warning. A file with none of the model's fields is left
    to the model's missing-columns error."""
    absent = [c for c in options.model_columns if c not in frame.columns]
    if not absent or len(absent) == len(options.model_columns) or frame.empty:
        return frame
    log.warning("%s: field(s) %s of the model are in no record; read as missing values", path,
                ", ".join(absent[:8]) + (", ..." if len(absent) > 8 else ""))
    numeric = set(options.numeric_columns)
    filler = {c: np.full(len(frame), np.nan) if c in numeric else np.full(len(frame), None, dtype=object)
              for c in absent}
    return pd.concat([frame, pd.DataFrame(filler, index=frame.index)], axis=1)


def _format_of(path: Path, asked: str | None, found: str) -> str:
    """The format to read ``path`` in: ``asked`` (a model's own, or --format), else the one its
    first record shows. A file that shows another known format is refused as that format: read
    as ``asked``, a header would be taken for a record (or a record for a header), and the error
    would be about field counts or missing columns."""
    if asked is None:
        return found
    if found not in (asked, "csv") and asked != "csv":
        raise InputError(f"its first record is of format {found}, not {asked}", path=path,
                         hint="a model scores flows of the format it was trained on")
    return asked


def _read_csv(path: Path, delimiter: str, fmt: FlowFormat, first: list[str], report: ReadReport,
              strict: bool, label_column: str | None = None) -> tuple[pd.DataFrame, dict[int, str], int]:
    if fmt.header:
        label = label_column or fmt.label_column
        return read_delimited(path, delimiter, report, strict, legacy_text_columns=(label,) if label else ())
    n = len(first)
    if fmt.name == "nsl-kdd":
        if n not in (len(NSL_KDD_COLUMNS) + 1, len(NSL_KDD_COLUMNS) + 2):
            raise InputError(f"NSL-KDD records have 42 or 43 fields, this one has {n}", path=path, row=1)
        names = list(NSL_KDD_COLUMNS) + ["label", "difficulty"][: n - len(NSL_KDD_COLUMNS)]
    else:
        names = list(fmt.columns)
        if n != len(names):
            raise InputError(f"{fmt.name} records have {len(names)} fields, this one has {n}", path=path, row=1)
    return read_delimited(path, delimiter, report, strict, column_names=names)


#: label values that mean "no label" (lower case): empty, and the missing-value spellings of pandas,
#: R and spreadsheets; no flow data set names a class so
MISSING_LABELS = frozenset({"", "nan", "null", "none", "na", "n/a", "#n/a", "<na>"})


def _drop_unlabelled(path: Path, frame: pd.DataFrame, label_col: str, malformed: dict[int, str], total: int,
                     report: ReadReport, strict: bool, header_lines: int, empty_is_a_label: bool = False) -> pd.DataFrame:
    """Rows with an empty label, where labels are needed (training, evaluation): malformed records,
    reported by line and left out (an error with ``strict``), never a class named '' or 'NaN'
    (which tables exported from pandas or spreadsheets write for a missing value). Where the
    format gives an empty label a class (UNSW-NB15's raw files: normal traffic), only the other
    spellings of a missing value are."""
    text = frame[label_col].astype(str).str.strip()
    missing = frame[label_col].isna() | text.str.lower().isin(MISSING_LABELS)
    if empty_is_a_label:
        missing &= text != ""
    missing = missing.to_numpy()
    if not missing.any():
        return frame
    raw = frame[label_col].to_numpy()
    reasons = {int(i): "the record has no label" + (f" ({raw[i]!r})" if text.iat[i] and not pd.isna(raw[i]) else "")
               for i in np.flatnonzero(missing)}
    keep = leave_out(path, reasons,
                     kept_positions(total, malformed), header_lines, report, malformed, strict,
                     what="row(s) without a label", column=label_col)
    return frame.loc[keep].reset_index(drop=True)


def _integer_ids(path: Path, frame: pd.DataFrame, id_col: str, malformed: dict[int, str], total: int,
                 report: ReadReport, strict: bool, header_lines: int) -> pd.DataFrame:
    """A record-id column read as text or as decimals because of a few values (a corrupt or empty
    id, a header repeated mid-file) holds integer ids: those, and each record whose id is not one
    is a malformed record (its row number stands in as its id). So the ids of a file are of one
    kind, as in each piece of a large one. A column with no integer id at all (names, UUIDs) stays
    as it is."""
    numbers = pd.to_numeric(frame[id_col], errors="coerce").to_numpy(dtype=np.float64)
    integral = np.isfinite(numbers) & (numbers == np.floor(numbers))
    if not integral.any():
        return frame
    if not integral.all():
        values = frame[id_col].to_numpy()
        reasons = {int(i): "the record has no id" if pd.isna(values[i]) or str(values[i]).strip() == "" else
                   f"record id {values[i] if isinstance(values[i], float) else repr(values[i])} is not an integer, "
                   "as the file's other ids are"
                   for i in np.flatnonzero(~integral)}
        keep = leave_out(path, reasons, kept_positions(total, malformed), header_lines, report, malformed, strict,
                         what="row(s) whose record id is not an integer", column=id_col)
        frame, numbers = frame.loc[keep].reset_index(drop=True), numbers[keep]
    frame[id_col] = numbers.astype(np.int64)
    return frame


def _split_columns(path: Path, frame: pd.DataFrame, fmt: FlowFormat, options: ReadOptions,
                   report: ReadReport, malformed: dict[int, str], total: int,
                   header_lines: int | None = None) -> FlowData:
    """Labels, ids, identifiers and features of a table as read; ``header_lines`` before the
    records (default: the format's header line, if it has one) number the bad records' lines."""
    if header_lines is None:
        header_lines = 1 if fmt.header else 0
    by_norm = {normalise_name(c): c for c in frame.columns}

    def find(name: str | None) -> str | None:
        return None if name is None else by_norm.get(normalise_name(name))

    columns_are = f"columns are: {', '.join(map(str, list(frame.columns)[:12]))}{'...' if frame.shape[1] > 12 else ''}"
    label_name = options.label_column or fmt.label_column
    label_col = find(label_name)
    if label_name is not None and label_col is None and options.require_labels:
        raise InputError(f"label column {label_name!r} not found", path=path,
                         hint=f"{columns_are}; name the label with --label-column")
    absent = [k for k in options.keep_columns if find(k) is None]
    if absent:  # a typo in --keep-column (or a group/time column) would otherwise pass unnoticed
        raise InputError(f"column(s) {', '.join(map(repr, absent))} not found", path=path, hint=columns_are)
    twins = [c for c in frame.columns if is_label_twin(c)]
    if label_col is None and label_name is None and options.require_labels and len(twins) == 1:
        label_col = twins[0]  # named in a warning by read_flows
    if label_col is None and options.require_labels:
        raise InputError("no label column" if not twins else
                         f"several label columns ({', '.join(map(str, twins))}); which one is the label?",
                         path=path, hint="name the label column with --label-column, its benign value "
                                         "with --benign-label")
    keep = {normalise_name(k) for k in (*options.keep_columns, *options.model_columns)}
    label_cols = {c for c in (label_col, *(find(n) for n in fmt.other_label_columns)) if c}
    if label_col is not None:
        # A twin of the class column (UNSW 'label', TON_IoT 'type', Bot-IoT 'category' and
        # 'subcategory') is a label too: as a feature it would hand the model the answer. One
        # kept by name (--keep-column) is the user's feature, e.g. a message type.
        label_cols.update(t for t in twins if t == label_col or normalise_name(t) not in keep)
    if label_col is not None and options.require_labels:
        frame = _drop_unlabelled(path, frame, label_col, malformed, total, report, options.strict,
                                 header_lines, empty_is_a_label=fmt.class_of("") is not None)
    id_col = find(fmt.id_column)
    if id_col is not None and not pd.api.types.is_integer_dtype(frame[id_col]):
        frame = _integer_ids(path, frame, id_col, malformed, total, report, options.strict, header_lines)
    identifiers = [c for c in frame.columns
                   if c not in label_cols and normalise_name(c) not in keep
                   and (is_identifier(c) or pd.api.types.is_datetime64_any_dtype(frame[c])
                        or is_text_column(frame[c]) and holds_identifiers(frame[c].to_numpy()))]
    report.identifier_columns = identifiers
    report.label_columns = sorted(label_cols)
    report.rows = len(frame)

    ids = frame[id_col].to_numpy() if id_col is not None else None
    positions = kept_positions(total, malformed)
    if ids is None:
        ids = positions.copy()
    labels = raw = None
    if label_col is not None:
        # labels repeat: clean and map the distinct values, then index by code
        codes, distinct = pd.factorize(frame[label_col], use_na_sentinel=False)
        names = np.array([category_text(v).strip() for v in distinct], dtype=object)  # a null: "", as in a CSV
        raw = names[codes]
        if fmt.maps_labels:
            distinct_labels = [fmt.class_of(n) for n in names]
            unknown = sorted({n for n, c in zip(names, distinct_labels) if c is None})
            hint = "read the file as --format csv, with --label-column and --benign-label, to take its labels as they are"
            if unknown and not options.require_labels:
                # labels that are not needed (scoring ignores them) must not stop a run on a label
                # the format does not know: each is a class of its own
                log.warning("%s: unknown %s label(s) %s read as classes of their own (%s)", path, fmt.name,
                            ", ".join(unknown[:5]), hint)
                distinct_labels = [c if c is not None else n for n, c in zip(names, distinct_labels)]
            elif unknown:
                raise InputError(f"unknown {fmt.name} label(s): {', '.join(unknown[:5])}", path=path,
                                 column=label_col, hint=hint)
            labels = np.array(distinct_labels, dtype=object)[codes]
        else:
            distinct_labels = names.tolist()
            labels = raw
    benign = tuple(options.benign_labels) or fmt.benign_labels
    if labels is not None and not options.benign_labels:
        # the benign class under another spelling (CIC-IoT-2023's 'BenignTraffic', a 0.0 from a
        # float column) would otherwise make every record an attack
        benign = tuple(dict.fromkeys((*benign, *(v for v in distinct_labels if is_default_benign(v)))))
    features = frame.drop(columns=sorted(label_cols | set(identifiers)))
    # a model's text inputs stay text whatever share of them looks like numbers in this file (or piece)
    categorical = CATEGORICAL | {normalise_name(c) for c in options.model_columns if c not in options.numeric_columns}
    features = coerce_numeric(path, features, report, positions=positions, strict=options.strict,
                              header_lines=header_lines, categorical=categorical,
                              allow_text_columns=fmt.text_columns, normalise=normalise_name,
                              numeric=frozenset(options.numeric_columns))
    return FlowData(features=features, labels=labels, raw_labels=raw, ids=ids, format=fmt.name,
                    benign_labels=benign, report=report, positions=positions, total_rows=total,
                    label_column=label_col, malformed_positions=malformed, id_column=id_col,
                    identifiers=frame[identifiers].reset_index(drop=True) if identifiers else None)
