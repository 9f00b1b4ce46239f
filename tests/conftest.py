"""Shared fixtures: the datasets setting and small synthetic flow files made at test time."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402


def dataset_path(*parts: str) -> Path:
    """Path of a shared dataset file; skip when absent (fail under CI=true, where it must exist)."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        message = f"dataset {path} is absent (set DEEPSENTRY_DATA to the shared datasets directory)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def synthetic_flows(n: int = 600, seed: int = 0, attack_share: float = 0.4) -> pd.DataFrame:
    """Flow-like records: benign traffic and two attack classes with distinct shapes."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(["normal", "scan", "flood"], size=n, p=[1 - attack_share, attack_share / 2, attack_share / 2])
    duration = np.where(kind == "normal", rng.exponential(5.0, n), rng.exponential(0.01, n))
    packets = np.where(kind == "flood", rng.integers(500, 5000, n), rng.integers(1, 60, n))
    bytes_ = packets * np.where(kind == "scan", 60, rng.integers(60, 1500, n))
    ports = np.where(kind == "scan", rng.integers(1, 65535, n), rng.choice([80, 443, 53, 22], n))
    proto = np.where(kind == "flood", "udp", rng.choice(["tcp", "udp"], n, p=[0.8, 0.2]))
    return pd.DataFrame({
        "src_ip": [f"10.0.{i % 250}.{i % 7}" for i in range(n)],
        "dst_port": ports,
        "proto": proto,
        "duration": duration.round(6),
        "packets": packets,
        "bytes": bytes_,
        "syn_ratio": np.where(kind == "scan", 1.0, rng.uniform(0, 0.2, n)).round(4),
        "label": kind,
    })


ZEEK_FIXTURE = Path(__file__).parent / "fixtures" / "zeek_conn.log"


def synthetic_zeek_conn(n: int = 300, seed: int = 5) -> tuple[list[str], list[str]]:
    """A Zeek conn.log's header lines (the fixture's) and ``n`` records: about 30% of them
    probes (state S0: few bytes, short) among completed sessions (SF)."""
    header = [line for line in ZEEK_FIXTURE.read_text().splitlines() if line.startswith("#") and "#close" not in line]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        probe = rng.random() < 0.3
        sent = int(rng.integers(0, 60)) if probe else int(rng.integers(200, 9000))
        rows.append("\t".join(map(str, [
            1767225600 + i, f"C{i}", f"10.0.0.{rng.integers(1, 250)}", rng.integers(1024, 65000), "10.0.1.5",
            rng.choice([22, 80, 443]), "tcp", "-", round(rng.exponential(0.01 if probe else 2.0), 4), sent,
            rng.integers(0, 9000), "S0" if probe else "SF", "T", "F", 0, "S" if probe else "ShADadFf",
            rng.integers(1, 30), sent + 40, rng.integers(0, 30), 100, "(empty)"])))
    return header, rows


@pytest.fixture
def nfstream_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """nfstream's ``to_pandas`` writes a temporary CSV into the working directory (and leaves it
    there when interrupted): tests that call it run from their own temporary directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def flows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "flows.csv"
    synthetic_flows().to_csv(path, index=False)
    return path


def named_pipe(path: Path, data: bytes) -> Path:
    """A named pipe at ``path`` that a background thread fills with ``data`` once a reader opens
    it (what a shell's ``<(command)`` hands a program: a stream readable once)."""
    import threading

    os.mkfifo(path)

    def feed() -> None:
        import time

        with open(path, "wb") as pipe:  # blocks until the reader opens the other end
            pipe.write(data)
        # a reader that opens the pipe again would wait for a writer for ever: meet it with an
        # empty stream, so that a test of such a reader fails instead of hanging
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader has it open
                pass
            time.sleep(0.05)

    threading.Thread(target=feed, daemon=True).start()
    return path
