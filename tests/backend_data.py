"""Seeded toy data shared by test_backends.py and the JAX child process it starts."""

from __future__ import annotations

import numpy as np
import pandas as pd


def flow_table(n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    """Flow-like rows: heavy-tailed counts, a categorical column, and two attack classes."""
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(["normal", "dos", "probe"], dtype=object), size=n, p=[0.6, 0.25, 0.15])
    X = pd.DataFrame({
        "bytes": rng.lognormal(6, 1, n) * np.where(y == "dos", 20, 1),
        "packets": rng.poisson(10, n) + np.where(y == "probe", 0, 5),
        "ports": rng.integers(1, 4, n) + np.where(y == "probe", 50, 0),
        "protocol": rng.choice(["tcp", "udp", "icmp"], n),
    })
    return X, y


def log_sequences(n: int = 160) -> tuple[list[list[str]], np.ndarray]:
    """Event sequences; anomalous ones carry an error event the normal ones never hold."""
    rng = np.random.default_rng(1)
    labels = (rng.random(n) < 0.3).astype(int)
    sequences = []
    for anomalous in labels:
        events = ["open", "read", "read", "close"][: rng.integers(2, 5)] * int(rng.integers(1, 3))
        if anomalous:
            events.insert(int(rng.integers(0, len(events))), "error")
        sequences.append(events)
    return sequences, labels
