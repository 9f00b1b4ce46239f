"""Where the shared datasets live: one setting, ``DEEPSENTRY_DATA``.

Default: ``../shared/datasets`` beside the source checkout (the layout of the development
machines), never a path relative to the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "DEEPSENTRY_DATA"
_CHECKOUT = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """The datasets directory named by ``DEEPSENTRY_DATA``, or the checkout's default."""
    value = os.environ.get(ENV_DATA)
    return Path(value).expanduser() if value else (_CHECKOUT / ".." / "shared" / "datasets").resolve()
