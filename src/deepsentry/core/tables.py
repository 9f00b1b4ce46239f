"""Reading delimited tables of records without losing any: the machinery every domain's reader uses.

Rows with the wrong number of fields and values that do not parse are counted in a
:class:`ReadReport` with their line numbers (or rejected with ``strict=True``), never dropped
silently.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text("a,b\\n1,2\\n3\\n4,x\\n")
>>> report = ReadReport()
>>> frame, malformed, total = read_delimited(path, ",", report)
>>> total, malformed
(3, {1: 'expected 2 fields, found 1'})
>>> frame = coerce_numeric(path, frame, report, positions=np.array([0, 2]))
>>> report.bad_values
{'b': 1}
"""

from __future__ import annotations

import array
import codecs
import contextlib
import logging
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .errors import ConfigError, DeepSentryError, InputError

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
MAX_EXAMPLES = 20


@dataclass
class BadRecord:
    """One record that could not be used as it is, and why."""

    path: str
    row: int | None  # 1-based line number in the file, when known
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.path + (f", line {self.row}" if self.row else "")
        where += f", column {self.column}" if self.column else ""
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """What was read, what was dropped as an identifier, and every problem found."""

    rows: int = 0
    malformed_rows: int = 0
    bad_values: dict[str, int] = field(default_factory=dict)
    examples: list[BadRecord] = field(default_factory=list)
    identifier_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: per file read, the blank lines that the readers skip uncounted (see :func:`file_lines`)
    blank_lines: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def add(self, record: BadRecord) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(record)

    def absorb(self, other: "ReadReport") -> None:
        """Add ``other``'s counts and problems to this report's (parts of one set read apart)."""
        self.rows += other.rows
        self.malformed_rows += other.malformed_rows
        for name, n in other.bad_values.items():
            self.bad_values[name] = self.bad_values.get(name, 0) + n
        for example in other.examples:
            self.add(example)

    def relabel_copy(self, copy: Path, name: str) -> None:
        """Name the temporary copy of a stream (:func:`pipe_as_file`) ``name`` in this report."""
        self.files = [relabel_copy(f, copy, name) for f in self.files]
        for example in self.examples:
            example.path = relabel_copy(example.path, copy, name)

    @property
    def problems(self) -> int:
        return self.malformed_rows + sum(self.bad_values.values())

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "rows": self.rows,
            "malformed_rows": self.malformed_rows,
            "bad_values": dict(self.bad_values),
            "identifier_columns": self.identifier_columns,
            "label_columns": self.label_columns,
            "examples": [str(e) for e in self.examples],
        }


@dataclass
class LabelledTable:
    """Records read from a file, split into features, labels and ids; what every reader returns."""

    features: pd.DataFrame
    labels: np.ndarray | None  # class names (str); None when the input has no label column
    raw_labels: np.ndarray | None  # labels as written (e.g. NSL-KDD attack names)
    ids: np.ndarray
    format: str
    benign_labels: tuple[str, ...]
    report: ReadReport
    #: input row index (0-based, header excluded) of each kept record; malformed rows leave gaps
    positions: np.ndarray
    #: total data rows in the input, malformed ones included
    total_rows: int = 0
    #: name of the label column as found in the file
    label_column: str | None = None
    malformed_positions: dict[int, str] = field(default_factory=dict)
    #: record ids of malformed rows, where the reader knows them (else the output names the row)
    malformed_ids: dict[int, Any] = field(default_factory=dict)
    #: identifier columns (addresses, ports, times) dropped from the features, kept for alerts
    identifiers: pd.DataFrame | None = None
    #: name of the record-id column as found in the file; None where the ids are row numbers
    id_column: str | None = None

    def __len__(self) -> int:
        return len(self.features)

    @property
    def is_malicious(self) -> np.ndarray:
        """1 where the label is not a benign label."""
        if self.labels is None:
            raise InputError("the input has no labels")
        benign = {b.lower() for b in self.benign_labels}
        return np.fromiter((str(v).lower() not in benign for v in self.labels), dtype=np.int8,
                           count=len(self.labels))


def read_small_csv(path: str | Path, **options) -> pd.DataFrame:
    """A small side table (labels, per-line events) read with pandas, delimited as tables are (the
    most frequent of , ; tab | in the header) with column names stripped; a file that cannot be
    parsed is an :class:`InputError` naming it and pandas' reason (which names the line)."""
    try:
        if "sep" not in options:
            with open(path, "rb") as handle:
                options["sep"] = header_delimiter(handle.readline(65536).decode("utf-8", errors="replace"))
        frame = pd.read_csv(path, **options)
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise InputError(f"cannot read as CSV ({str(exc).strip().splitlines()[-1][:200]})", path=path) from None


GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """Whether the file is gzip-compressed (by its first bytes, not its name)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def check_writable(out: str | Path, *, directory: bool = False) -> None:
    """Refuse, before any work is done, an output that cannot be written: something of the other
    kind in its place (a file where a ``directory`` goes, or a folder where a file goes), or a
    nearest existing parent that is not a folder or cannot be written in. Nothing is created.

    >>> check_writable("reports/nsl", directory=True)
    """
    target = Path(out)
    if target.exists() or target.is_symlink():
        if directory and not target.is_dir():
            raise InputError("is a file, and a folder is to be written here", path=target,
                             hint="choose another path, or remove the file")
        if not directory and target.is_dir():
            raise InputError("is a folder, and a file is to be written here", path=target,
                             hint="name a file")
        if not os.access(target, os.W_OK):
            raise InputError("cannot be written (permission denied)", path=target)
        return
    parent = target.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot be created: {parent} is a file, not a folder", path=target)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot be created: no permission to write in {parent}", path=target)


TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")  # what :func:`write_table` writes
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")  # names that announce one JSON object a line


def table_suffix(out: str | Path) -> str:
    """The suffix of a table output, one of :data:`TABLE_SUFFIXES` (any other is refused)."""
    suffix = Path(out).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ConfigError(f"output must end in {', '.join(TABLE_SUFFIXES)}; got {Path(out).name!r}")
    return suffix


STDOUT = "-"  # an output named so is written to standard output, where a command allows it


def check_output(out: str | Path, inputs: Any, *, table: bool = False, stdout: bool = False) -> None:
    """Refuse an output path that is one of the inputs (the input would be read, then
    overwritten), or one that cannot be written (:func:`check_writable`); with ``table``, one
    whose suffix :func:`write_table` does not write. :data:`STDOUT` is accepted where ``stdout``.
    Called before the work, not after it.

    >>> check_output("preds.csv", ["flows.csv"], table=True)
    """
    if str(out) == STDOUT:
        if stdout:
            return
        raise ConfigError("this output cannot be standard output (-)", hint="name a file")
    if table:
        table_suffix(out)
    check_writable(out)
    target = Path(out).resolve()
    for source in [inputs] if isinstance(inputs, (str, Path)) else inputs:
        if str(source) != "-" and Path(source).resolve() == target:
            raise InputError("the output is the input file; writing it would destroy the input", path=out,
                             hint="write to another file")


STDIN_NAME = "<stdin>"


def is_pipe(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a stream rather than a file: ``-`` (stdin), a named pipe, or what a
    shell's process substitution passes (``/dev/fd/63``). A stream can be read once only.

    >>> is_pipe("-"), is_pipe("/")
    (True, False)
    """
    if str(path) == "-":
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


#: why a stream is refused, and what works instead, by what the data is read for
_STREAM_REFUSALS = {
    # training, cv and tune read tables several times: a stream would be read empty, or from past its start
    "reread": ("read only once, and this data is read several times",
               "write it to a file first; detect, evaluate and extract copy a stream themselves"),
    # watch follows a file by its size and offset (and resumes from there after a restart)
    "follow": ("watch follows a growing file, by its offset",
               "append the stream to a file and watch that file, or score a finished stream with detect"),
}


def refuse_stream(path: str | os.PathLike[str], use: str) -> None:
    """Refuse a stream (:func:`is_pipe`) for a ``use`` it cannot serve: ``reread`` or ``follow``."""
    if is_pipe(path):
        reason, hint = _STREAM_REFUSALS[use]
        raise InputError(f"is a stream (stdin or a pipe); {reason}", path=input_name(path), hint=hint)


def input_name(path: str | os.PathLike[str]) -> str:
    """How messages name an input: ``<stdin>`` for ``-``, else the path as given."""
    return STDIN_NAME if str(path) == "-" else str(path)


@contextlib.contextmanager
def pipe_as_file(path: str | os.PathLike[str] = "-", stream: Any = None) -> Any:
    """Copy a stream (stdin for ``-``, a named pipe, ``/dev/fd/N``; or ``stream``) into a temporary
    file and yield its path; the file is removed on exit. Table and capture readers read their input
    several times (sniffing the format, the header, then the records), which a pipe does not allow.

    The file is named ``stdin`` (``stdin.parquet`` for Parquet bytes, which readers recognise by
    name). Errors raised and warnings logged meanwhile name the stream as given (``<stdin>`` for
    ``-``, see :func:`input_name`); :func:`relabel_copy` does the same for what the readers return.

    >>> import io
    >>> with pipe_as_file(stream=io.BytesIO(b"a,b\\n1,2\\n")) as path:
    ...     path.name, path.read_bytes()
    ('stdin', b'a,b\\n1,2\\n')
    """
    import shutil
    import tempfile

    name = input_name(path)
    with contextlib.ExitStack() as stack:
        if stream is None:
            stream = sys.stdin.buffer if str(path) == "-" else stack.enter_context(open(path, "rb"))
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="deepsentry-stdin-"))
        head = stream.read(4)
        copy = Path(folder) / ("stdin.parquet" if head == b"PAR1" else "stdin")
        with open(copy, "wb") as out:
            out.write(head)
            shutil.copyfileobj(stream, out, 1 << 20)
        with copy_named_as(copy, name):
            yield copy


@contextlib.contextmanager
def copy_named_as(copy: Path, name: str, *, lines_before: int = 0, quiet: bool = False) -> Any:
    """While reading ``copy`` (a stream's copy, or a piece of a large file that holds its lines
    after the first ``lines_before``), errors raised and warnings logged name ``name`` instead;
    ``quiet`` drops the warnings (a later piece: the summary counts every piece's problems)."""
    relabel = _RelabelFilter(copy, name, quiet)
    # without a handler of its own (a library caller's), logging writes warnings through lastResort
    handlers = list(logging.getLogger().handlers) or [h for h in (logging.lastResort,) if h is not None]
    for handler in handlers:
        handler.addFilter(relabel)
    try:
        yield
    except DeepSentryError as exc:
        raise exc.relocated(copy, name, lines_before) from None
    finally:
        for handler in handlers:
            handler.removeFilter(relabel)


class _RelabelFilter(logging.Filter):
    """Names a temporary copy as what it copies in log records (see :func:`copy_named_as`)."""

    def __init__(self, copy: Path, name: str, quiet: bool = False) -> None:
        super().__init__()
        self.copy, self.name, self.quiet = copy, name, quiet

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if str(self.copy) in message:
            if self.quiet:
                return False
            record.msg, record.args = relabel_copy(message, self.copy, self.name), ()
        return True


def relabel_copy(text: str, copy: Path, name: str) -> str:
    """``text`` with the temporary copy of a stream (:func:`pipe_as_file`) named ``name``.

    >>> relabel_copy("/tmp/x/stdin, line 3: bad", Path("/tmp/x/stdin"), input_name("-"))
    '<stdin>, line 3: bad'
    """
    return text.replace(str(copy), name)


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` as CSV, JSON lines or Parquet, chosen by the suffix of ``out``; as CSV to
    standard output for :data:`STDOUT`."""
    with TableWriter(out) as writer:
        writer.write(frame)
    return writer.out


class TableWriter:
    """Writes frames one after another into one table (:func:`write_table`'s formats), for output
    that is produced in pieces: the header once, each piece's rows after the last. Every piece
    has the first one's columns; Parquet also needs their types.

    >>> import io, contextlib
    >>> with contextlib.redirect_stdout(io.StringIO()) as text, TableWriter(STDOUT) as writer:
    ...     writer.write(pd.DataFrame({"id": [0], "score": [0.5]}))
    ...     writer.write(pd.DataFrame({"id": [1], "score": [2.0]}))
    >>> text.getvalue().splitlines()
    ['id,score', '0,0.5', '1,2.0']
    """

    def __init__(self, out: str | Path) -> None:
        self.out = out if str(out) == STDOUT else Path(out)
        self.suffix = "stdout" if str(out) == STDOUT else table_suffix(self.out)
        self._sink: Any = None
        self._schema: pa.Schema | None = None
        self._first: pd.DataFrame | None = None  # JSON lines: the first frame, while every one was empty

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow.parquet as pq

        first = self._sink is None
        if self.suffix == "stdout":
            frame.to_csv(sys.stdout, index=False, header=first)
            self._sink = sys.stdout
            return
        if first:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.suffix == ".jsonl":
            if first:
                self._sink = open(self.out, "w", encoding="utf-8")
                self._first = frame
            if len(frame):  # pandas writes an empty frame as an empty line: once, at the end, if all are
                frame.to_json(self._sink, orient="records", lines=True)
                self._first = None
            return
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
        if first:
            self._schema = table.schema
            self._sink = pq.ParquetWriter(self.out, table.schema) if self.suffix == ".parquet" \
                else pacsv.CSVWriter(str(self.out), table.schema)
        self._sink.write_table(table)

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._sink is not None and self._sink is not sys.stdout:
            if self.suffix == ".jsonl" and self._first is not None:
                self._first.to_json(self._sink, orient="records", lines=True)
            self._sink.close()
        self._sink = None


def one_spelling_per_class(labels: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """Labels that differ only in case ('BENIGN' in one export, 'Benign' in the next) are one
    class, under the spelling most records use; returns the labels and each spelling replaced
    with the one kept.

    >>> one_spelling_per_class(np.array(["Attack", "attack", "attack"], dtype=object))[1]
    {'Attack': 'attack'}
    """
    codes, names = pd.factorize(labels, use_na_sentinel=False)
    names = [str(name) for name in names]
    kept: dict[str, str] = {}
    for i in np.argsort(-np.bincount(codes, minlength=len(names)), kind="stable"):
        kept.setdefault(names[i].casefold(), names[i])
    replaced = {name: kept[name.casefold()] for name in names if kept[name.casefold()] != name}
    if not replaced:
        return labels, {}
    return np.array([kept[name.casefold()] for name in names], dtype=object)[codes], replaced


#: columnar table files, read whole with pyarrow: Parquet, and Feather (Arrow IPC), which pandas'
#: ``to_feather`` writes
COLUMNAR_SUFFIXES = (".parquet", ".pq", ".feather", ".arrow", ".ipc")


def is_columnar(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet or Feather (Arrow IPC) file (by its suffix)."""
    return Path(path).suffix.lower() in COLUMNAR_SUFFIXES


def read_columnar(path: str | Path) -> pd.DataFrame:
    """A Parquet or Feather (Arrow IPC) file as a frame, less the columns :func:`flat_columns`
    leaves out; a file that cannot be read is an :class:`InputError` naming it."""
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    parquet = Path(path).suffix.lower() in (".parquet", ".pq")
    what = "Parquet" if parquet else "Feather (Arrow IPC)"

    def refused(exc: BaseException) -> InputError:  # pyarrow's messages may quote the damaged bytes
        reason = "".join(c for c in str(exc).strip().split("\n")[0] if c.isprintable())[:200]
        return InputError(f"cannot read {what} ({reason})", path=path)

    try:
        table = flat_columns(pq.read_table(path) if parquet else feather.read_table(path), path)
        # Arrow IPC is read as it lies, unchecked: damaged offsets would fail (or crash) later
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:  # ArrowMemoryError: a
        raise refused(exc) from None  # corrupt length asking for terabytes
    try:
        return table.to_pandas()
    except pa.ArrowException as exc:
        raise refused(exc) from None
    except (ValueError, KeyError, TypeError):  # pandas' metadata in the file (JSON) is corrupt
        pass
    try:
        frame = table.replace_schema_metadata(None).to_pandas()
    except (pa.ArrowException, ValueError, KeyError, TypeError) as exc:
        raise refused(exc) from None
    log.warning("%s: the pandas metadata stored in the file is corrupt; its columns are read as Arrow stores them", path)
    # a pandas index saved as a column: row labels, not a feature
    return frame.drop(columns=[c for c in frame.columns if re.fullmatch(r"__index_level_\d+__", str(c))])


def flat_columns(table: pa.Table, path: str | Path) -> pa.Table:
    """A Parquet table less the columns that hold no feature value, named in a warning: lists,
    records, maps and raw bytes (a payload, say). One-hot encoding their text would make a
    category of every distinct value.

    >>> flat_columns(pa.table({"dur": [1.0], "sizes": [[60, 1500]]}), "f.parquet").column_names
    ['dur']
    """
    def holds_no_value(kind: pa.DataType) -> bool:
        return (pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
                or pa.types.is_fixed_size_binary(kind))

    left_out = [f.name for f in table.schema if holds_no_value(f.type)]
    if left_out:
        log.warning("%s: column(s) %s hold lists, records or raw bytes, not feature values; left out",
                    path, ", ".join(left_out))
        table = table.drop_columns(left_out)
    return table


#: other compressions than gzip, by their first bytes -> their name and the command that undoes them
_OTHER_COMPRESSIONS = ((re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2", "bunzip2 -k"),
                       (re.compile(rb"\xfd7zXZ\x00"), "xz", "unxz -k"),
                       (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd", "unzstd"),
                       (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7-Zip", "7z x"))


def refuse_other_compression(head: bytes, path: str | Path) -> None:
    """The error for a file compressed otherwise than with gzip (by its first bytes, ``head``):
    read as text, it would be binary noise, or each of its lines a malformed record.

    >>> import bz2
    >>> try:
    ...     refuse_other_compression(bz2.compress(b"a,b\\n"), "flows.csv.bz2")
    ... except InputError as exc:
    ...     print(exc.message)
    ...     print(exc.hint)
    file is bzip2-compressed; deepsentry reads text, plain or gzip-compressed
    decompress it first (bunzip2 -k flows.csv.bz2), or compress it with gzip
    """
    for magic, name, command in _OTHER_COMPRESSIONS:
        if magic.match(head):
            raise InputError(f"file is {name}-compressed; deepsentry reads text, plain or gzip-compressed", path=path,
                             hint=f"decompress it first ({command} {Path(path).name}), or compress it with gzip")


def open_bytes(path: str | Path) -> Any:
    """A binary stream over a plain or gzip-compressed file (decompressed as it is read); a file
    compressed otherwise is an :class:`InputError` that says how."""
    import gzip

    if is_gzip(path):
        return gzip.open(path, "rb")
    stream = open(path, "rb")
    try:
        refuse_other_compression(stream.peek(10)[:10], path)
    except InputError:
        stream.close()
        raise
    return stream


# byte-order marks -> the codec that reads past them (UTF-32 first: its LE mark starts like UTF-16's)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def text_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` announces (None without one).

    >>> text_encoding("x".encode("utf-16")), text_encoding(b"x,y")
    ('utf-16', None)
    """
    return next((codec for bom, codec in _BOMS if head.startswith(bom)), None)


def open_text(path: str | Path) -> Any:
    """A text stream over a plain or gzip file, or a stream (stdin for ``-``, a named pipe; gzip
    or not, told by its first bytes): UTF-8, or UTF-16/32 where a byte-order mark says so (Windows
    tools write logs that way); invalid bytes are replaced."""
    import gzip
    import io

    if is_pipe(path):  # read once, in order: its first bytes are peeked at, never read twice
        stream = sys.stdin.buffer if str(path) == "-" else open(path, "rb")
        if hasattr(stream, "peek") and stream.peek(2)[:2] == GZIP_MAGIC:
            stream = io.BufferedReader(gzip.GzipFile(fileobj=stream))
        elif hasattr(stream, "peek"):
            refuse_other_compression(stream.peek(10)[:10], path)
    elif not Path(path).exists():
        raise InputError("no such file", path=path)
    else:
        stream = open_bytes(path)
    encoding = text_encoding(stream.peek(4)[:4]) if hasattr(stream, "peek") else None
    return io.TextIOWrapper(stream, encoding=encoding or "utf-8", errors="replace", newline=None)


def read_before_fault(path: str | Path, limit: int | None = None) -> tuple[bytes, BaseException | None]:
    """A file's content (decompressed, for gzip), its first ``limit`` bytes or all of it, up to
    where it is cut short or corrupt, and what is wrong there (None for a sound file)."""
    import zlib

    parts, size = [], 0
    try:
        with open_bytes(path) as handle:
            # read1: a fault loses nothing read before it
            while (limit is None or size < limit) and (
                    chunk := handle.read1(1 << 24 if limit is None else limit - size)):
                parts.append(chunk)
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


#: the read report's count of a folder's files left out (flow tables, logs)
UNREADABLE_FILE = "<unreadable file>"


def ends_early(exc: BaseException, kept: str = "records") -> str:
    """What the malformed record that ends a file cut short (a gzip stream, say) or corrupt says:
    the ``kept`` before it (records; a log's lines) are kept.

    >>> ends_early(EOFError("Compressed file ended before the end-of-stream marker was reached"), "lines")[30:]
    '(Compressed file ended before the end-of-stream marker was reached); lines before kept'
    """
    return f"file ends early or is corrupt ({exc}); {kept} before kept"


def json_object(line: str) -> tuple[dict[str, Any] | None, str]:
    """The JSON object a line of JSON lines holds, or None and why it holds none (said as a
    malformed record's reason).

    >>> json_object('{"a": 1}'), json_object('[1]'), json_object('{"a": 1')
    (({'a': 1}, ''), (None, 'not a JSON object (list)'), (None, "not JSON (Expecting ',' delimiter, character 8)"))
    """
    import json

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:  # its own "line 1 column n" would name the wrong line
        return None, f"not JSON ({exc.msg}, character {exc.pos + 1})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # an integer of more than 4,300 digits, which Python refuses to convert
        return None, f"not JSON ({str(exc).split(';')[0]})"
    if not isinstance(record, dict):
        return None, f"not a JSON object ({type(record).__name__})"
    return record, ""


def json_line_objects(path: str | Path, *, strict: bool = False
                      ) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, str], int]:
    """The JSON objects of a JSON-lines file (plain, gzip or a stream), each with its record
    position (0-based; blank lines are skipped, as the CSV reader skips them), the malformed
    records ({position: why}: a line that is not a JSON object, the end of a file cut short; the
    records before them are kept) and the number of records. With ``strict``, the first
    malformed record is an :class:`InputError` naming its line.

    >>> import tempfile; folder = tempfile.mkdtemp()
    >>> _ = Path(folder, "t.jsonl").write_text('{"a": 1}\\n\\n[2]\\n{"a": 3}\\n')
    >>> json_line_objects(Path(folder, "t.jsonl"))
    ([(0, {'a': 1}), (2, {'a': 3})], {1: 'not a JSON object (list)'}, 3)
    """
    objects: list[tuple[int, dict[str, Any]]] = []
    malformed: dict[int, str] = {}
    faults: list[tuple[int, str]] = []

    def bad(number: int, position: int, reason: str) -> None:
        if strict:
            raise InputError(reason, path=path, row=number)
        malformed[position] = reason

    total = 0
    for number, line in numbered_lines(path, lambda *fault: faults.append(fault)):
        if not line.strip():
            continue
        if total == 0 and opens_json_array(line):
            refuse_json_array(path)
        total += 1
        record, why = json_object(line)
        if record is None:
            bad(number, total - 1, why)
        else:
            objects.append((total - 1, record))
    for number, why in faults:  # a truncated gzip file: the records before it count
        bad(number, total, why)
        total += 1
    return objects, malformed, total


_JSON_ARRAY = re.compile(r"\ufeff?\s*\[\s*(?:[{\]]|$)")


def opens_json_array(first_line: str) -> bool:
    """Whether a file's first line opens a JSON array of records (one document), pretty-printed
    (``[`` alone) or on one line (``[{...}, ...]``, or ``[]``); a line that is an array of values
    is a record of JSON lines (malformed: not an object), and a header such as ``[a],[b]`` a table's.

    >>> [opens_json_array(line) for line in ("[", ' [{"a": 1}]', "[]", "[1, 2]", "[a],[b]")]
    [True, True, True, False, False]
    """
    return _JSON_ARRAY.match(first_line) is not None


def refuse_json_array(path: str | Path) -> None:
    """The error for a JSON document holding an array of records where JSON lines (one record a
    line) are read: each of its lines would be a malformed record."""
    raise InputError("a JSON array (one document), not JSON lines (one record per line)", path=path,
                     hint=f"convert it first, e.g. jq -c '.[]' {Path(path).name} > records.jsonl")


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON record with its nested objects' fields as ``outer.inner`` (an empty object: a missing
    value); a name taken already (a key ``"a.b"`` beside ``{"a": {"b": ...}}``) gets ``.1``, ``.2``...
    as pandas names repeated columns, so no value is lost.

    >>> flat_record({"a.b": 1, "a": {"b": 2, "c": {}}, "d": [3]})
    {'a.b': 1, 'a.b.1': 2, 'a.c': None, 'd': [3]}
    """
    out: dict[str, Any] = {}

    def add(prefix: str, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                add(f"{name}.", value)
                continue
            unique, k = name, 0
            while unique in out:
                k += 1
                unique = f"{name}.{k}"
            out[unique] = None if isinstance(value, dict) else value

    add("", record)
    return out


def is_json_lines(path: Path) -> bool:
    """JSON lines: named so (``.jsonl``, ``.ndjson``, ``.json``, also gzipped) or starting with ``{``."""
    import zlib

    suffixes = [x.lower() for x in path.suffixes[-2:]]
    if any(x in JSON_LINES_SUFFIXES for x in suffixes):
        return True
    try:
        with open_bytes(path) as stream:
            return stream.read(256).lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1] == b"{"
    except (OSError, EOFError, zlib.error):  # a damaged gzip file: the delimited reader says so
        return False


def read_json_lines(path: Path, report: ReadReport, strict: bool = False) -> tuple[pd.DataFrame, dict[int, str], int]:
    """A table written as JSON lines, one record a line, its keys the columns; returns (frame,
    {0-based record: why malformed}, total records), as :func:`read_delimited` does. Nested
    objects become ``outer.inner`` columns, as Parquet's records do; a column holding lists is
    left out, named in a warning, as :func:`flat_columns` leaves Parquet's out. A line that is not
    a JSON object is a malformed record, counted and reported (with ``strict``, an error)."""
    bad_lines, reasons, faults = array.array("q"), [], []

    def bad(number: int, why: str) -> None:
        if strict:
            raise InputError(why, path=path, row=number)
        bad_lines.append(number)
        reasons.append(why)

    frame, numbers = json_lines_table(numbered_lines(path, lambda *fault: faults.append(fault)), bad, path=path)
    for fault in faults:  # told after the lines before it, which are parsed a batch at a time
        bad(*fault)
    malformed = dict(zip(record_positions(numbers, bad_lines)[1].tolist(), reasons))
    total = len(numbers) + len(bad_lines)
    left_out = [c for c in frame.columns if frame[c].dtype == object and any(isinstance(v, list) for v in frame[c])]
    if left_out:
        log.warning("%s: column(s) %s hold lists, not feature values; left out", path, ", ".join(map(str, left_out)))
        frame = frame.drop(columns=left_out)
    if malformed:
        leave_out(path, dict(malformed), np.arange(total), 0, report, malformed, False, what="malformed record(s)")
    return frame, malformed, total


def record_positions(numbers: np.ndarray, bad_lines: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based positions among all records of the good ones (their line numbers, ascending:
    ``numbers``) and of the malformed ones (``bad_lines``, ascending): a record's position counts
    the records of both kinds before it, not the blank or header lines.

    >>> [p.tolist() for p in record_positions(np.array([1, 4, 5]), [2, 7])]
    [[0, 2, 3], [1, 4]]
    """
    bad_at = np.asarray(bad_lines, dtype=np.int64)
    return (np.arange(len(numbers)) + np.searchsorted(bad_at, numbers),
            np.arange(len(bad_at)) + np.searchsorted(numbers, bad_at))


#: text handed to pyarrow at a time (characters), by the readers that parse lines in batches
BATCH_CHARS = 16 << 20


def numbered_lines(path: str | Path, fault: Callable[[int, str], None]) -> Iterator[tuple[int, str]]:
    """A text file's lines (plain, gzip or a stream, as :func:`open_text` reads them) with their
    numbers, without their line ends. A compressed file cut short or corrupt ends them: ``fault``
    is told the number the next line would have and what is wrong (the lines before it count)."""
    import zlib

    number = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.rstrip("\n")
    except (OSError, EOFError, zlib.error) as exc:
        fault(number + 1, ends_early(exc))


def _plain_json_type(kind: pa.DataType) -> bool:
    """Whether pyarrow reads values of this type as Python's json does (up to the kind of number)."""
    if pa.types.is_list(kind):
        return _plain_json_type(kind.value_type)
    return pa.types.is_null(kind) or pa.types.is_boolean(kind) or pa.types.is_int64(kind) \
        or pa.types.is_float64(kind) or pa.types.is_string(kind)


def _unusual_numbers(table: pa.Table) -> np.ndarray:
    """Which rows hold a float (in a list too) that is not finite or not below 2**63 in size: where
    pyarrow's reading may not be Python's json's. pyarrow takes ``Inf`` and ``-NaN``, which Python
    refuses, and makes a float of an integer beyond 64 bits (infinite past 308 digits), which
    Python keeps an integer (or refuses, past 4,300 digits)."""
    unusual = np.zeros(table.num_rows, dtype=bool)
    for column in table.columns:
        values, rows = column.combine_chunks(), None
        while pa.types.is_list(values.type):
            parents = pc.list_parent_indices(values).to_numpy()
            rows = parents if rows is None else rows[parents]
            values = pc.list_flatten(values)
        if pa.types.is_float64(values.type):
            x = values.fill_null(0.0).to_numpy(zero_copy_only=False)
            at = np.flatnonzero(~(np.abs(x) < 2.0 ** 63))
            unusual[at if rows is None else rows[at]] = True
    return unusual


def _same_json_value(python: Any, arrow: Any) -> bool:
    """Whether pyarrow read a value as Python's json did (a missing key is a null to pyarrow).

    >>> _same_json_value(float("nan"), float("nan")), _same_json_value([2, 3], [2.0, 3.0]), _same_json_value(10**400, float("inf"))
    (True, True, False)
    """
    if isinstance(python, list) and isinstance(arrow, list):
        return len(python) == len(arrow) and all(map(_same_json_value, python, arrow))
    if isinstance(python, float) and python != python:
        return isinstance(arrow, float) and arrow != arrow
    if isinstance(python, int) and not isinstance(python, bool) and isinstance(arrow, float):
        return abs(python) < 2 ** 63 and python == arrow  # an int in a column of floats, as pandas has it
    return type(python) is type(arrow) and python == arrow


def _arrow_json_frame(batch: list[tuple[int, str]], numbers: array.array
                      ) -> tuple[pd.DataFrame | None, list[tuple[int, str]]]:
    """A batch of JSON lines parsed by pyarrow, as Python's json would read it, and the lines in it
    that hold no object (number, why), in line order; None where pyarrow refuses the batch or would
    read it otherwise (see :func:`json_lines_table`). The line number of each record goes to ``numbers``."""
    import pyarrow.json as pajson

    told: list[tuple[int, str]] = []
    objects: list[tuple[int, str]] = []
    for number, line in batch:
        text = line.strip(" \t\r\n")  # JSON's white space
        if text[:1] == "{" and text[-1:] == "}":
            objects.append((number, line))
            continue
        # not an object: pyarrow reads a null line as a record of nulls, and a batch that opens with
        # one stops the process (pyarrow 26: a segmentation fault)
        record, why = json_object(line)
        if record is not None:
            return None, []
        told.append((number, why))
    if not objects:
        return pd.DataFrame(), told
    text = "\n".join(line for _, line in objects).encode("utf-8")
    if len(text) > (1 << 31) - 64:  # past pyarrow's largest block
        return None, []
    # one block: where a key's kind changes between two blocks (a list, then a boolean), pyarrow 26
    # may stop the process (a segmentation fault) instead of refusing the batch
    read = pajson.ReadOptions(use_threads=False, block_size=len(text) + 64)
    try:
        table = pajson.read_json(pa.BufferReader(text), read_options=read)
        dates = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
        if dates:  # pyarrow makes timestamps of ISO dates; Python's json leaves them the text they are
            names = table.column_names  # in the order keys first appear, which the explicit ones would lead
            table = pajson.read_json(pa.BufferReader(text), read_options=read, parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([(name, pa.string()) for name in dates]), unexpected_field_behavior="infer"))
            table = table.select(names)
        table.validate(full=True)  # pyarrow 26 builds lists of several nulls longer than their values
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None, []
    if table.num_rows != len(objects) or not all(_plain_json_type(f.type) for f in table.schema):
        return None, []  # a line holding two objects, or nested objects (flattened by flat_record)
    for k in np.flatnonzero(_unusual_numbers(table)):
        record, _ = json_object(objects[k][1])
        # a line Python refuses (its keys would still be columns here) or reads otherwise: by line
        if record is None or not all(_same_json_value(record.get(key), value)
                                     for key, value in table.slice(k, 1).to_pylist()[0].items()):
            return None, []
    frame = table.to_pandas()
    for field_ in table.schema:
        if pa.types.is_list(field_.type):  # Python lists, as Python's json reads them
            frame[field_.name] = pd.Series(table.column(field_.name).to_pylist(), index=frame.index, dtype=object)
    numbers.extend(number for number, _ in objects)
    return frame, told


def json_lines_table(lines: Iterable[tuple[int, str]], bad: Callable[[int, str], None], *,
                     path: str | Path | None = None, batch_chars: int = BATCH_CHARS) -> tuple[pd.DataFrame, np.ndarray]:
    """The JSON objects of numbered lines as one frame, a column a key in the order keys first
    appear, nested objects' fields as ``outer.inner`` (:func:`flat_record`), and the line number
    of each record. Blank lines are no records; a line that holds no JSON object is told to
    ``bad`` (its number, why: :func:`json_object`), in line order. A first line that opens a JSON
    array is refused (:func:`refuse_json_array`).

    pyarrow's JSON reader parses ``batch_chars`` of lines at a time, several times faster than a
    dict per record. A batch it refuses (a malformed line, a key whose values change kind, a key
    written twice) or would read otherwise than Python's json (nested objects, ISO dates it makes
    timestamps of, a line holding two objects) is read a line at a time with Python's json, whose
    reading is the rule: records holding numbers pyarrow may read otherwise (:func:`_unusual_numbers`)
    are parsed again by Python, and a batch where one differs is read by line. pyarrow gets only
    lines that open and close an object, a batch as one block: fuzzing found pyarrow 26 ending the
    process on a batch that opens with ``null``, and on kinds that change from block to block.

    >>> lines = enumerate(['{"a": 1, "b": "x"}', '', '[2]', '{"a": 2.5}'], 1)
    >>> frame, numbers = json_lines_table(lines, print)
    3 not a JSON object (list)
    >>> frame.to_dict("list"), numbers.tolist()
    ({'a': [1.0, 2.5], 'b': ['x', nan]}, [1, 4])
    """
    frames: list[pd.DataFrame] = []
    numbers = array.array("q")
    batch: list[tuple[int, str]] = []
    chars, first = 0, True

    def by_line() -> pd.DataFrame:
        records = []
        for number, line in batch:
            record, why = json_object(line)
            if record is None:
                bad(number, why)
            else:
                records.append(record)
                numbers.append(number)
        if any(isinstance(v, dict) for record in records for v in record.values()):
            records = [flat_record(record) for record in records]
        return pd.DataFrame(records)

    def flush() -> None:
        nonlocal chars
        if batch:
            frame, told = _arrow_json_frame(batch, numbers)
            for number, why in told:
                bad(number, why)
            frames.append(by_line() if frame is None else frame)
        batch.clear()
        chars = 0

    for number, line in lines:
        if not line.strip():
            continue
        if first and opens_json_array(line):
            refuse_json_array(path if path is not None else "-")
        first = False
        batch.append((number, line))
        chars += len(line)
        if chars >= batch_chars:
            flush()
    flush()
    numbers_read = np.frombuffer(numbers, dtype=np.int64) if numbers else np.zeros(0, dtype=np.int64)
    frames = [f for f in frames if len(f) or len(f.columns)]
    if not frames:
        return pd.DataFrame(), numbers_read
    if len(frames) == 1:
        return frames[0], numbers_read
    booleans: dict[Any, set[bool]] = {}
    for part in frames:
        for column in part.columns:
            booleans.setdefault(column, set()).add(pd.api.types.is_bool_dtype(part[column]))
    # booleans beside numbers stay Python's values (pandas would make 0 and 1 of them), as one frame has them
    mixed = {column for column, kinds in booleans.items() if len(kinds) > 1}
    if mixed:
        frames = [part.astype({c: object for c in part.columns if c in mixed}) for part in frames]
    frame = pd.concat(frames, ignore_index=True, sort=False)
    for column in frame.columns[(frame.dtypes == object).to_numpy()]:
        # numbers beside a batch where the key held only nulls: floats, as one frame of them all has it
        if pd.api.types.infer_dtype(frame[column], skipna=True) in ("integer", "floating", "mixed-integer-float") \
                and all(abs(v) < 2 ** 63 for v in frame[column] if isinstance(v, int)):
            frame[column] = frame[column].astype(np.float64)
    return frame, numbers_read


_ARFF_ATTRIBUTE = re.compile(r"""@attribute\s+('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)""", re.IGNORECASE)


def arff_header(path: Path) -> tuple[list[str], int] | None:
    """For a Weka ARFF file (NSL-KDD ships ``KDDTrain+.arff``): its attribute names and the number
    of lines before the first record; None for anything else. The records are CSV."""
    import zlib

    try:
        with open_text(path) as handle:
            head = handle.read(1 << 16)  # bounded: a big file without line breaks is read no further
    except (OSError, EOFError, zlib.error):  # a damaged compressed file: the delimited reader says so
        return None
    first = next((line for line in head.splitlines() if line.strip() and not line.lstrip().startswith("%")), "")
    if not first.lstrip().lower().startswith("@relation"):
        return None
    names: list[str] = []
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                text = line.strip()
                if text.lower().startswith("@attribute"):
                    match = _ARFF_ATTRIBUTE.match(text)
                    if match is None:
                        raise InputError("an @attribute line without a name", path=path, row=number)
                    names.append(match.group(1).strip("'\""))
                elif text.lower().startswith("@data"):
                    if not names:
                        raise InputError("an ARFF file without @attribute lines", path=path, row=number)
                    return names, number
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot decompress ({exc})", path=path) from None
    raise InputError("an ARFF file without a @data line", path=path)


def header_delimiter(header: str) -> str:
    """The most frequent of ``DELIMITERS`` in a header line (the comma on a tie or when none occurs).

    >>> header_delimiter("dur;bytes;proto"), header_delimiter("dur")
    (';', ',')
    """
    return max(DELIMITERS, key=header.count)


def sniff_delimited(path: Path) -> tuple[str, list[str]]:
    """Delimiter and first-record fields, from the first line of a text file (gzip-compressed or not)."""
    head, fault = read_before_fault(path, 1 << 16)  # a file cut short keeps what comes before the cut
    if fault is not None:
        if not is_gzip(path):
            raise fault
        if b"\n" not in head:  # not one whole line: nothing to go by (the reader keeps the lines)
            raise InputError(f"cannot decompress ({fault})", path=path) from None
    encoding = text_encoding(head)
    if encoding not in (None, "utf-8-sig"):
        raise InputError(f"file is {encoding.upper()} text; tables are read as UTF-8", path=path,
                         hint=f"convert it first, e.g. iconv -f {encoding.upper()} -t UTF-8")
    if head.startswith(b"PK\x03\x04"):
        raise InputError("file is a ZIP archive (an Excel workbook?), not delimited text", path=path,
                         hint="save the sheet as CSV, or unpack the archive")
    # a NUL byte in the first line, not anywhere: text files get NUL runs where a crash cut a
    # write short, and those records are malformed ones, as they are in the parts of a large table
    if b"\x00" in head.lstrip(b"\r\n").split(b"\n", 1)[0]:
        raise InputError("file is binary, not delimited text", path=path)
    text = head.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise InputError("file is empty", path=path)
    first = text.lstrip("\r\n").splitlines()[0]
    if opens_json_array(first):  # named otherwise than .json
        refuse_json_array(path)
    delimiter = header_delimiter(first)
    if first.count(delimiter) == 0 and first.startswith("#"):
        raise InputError("the file starts with a comment line, not a header row", path=path, row=1,
                         hint="a table's first line names its columns; drop the comments first, e.g. "
                              "grep -v '^#' in.csv > out.csv")
    if first.count(delimiter) == 0:
        raise InputError(
            "first line holds a single field",
            path=path, row=1,
            hint="expected fields delimited by one of , ; tab |; is this the right file?",
        )
    return delimiter, [f.strip().strip('"') for f in first.split(delimiter)]


_HOOK_LOCK = threading.Lock()
_HOOK_USERS = [0, None]  # readers inside quiet_row_handler_errors, the hook they replaced


def _row_handler_hook(unraisable: Any) -> None:
    if unraisable.exc_type is UnicodeDecodeError and getattr(unraisable.object, "__name__", "") == "on_invalid":
        return  # handled: the file is read again with the bytes replaced
    _HOOK_USERS[1](unraisable)


@contextlib.contextmanager
def quiet_row_handler_errors() -> Any:
    """Keep pyarrow from printing a traceback when a malformed row is also not UTF-8.

    pyarrow decodes such a row's text before it calls the row handler, fails, prints the error as
    "Exception ignored in ..." and stops the read; :func:`read_delimited` then reads the file again
    with the bytes replaced and reports the row, so the traceback is noise on a user's terminal.
    Other unraisable errors still reach the previous hook. Nested and threaded use share one
    installed hook.
    """
    with _HOOK_LOCK:
        if _HOOK_USERS[0] == 0:
            _HOOK_USERS[1] = sys.unraisablehook
            sys.unraisablehook = _row_handler_hook
        _HOOK_USERS[0] += 1
    try:
        yield
    finally:
        with _HOOK_LOCK:
            _HOOK_USERS[0] -= 1
            if _HOOK_USERS[0] == 0:
                sys.unraisablehook = _HOOK_USERS[1]


#: delimiters of the spreadsheets that write numbers with a decimal comma (``0,5``): European
#: locales save CSV with semicolons, and tab-separated text, so as not to clash with the comma
DECIMAL_COMMA_DELIMITERS = (";", "\t")
# 1,5 / -0,25 / 1.234,5 (a dot groups thousands) / 1,5E-3; integers alone are left to pyarrow
_DECIMAL_COMMA_NUMBER = r"^[-+]?(\d+|\d{1,3}(\.\d{3})+),\d+([eE][-+]?\d+)?$|^[-+]?(\d+|\d{1,3}(\.\d{3})+)$"


def read_decimal_commas(table: pa.Table, path: str | Path) -> pa.Table:
    """Text columns whose every value is a number written with a decimal comma (and one at least
    has a comma), as numbers: read as text, they became categories of digits, and a model's
    numeric column read them as bad values."""
    converted = []
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        if not pc.any(pc.match_substring(column, ",")).as_py():  # most text columns: no trimmed copy made
            continue
        values = pc.utf8_trim_whitespace(column)
        filled = pc.not_equal(values, "")
        if not pc.all(pc.or_(pc.invert(filled), pc.match_substring_regex(values, _DECIMAL_COMMA_NUMBER))).as_py():
            continue
        number = pc.replace_substring(pc.replace_substring(values, ".", ""), ",", ".")
        number = pc.if_else(filled, number, pa.scalar(None, pa.string()))
        table = table.set_column(i, name, pc.cast(number, pa.float64()))
        converted.append(str(name))
    if converted:
        log.info("%s: read decimal commas as numbers in %s", path, ", ".join(converted[:5])
                 + (f" and {len(converted) - 5} more" if len(converted) > 5 else ""))
    return table


def no_data_rows(path: str | Path, malformed: dict[int, str], report: ReadReport) -> InputError:
    """The error for a table with no usable row: none at all, or every one malformed (the first named)."""
    if not malformed:
        return InputError("no data rows", path=path)
    first = next((e for e in report.examples if e.row), None)
    return InputError(f"no data rows: all {len(malformed)} are malformed"
                      + (f" (first: line {first.row}, {first.reason})" if first else ""), path=path)


def read_delimited(path: Path, delimiter: str, report: ReadReport, strict: bool = False,
                   column_names: list[str] | None = None, legacy_text_columns: tuple[str, ...] = (),
                   skip_lines: int = 0) -> tuple[pd.DataFrame, dict[int, str], int]:
    """Read a delimited text file; returns (frame, {0-based data row: why malformed}, total rows).

    ``column_names`` is given for header-less files; otherwise the first line is the header.
    ``skip_lines`` lines come before the records (with ``column_names``: an ARFF header).
    In ``legacy_text_columns`` (names compared without case or surrounding spaces; a label column), a value
    that is not UTF-8 is read as Windows-1252 text and the file is noted, not the row rejected: the
    original CIC-IDS2017 CSVs label their web attacks ``Web Attack \x96 Brute Force``.
    """
    read_opts = dict(column_names=column_names) if column_names else dict()
    if skip_lines:
        read_opts["skip_rows"] = skip_lines
    header_lines = (0 if column_names else 1) + skip_lines
    bad: list[tuple[int | None, str]] = []  # (record number, counting the header, as pyarrow; why)
    lines: dict[int, int] = {}  # record number -> line in the file, where the two differ
    spanned = [0]  # extra lines taken by the malformed records so far
    footer = [False]  # past the line 'Summary' that starts nfdump's footer

    def on_invalid(row: pacsv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        if isinstance(row.text, str) and row.text.strip().lower() == "summary":
            footer[0] = True
        if footer[0]:  # 'Summary', its header and its values close nfdump's CSV (unless -q)
            reason += ": nfdump's summary footer, not a flow record (nfdump -q writes none)"
        extra = row.text.count("\n") if isinstance(row.text, str) else 0
        if row.number is not None and (spanned[0] or extra):
            # pyarrow counts records: after a quote left open, which runs on over the next
            # lines, its numbers are no longer lines
            first = row.number + spanned[0]
            lines[row.number] = first
            if extra:
                reason += (f": a quote opened on line {first} is not closed there, so lines {first}-"
                           f"{first + extra} were read as this one record")
        spanned[0] += extra
        bad.append((row.number, reason))
        # Raising here would be swallowed by pyarrow; "error" makes it stop with ArrowInvalid.
        return "error" if strict else "skip"

    compressed = is_gzip(path)  # by content, not by name: pyarrow alone goes by the extension

    def read(threads: bool, source: Any = None) -> pa.Table:
        bad.clear()
        lines.clear()
        spanned[0] = 0
        footer[0] = False
        return pacsv.read_csv(
            source if source is not None else pa.input_stream(str(path), compression="gzip") if compressed else path,
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=1 << 24, **read_opts),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )

    fault: BaseException | None = None  # what ends a compressed file cut short or corrupt
    try:
        # Single-threaded reading knows each bad row's line number: used in strict mode, and
        # to re-read the (rare) files that have malformed rows.
        with quiet_row_handler_errors():
            try:
                table = read(not strict)
            except OSError:
                # a compressed stream that is cut or corrupt: its whole lines, read again; or one
                # that Python's gzip reads and pyarrow's does not (zero padding after the stream,
                # which zcat and gzip -d ignore too)
                if not compressed:
                    raise
                kept, fault = read_before_fault(path)
                if fault is not None and b"\n" not in kept:  # not one whole line: pyarrow's own error
                    raise
                table = read(False, pa.BufferReader(kept if fault is None else kept[:kept.rfind(b"\n") + 1]))
                del kept
            if fault is None and bad and any(number is None for number, _ in bad):
                table = read(False)
    except (pa.ArrowInvalid, OSError) as exc:  # OSError: a compressed stream that is cut or corrupt
        if strict and bad:
            number = lines.get(bad[-1][0], bad[-1][0])
            raise InputError(bad[-1][1], path=path, row=file_lines(path, [number]).get(number)) from None
        table = None if strict else _read_replacing_invalid_utf8(path, compressed, read, report, delimiter,
                                                                  len(column_names) if column_names else None,
                                                                  skip_lines)
        if table is None:
            short = re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+)", str(exc))
            if short:  # a short row that is also not UTF-8: pyarrow stops before the row handler
                raise InputError(f"expected {short[2]} fields, found {short[3]}", path=path,
                                 row=file_lines(path, [int(short[1])])[int(short[1])]) from None
            raise InputError(f"cannot parse as delimited text ({str(exc).splitlines()[0]})", path=path) from None
    try:
        table.schema.names  # noqa: B018 - pyarrow decodes the header's names lazily: fail here, clearly
    except UnicodeDecodeError as exc:
        raise InputError(f"the header row is not UTF-8 text ({exc.reason} at byte {exc.start})", path=path,
                         row=1, hint="re-encode the file as UTF-8") from None
    if fault is not None:  # one malformed record after the whole lines, as the other readers have it
        bad.append((table.num_rows + len(bad) + header_lines + 1, ends_early(fault)))
        if strict:
            number = bad[-1][0]
            raise InputError(bad[-1][1], path=path, row=file_lines(path, [number]).get(number, number))
    malformed: dict[int, str] = {}
    in_file = file_lines(path, [lines.get(number, number) for number, _ in bad[:MAX_EXAMPLES]], report)
    for number, reason in bad:
        report.malformed_rows += 1
        counted = lines.get(number, number)
        report.add(BadRecord(str(path), in_file.get(counted, counted) if counted is not None else None, None, reason))
        if number is not None:
            malformed[number - 1 - header_lines] = reason
    total = table.num_rows + len(bad)
    table = _decode_legacy_text(table, path, report, {name.strip().lower() for name in legacy_text_columns})
    table = _drop_invalid_utf8(table, path, report, malformed, total, header_lines, strict)
    if header_lines:
        table = _drop_repeated_headers(table, path, report, malformed, total, header_lines, strict)
    if delimiter in DECIMAL_COMMA_DELIMITERS:
        table = read_decimal_commas(table, path)
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    names = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame.columns = unique_names(names)
    renamed = [f"{old or '(empty)'} -> {new}" for old, new in zip(names, frame.columns) if old != new]
    if renamed:  # a feature under a name the user did not write: say which
        log.warning("%s: header names repeated or empty, renamed: %s", path, ", ".join(renamed[:5])
                    + (f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""))
    if bad:
        log.warning("%s: %d malformed row(s) skipped (first: line %s, %s)",
                    path, len(bad), in_file.get(lines.get(bad[0][0], bad[0][0]), bad[0][0]), bad[0][1])
    return frame, malformed, total


def _read_replacing_invalid_utf8(path: Path, compressed: bool, read: Any, report: ReadReport, delimiter: str,
                                 fields: int | None, skip_lines: int) -> pa.Table | None:
    """A row with the wrong number of fields that also holds bytes that are not UTF-8 stops
    pyarrow (its row handler cannot decode the row's text), losing the whole file: read it again
    with those bytes replaced (U+FFFD) in the lines with another number of fields than the header
    (``fields``: the names given for a header-less file), so such a row is counted like any
    malformed row, and a record with such bytes elsewhere is left out as it is in a file without
    the short row (and in each piece of a large one). Where a quoted delimiter defeats the count,
    the bytes are replaced everywhere, and a value that holds them is kept with U+FFFD. None when
    that is not the cause. Holds the file in memory, about three times over (a rare fallback)."""
    import gzip

    try:
        data = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError, ValueError):
        return None
    try:
        data.decode("utf-8")
        return None  # valid UTF-8: the failure has another cause
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    separator = delimiter.encode()
    expected = fields if fields is not None else \
        lines[skip_lines].count(separator) + 1 if len(lines) > skip_lines else 0

    def in_short_rows(line: bytes) -> bytes:
        if line.count(separator) + 1 == expected:
            return line
        try:
            line.decode("utf-8")
            return line
        except UnicodeDecodeError:
            return line.decode("utf-8", errors="replace").encode("utf-8")

    def attempts() -> Any:  # the second only where the first fails: each is a copy of the file
        yield b"\n".join(lines[:skip_lines] + [in_short_rows(line) for line in lines[skip_lines:]])
        yield data.decode("utf-8", errors="replace").encode("utf-8")

    table = None
    for replaced in attempts():
        try:
            table = read(False, pa.BufferReader(replaced))
            break
        except (pa.ArrowInvalid, OSError):
            continue
    if table is None:
        return None
    report.add(BadRecord(str(path), None, None, "bytes that are not UTF-8 were replaced (U+FFFD) to read "
                                                "the file; rows with the wrong number of fields are counted"))
    return table


def file_lines(path: str | Path, numbers: Any, report: ReadReport | None = None) -> dict[int, int]:
    """The lines in the file ``path`` of records numbered as the readers number them: pyarrow, and
    so every delimited-table reader, skips empty lines without counting them (lines before an
    ARFF header's end count), the JSON-lines reader blank ones; a message must name the line an
    editor shows. Computed when a problem is reported, not for every file read; ``report`` keeps
    the blank lines found, for the next problem in the same file.

    >>> import tempfile; folder = tempfile.mkdtemp()
    >>> _ = Path(folder, "t.csv").write_text("a,b\\n1,2\\n\\n\\n3,x\\n")
    >>> file_lines(Path(folder, "t.csv"), [2, 3])
    {2: 2, 3: 5}
    """
    import zlib

    numbers = [int(n) for n in numbers if n is not None]
    if not numbers:
        return {}
    blank = None if report is None else report.blank_lines.get(str(path))
    if blank is None:
        blank = []
        try:
            if Path(path).is_file() and not is_columnar(path):
                skip = arff[1] if (arff := arff_header(Path(path))) is not None else 0
                whitespace = is_json_lines(Path(path))
                with open_text(path) as stream:
                    for number, line in enumerate(stream, 1):
                        if number > skip and (not line.strip() if whitespace else line in ("\n", "\r\n")):
                            blank.append(number)
        except (OSError, EOFError, zlib.error, InputError):  # a file cut short: its lines up to there
            pass
        if report is not None:
            report.blank_lines[str(path)] = blank
    if not blank:
        return {n: n for n in numbers}
    at = np.asarray(blank)
    counted_before = at - 1 - np.arange(len(at))  # counted lines before each blank one
    wanted = np.asarray(numbers)
    return dict(zip(numbers, (wanted + np.searchsorted(counted_before, wanted, side="left")).tolist()))


def leave_out(path: Path, reasons: dict[int, str], positions: np.ndarray, header_lines: int, report: ReadReport,
              malformed: dict[int, str], strict: bool, *, what: str, column: str | None = None,
              hint: str | None = None) -> np.ndarray:
    """Rows of a table being read (table row -> why) that are malformed records: with ``strict``
    the first is an error; otherwise each is counted and reported by its line in the file and
    marked in ``malformed``. ``positions`` maps table rows to input rows (see :func:`kept_positions`).
    Returns the mask of the rows to keep."""
    rows = sorted(reasons)
    counted = {row: int(positions[row]) + 1 + header_lines for row in rows}
    in_file = file_lines(path, counted.values(), report)
    lines = {row: in_file[number] for row, number in counted.items()}
    if strict:
        raise InputError(reasons[rows[0]], path=path, row=lines[rows[0]], column=column, hint=hint)
    for row in rows:
        report.malformed_rows += 1
        report.add(BadRecord(str(path), lines[row], column, reasons[row]))
        malformed[int(positions[row])] = reasons[row]
    log.warning("%s: %d %s left out (first: line %d)%s", path, len(rows), what, lines[rows[0]],
                f"; {hint}" if hint else "")
    keep = np.ones(len(positions), dtype=bool)
    keep[rows] = False
    return keep


def _decode_legacy_text(table: pa.Table, path: Path, report: ReadReport, names: set[str]) -> pa.Table:
    """Binary (not UTF-8) columns named in ``names`` as text: UTF-8 where a value is, else
    Windows-1252 (Latin-1 for its five unassigned bytes). Decoded once per distinct value."""
    for i, column in enumerate(table.schema):
        if column.name.strip().lstrip("\ufeff").lower() not in names or not (
                pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        legacy: set[str] = set()
        chunks = []
        for chunk in table.column(i).chunks:
            encoded = pc.dictionary_encode(chunk)
            words = []
            for value in encoded.dictionary.to_pylist():
                try:
                    words.append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    words.append("".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in value))
                    legacy.add(words[-1])
            chunks.append(pa.DictionaryArray.from_arrays(encoded.indices, pa.array(words, pa.string()))
                          .cast(pa.string()))
        table = table.set_column(i, column.name, pa.chunked_array(chunks, pa.string()))
        if legacy:
            shown = sorted(legacy)
            report.add(BadRecord(str(path), None, column.name.strip(),
                                 f"not UTF-8; read as Windows-1252: {', '.join(repr(t) for t in shown[:3])}"))
            log.warning("%s: column %s is not UTF-8; %d distinct value(s) read as Windows-1252 (first: %r)",
                        path, column.name.strip(), len(shown), shown[0])
    return table


def _reads_as_windows_1252(value: bytes) -> bool:
    """Whether ``value`` is Windows-1252 text: its bytes all assigned there and none a control.

    >>> _reads_as_windows_1252(b"caf\\xe9"), _reads_as_windows_1252(b"\\xff\\x81"), _reads_as_windows_1252(b"\\x00\\xe9")
    (True, False, False)
    """
    try:
        return value.decode("cp1252").isprintable()
    except UnicodeDecodeError:
        return False


def _drop_invalid_utf8(table: pa.Table, path: Path, report: ReadReport, malformed: dict[int, str],
                       total: int, header_lines: int, strict: bool) -> pa.Table:
    """Rows holding bytes that are not UTF-8 are malformed records (counted, reported by line, then
    left out; in strict mode the first is an error), not a reason to reject the file. pyarrow types
    a column with such bytes as binary; the others are already valid text."""
    binary = [i for i, f in enumerate(table.schema) if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if not binary:
        return table
    invalid: dict[int, str] = {}  # table row -> why
    legacy = True  # every such value reads as Windows-1252 text, as Excel on Windows writes CSV
    for i in binary:
        name = table.schema.field(i).name
        for row, value in enumerate(table.column(i).to_pylist()):
            if value is None or row in invalid:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                invalid[row] = f"field {name!r} is not valid UTF-8 (byte {value[exc.start:exc.end]!r})"
                legacy = legacy and _reads_as_windows_1252(value)
    if invalid:
        positions = kept_positions(total, malformed)  # table rows -> input rows (parse-skipped rows leave gaps)
        hint = ("re-encode the file as UTF-8" if not legacy else "it reads as Windows-1252 text (Excel's CSV on "
                "Windows): convert it first, e.g. iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv")
        keep = leave_out(path, invalid, positions, header_lines, report, malformed, strict,
                         what="row(s) with bytes that are not UTF-8", hint=hint)
        table = table.filter(pa.array(keep))
    for i in binary:
        table = table.set_column(i, table.schema.field(i).name, table.column(i).cast(pa.string()))
    return table


def _drop_repeated_headers(table: pa.Table, path: Path, report: ReadReport, malformed: dict[int, str],
                           total: int, header_lines: int, strict: bool) -> pa.Table:
    """A row that repeats the header (files concatenated with their headers, as in the published
    CSE-CIC-IDS2018 CSVs) is not a record: counted and reported by line like any malformed row,
    then left out, so that ``Label`` never becomes a class. Such a row makes every column text, so
    only text tables are checked, on their first column first."""
    if table.num_rows == 0 or not all(pa.types.is_string(f.type) for f in table.schema):
        return table
    names = [name.strip().lstrip("\ufeff") for name in table.column_names]
    first = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(table.column(0)), names[0]), False)
    rows = np.flatnonzero(first.to_numpy(zero_copy_only=False))
    repeated = [int(row) for row in rows
                if [str(v).strip().lstrip("\ufeff") for v in table.slice(int(row), 1).to_pylist()[0].values()]
                == names]
    if not repeated:
        return table
    keep = leave_out(path, dict.fromkeys(repeated, "the row repeats the header"), kept_positions(total, malformed),
                     header_lines, report, malformed, strict, what="row(s) repeating the header",
                     hint="remove the repeated header rows (files concatenated with their headers?)")
    return table.filter(pa.array(keep))


def arrow_frame(table: pa.Table, numeric_columns: list[str]) -> pd.DataFrame:
    """A pandas frame from an Arrow table (e.g. a CSV request body), with the rule of JSON
    records: where a number is expected, null is a missing value and anything that is not a number
    is an :class:`InputError` naming the record (0-based) and the field."""
    wanted = set(numeric_columns)
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if name in wanted and not _arrow_numeric(column.type):
            table = table.set_column(index, name, _arrow_floats(column, name))
    return table.to_pandas()


def arrow_numeric_matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    """The ``columns`` of an Arrow table as one float64 matrix (column-major), without pandas, by
    :func:`arrow_frame`'s rule: null or an absent column is NaN, a value that is not a number is an
    :class:`InputError` naming the record and the field.

    >>> import pyarrow as pa
    >>> arrow_numeric_matrix(pa.table({"a": [1, None], "b": ["2.5", None]}), ["a", "b", "c"])
    array([[1. , 2.5, nan],
           [nan, nan, nan]])
    """
    values = np.full((table.num_rows, len(columns)), np.nan, dtype=np.float64, order="F")
    present = {name: index for index, name in enumerate(table.column_names)}
    for i, name in enumerate(columns):
        index = present.get(name)
        if index is None:
            continue
        column = table.column(index)
        if not pa.types.is_null(column.type):
            values[:, i] = _arrow_floats(column, name).to_numpy()
    return values


def _arrow_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
        or pa.types.is_null(kind)


def _arrow_floats(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """``column`` as float64 (nulls kept); integers past 2**53 round as numpy rounds them."""
    if pa.types.is_floating(column.type) and column.type.bit_width == 64:
        return column
    if _arrow_numeric(column.type):
        return pc.cast(column, pa.float64(), safe=False)
    try:
        return pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # the slow way, to name the bad record
        values = []
        for row, value in enumerate(column.to_pylist()):
            if value is None or value == "":
                values.append(None)
                continue
            try:
                values.append(float(value))
            except (TypeError, ValueError):
                raise InputError(f"not a number: {str(value)[:40]!r}", row=row, column=name) from None
        return pa.chunked_array([pa.array(values, pa.float64())])


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique the way pandas does (``x``, ``x.1``, ...), so no column is lost;
    an empty name becomes ``column_N``."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        base, k = name, seen.get(name, 0)
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen[base] = k
        seen[name] = 0
        out.append(name)
    return out


def kept_positions(total: int, malformed: dict[int, str]) -> np.ndarray:
    """Input row index of each kept row, given the malformed rows' indexes."""
    if not malformed:
        return np.arange(total, dtype=np.int64)
    mask = np.ones(total, dtype=bool)
    idx = [i for i in malformed if 0 <= i < total]
    mask[idx] = False
    kept = np.flatnonzero(mask)
    return kept[: total - len(malformed)]


def is_text_column(series: pd.Series) -> bool:
    """Neither numbers nor booleans: a column read as text (strings, or dates pyarrow parsed)."""
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


_WRITTEN_NUMBER = re.compile(r"\s*(?:0[xX]([0-9a-fA-F]+)|(\d*\.?\d+)\s*([kKmMgGtT]))\s*")
_UNIT_FACTORS = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def written_number(text: str) -> float | None:
    """A number as flow tools write some in text: hexadecimal (Argus's ICMP type and code in its
    port fields, ``0x0303``) or with a decimal unit suffix (nfdump's byte counts, kept so by
    CIDDS-001: ``1.2 M``); None for anything else. Files and served records read them alike.

    >>> [written_number(t) for t in ("0x0303", "1.2 M", "3k", "lots", "12")]
    [771.0, 1200000.0, 3000.0, None, None]
    """
    match = _WRITTEN_NUMBER.fullmatch(text)
    if match is None:
        return None
    if match[1] is not None:
        return float(int(match[1], 16))
    return float(match[2]) * _UNIT_FACTORS[match[3].lower()]


_BOOLEANS = {"true": 1.0, "false": 0.0}


def text_number(text: str) -> float | None:
    """The number a text value stands for where it is not written as a plain number: a
    :func:`written_number`, or a boolean (JSON's ``true``, pandas' ``True``, a spreadsheet's
    ``FALSE``) as 1 or 0; None for anything else. Files and served records read them alike.

    >>> [text_number(t) for t in ("True", "FALSE", "0x10", "yes")]
    [1.0, 0.0, 16.0, None]
    """
    boolean = _BOOLEANS.get(text.strip().lower())
    return boolean if boolean is not None else written_number(text)


def _written_numbers(text: pd.Series, numbers: pd.Series, bad: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``numbers`` with the ``bad`` values that :func:`text_number` reads; returns (numbers, still bad)."""
    found = text[bad].map(text_number).dropna()
    if found.empty:
        return numbers, bad
    numbers = numbers.copy()
    numbers.loc[found.index] = found.astype(np.float64)
    return numbers, bad & numbers.isna()


def coerce_numeric(path: Path, features: pd.DataFrame, report: ReadReport, *, positions: np.ndarray,
                   strict: bool = False, header_lines: int = 1, categorical: frozenset[str] = frozenset(),
                   allow_text_columns: bool = True, normalise=lambda name: name,
                   numeric: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Turn text columns that are meant to be numbers into numbers, counting values that are not.

    Columns named in ``categorical`` (after ``normalise``) stay text; with ``allow_text_columns``,
    a column where most values are not numbers is taken as categorical text too, unless it is
    named in ``numeric`` (a model's numeric inputs: there every non-number is a bad value).
    """
    for column in features.columns:
        series = features[column]
        if pd.api.types.is_timedelta64_dtype(series):  # a Parquet duration: seconds, as flow tables give them
            features[column] = series.dt.total_seconds().astype(np.float64)
            continue
        if not is_text_column(series):
            continue
        if normalise(column) in categorical:
            features[column] = series.astype(str)
            continue
        text = series.astype(str).str.strip()
        numbers = pd.to_numeric(text.str.replace(r"^(?i:infinity)$", "inf", regex=True), errors="coerce")
        missing = series.isna() | text.str.lower().isin(["", "nan", "null", "none", "na", "<na>"])
        bad = numbers.isna() & ~missing
        if bad.any():
            numbers, bad = _written_numbers(text, numbers, bad)
        # judged on the values present: a field that most records lack (a JSON key of one event
        # type, a TCP-only field) is text or numbers by what the records that have it say
        if allow_text_columns and column not in numeric and bad.sum() > 0.5 * (~missing).sum():
            features[column] = text  # a genuinely categorical column of a generic CSV
            continue
        n_bad = int(bad.sum())
        if n_bad:
            first = int(np.flatnonzero(bad.to_numpy())[0])
            line = int(positions[first]) + 1 + header_lines if first < len(positions) else None
            line = file_lines(path, [line], report).get(line) if line is not None else None
            value = text.iloc[first]
            # a spreadsheet's export in a decimal-comma locale: say so, the fix is in the export
            comma = " (a decimal comma? deepsentry reads numbers written with '.')" \
                if _DECIMAL_COMMA.fullmatch(value) else ""
            if strict:
                raise InputError(f"not a number: {value[:40]!r}{comma}", path=path, row=line, column=column)
            report.bad_values[column] = report.bad_values.get(column, 0) + n_bad
            report.add(BadRecord(str(path), line, column, f"not a number: {value[:40]!r}{comma} "
                                 f"({n_bad} such value(s) in this column, treated as missing)"))
            log.warning("%s: column %s has %d non-numeric value(s), treated as missing (first: line %s)",
                        path, column, n_bad, line)
        features[column] = numbers.astype(np.float64)
    return features
