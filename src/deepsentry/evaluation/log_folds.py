"""Log sequences in cross-validation and tuning: one table row per sequence, so the splitter,
``cv`` and ``tune`` treat logs like any other labelled records.

A sequence is one cell of the ``events`` column (its event ids joined by a separator no event id
holds), so de-duplication before splitting removes repeated (sequence, label) pairs: HDFS repeats
most of its block sessions, and a sequence seen in training says nothing about the detector when
it is tested again. Sequences keep their input order, which time-ordered folds use (BGL's windows
must be split by time, never at random).

>>> from deepsentry.logs.sequences import SequenceData
>>> table = sequence_table(SequenceData(["a", "b"], [["E1", "E2"], ["E3"]], np.array([0, 1])), "seqs.csv")
>>> list(table.labels), sequences_of(table.features)
([np.str_('normal'), np.str_('anomalous')], [['E1', 'E2'], ['E3']])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.tables import LabelledTable

EVENTS = "events"
NORMAL, ANOMALOUS = "normal", "anomalous"
SEPARATOR = "\x1f"  # ASCII unit separator: readers split event ids on whitespace and commas


def sequence_table(data: Any, path: str | Path) -> LabelledTable:
    """A labelled table of ``data`` (a :class:`~deepsentry.logs.sequences.SequenceData`)."""
    if data.labels is None:
        raise InputError("cross-validation and tuning need labelled sequences", path=path,
                         hint="a sequence CSV with a Label column, --labels for raw logs, per-line labels "
                              "for windows, or --normal with --abnormal")
    labels = np.where(np.asarray(data.labels).astype(bool), ANOMALOUS, NORMAL)
    features = pd.DataFrame({EVENTS: [SEPARATOR.join(s) for s in data.sequences]})
    return LabelledTable(features=features, labels=labels, raw_labels=None, ids=np.asarray(data.ids, dtype=object),
                         format="log-sequences", benign_labels=(NORMAL,), report=data.report,
                         positions=np.arange(len(features)), total_rows=len(features))


def sequences_of(frame: pd.DataFrame) -> list[list[str]]:
    """The event-id lists of a sequence table's rows."""
    return [cell.split(SEPARATOR) if cell else [] for cell in frame[EVENTS].tolist()]


class LogFoldDetector:
    """A :class:`~deepsentry.logs.detector.LogSequenceDetector` fitted and scored on sequence-table
    rows: the interface :func:`~deepsentry.evaluation.cv.cross_validate` and the tuning objective
    use for every domain. Alerts are scores above the detector's own threshold, which it chose on
    validation sequences carved from the fold's training rows."""

    benign_class_ = NORMAL
    attack_class_ = ANOMALOUS
    multiclass_ = False

    def __init__(self, config: Any = None) -> None:
        from ..logs.detector import LogConfig

        self.config = config or LogConfig()

    def fit(self, X: pd.DataFrame, y: Any, *, benign_labels: tuple[str, ...] = (NORMAL,), **_: Any) -> Self:
        from ..logs.detector import LogSequenceDetector

        benign = [b.lower() for b in benign_labels]
        labels = (~np.isin(np.char.lower(np.asarray(y).astype(str)), benign)).astype(np.int8)
        self.detector_ = LogSequenceDetector(self.config).fit(self.transform(X), labels)
        self.threshold_ = self.detector_.threshold_
        self.summary_ = self.detector_.summary_
        self.model_ = self.detector_.model_  # what ``auto`` kept for this fold
        return self

    def transform(self, X: pd.DataFrame) -> list[list[str]]:
        return sequences_of(X)

    def score_features(self, sequences: list[list[str]]) -> dict[str, np.ndarray]:
        score = self.detector_.score_samples(sequences)
        return {"score": score,
                "predicted": np.where(score > self.threshold_.threshold, ANOMALOUS, NORMAL).astype(object)}
