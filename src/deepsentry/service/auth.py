"""Bearer tokens for the service: generated on first start into a file only the owner can read.

>>> import tempfile, pathlib, stat
>>> path = pathlib.Path(tempfile.mkdtemp()) / "token"
>>> token = load_or_create_token(path)
>>> len(token) >= 32, stat.S_IMODE(path.stat().st_mode) == 0o600, load_or_create_token(path) == token
(True, True, True)
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path

from ..core.errors import ConfigError

DEFAULT_TOKEN_FILE = Path("~/.config/deepsentry/token")


def load_or_create_token(path: str | Path) -> str:
    """Read the token at ``path``; create it (0600, parent 0700) when absent. A token file that
    others can read is refused: anyone who can read it can use every model."""
    path = Path(path).expanduser()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"token file is readable by others (mode {mode:o})", path=path,
                              hint=f"chmod 600 {path}")
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise ConfigError("token file holds no usable token (16+ characters)", path=path)
        return token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without a token",
                          hint="drop --no-auth, or listen on 127.0.0.1")
