"""Importing Keras (and its backend) without the backend's native start-up chatter on stderr.

TensorFlow honours ``TF_CPP_MIN_LOG_LEVEL`` for its own log calls, but messages that abseil logs
before it is initialised go to stderr whatever the level (abseil-cpp PRs #1718 and #1957): every
process that imports TensorFlow 2.21 prints an abseil warning and an INFO line about oneDNN, twice.
:func:`import_keras` applies the level to those lines too, and passes every other line through.

>>> keras = import_keras()
>>> keras.__name__
'keras'
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

# abseil's line prefix: severity letter, MMDD, time, thread id, file:line]
_ABSL_LINE = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
_ABSL_NOT_INITIALISED = b"All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
# logged as errors, but harmless: TensorFlow says so and carries on
_HARMLESS = (b"oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back",)
_lock = threading.RLock()  # re-entrant: a filtered block may open another (its lines are filtered twice)


def min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as an int (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def keep_native_line(line: bytes, level: int) -> bool:
    """Whether a stderr line written while a native library loaded should reach the user.

    >>> keep_native_line(b"I0000 00:00:1.5   7 port.cc:153] oneDNN custom operations are on.", 2)
    False
    >>> keep_native_line(b"E0000 00:00:1.5   7 cuda.cc:9] no device", 2)
    True
    >>> keep_native_line(b"a Python warning", 3)
    True
    >>> keep_native_line(b"E0000 00:00:1.5   7 util.cc:131] oneDNN supports DT_BOOL only on platforms "
    ...                  b"with AVX-512. Falling back to the default Eigen-based implementation", 2)
    False
    """
    if level <= 0:
        return True
    if _ABSL_NOT_INITIALISED in line or any(text in line for text in _HARMLESS):
        return False
    match = _ABSL_LINE.match(line)
    return match is None or _SEVERITY[match.group(1)] >= level


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the duration, then replay the lines that
    :func:`keep_native_line` keeps. Python's ``sys.stderr`` is flushed first, so order holds."""
    level = min_log_level()
    if level <= 0:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to filter
        yield
        return
    with _lock, tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if keep_native_line(line, level))
            if kept:
                os.write(2, kept)


def import_keras() -> ModuleType:
    """``import keras``, with the backend's start-up lines filtered by ``TF_CPP_MIN_LOG_LEVEL``
    (default 2 here, as TensorFlow reads it: errors are kept, information and warnings are not)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_filtered():
        import keras
    return keras


def prime_boolean_ops() -> None:
    """Run one boolean op on the TensorFlow backend with stderr filtered.

    On CPUs without AVX-512, TensorFlow logs once per process, at error level, that oneDNN falls
    back to Eigen for boolean tensors (the masks of the log models' LSTMs), then carries on. The
    first masked training or scoring step printed that line in the middle of the command's output;
    after this call the process has printed it already, filtered (about 50 ms, once)."""
    keras = import_keras()
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    with native_stderr_filtered():
        tf.function(lambda x: tf.transpose(x, [1, 0]))(tf.zeros((2, 1), dtype=tf.bool))
