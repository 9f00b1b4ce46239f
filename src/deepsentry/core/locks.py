"""One process at a time on a folder of state (a watch's checkpoint, a search's journal): two
writers would each replay the other's work, repeating alerts or trials.

>>> with exclusive_use("state", "the watch state"):       # doctest: +SKIP
...     pass
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

LOCK_FILE = "lock"


@contextlib.contextmanager
def exclusive_use(directory: str | Path, what: str) -> Iterator[None]:
    """Hold ``directory/lock`` (an advisory ``flock``, released when the process ends, ``kill -9``
    included) while the block runs; a second process is refused with the first one's pid."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: nothing to hold
        yield
        return
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise ConfigError(f"{what} is in use by another process{f' (pid {holder})' if holder else ''}",
                              path=directory, hint="wait for it to end, or give this run its own folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
