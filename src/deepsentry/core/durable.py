"""Files that long runs keep across a ``kill -9``: checkpoints replaced atomically, append-only
files (alerts, a search's journal) cut back to whole lines, and a followed file found again after
rotation. Used by the watchers (``watch logs``, ``watch flows``) and ``tune --resume``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "alerts.jsonl").write_text('{"a": 1}\\n{"a": 2')  # killed mid-line
>>> drop_partial_line(folder / "alerts.jsonl")
>>> (folder / "alerts.jsonl").read_text()
'{"a": 1}\\n'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_BLOCK = 1 << 16


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that a kill leaves the old file or the new one, whole."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def drop_partial_line(path: str | Path) -> None:
    """Cut a last line left half-written by a kill, so the next record starts on its own line
    (read from the end: an alerts file may be large)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        position = end
        while position > 0:
            start = max(0, position - _BLOCK)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            position = start
        handle.truncate(0)


def renamed_file(path: str | Path, inode: int, device: int) -> Path | None:
    """The file beside ``path`` that is the followed file under another name (the same inode on
    the same device), as logrotate and syslog daemons leave it; None when there is none."""
    path = Path(path)
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return None
    for sibling in siblings:
        try:
            info = sibling.stat()
        except OSError:
            continue
        if sibling != path and info.st_ino == inode and info.st_dev == device and sibling.is_file():
            return sibling
    return None
