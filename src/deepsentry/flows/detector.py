"""The flow intrusion detector: flow readers + :class:`~deepsentry.core.tabular.TabularDetector`.

>>> from deepsentry.flows import FlowDetector, read_flows             # doctest: +SKIP
>>> data = read_flows("KDDTrain+.txt")                                 # doctest: +SKIP
>>> detector = FlowDetector().fit_flows(data)                          # doctest: +SKIP
>>> detector.save("models/nsl")                                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from ..core.bundle import sha256_file
from ..core.tabular import DetectorConfig, TabularDetector
from .readers import FlowData, ReadOptions, list_inputs, read_flows

FLOW_FEATURES_VERSION = 1


class FlowDetector(TabularDetector):
    """A :class:`TabularDetector` that remembers how its training flows were read."""

    kind = "flows"

    def fit_flows(self, data: FlowData, *, progress: Any = None, source: str | Path | None = None) -> Self:
        """Fit on :class:`FlowData` (labels required unless the model is an autoencoder)."""
        self.fit(data.features, data.labels, benign_labels=data.benign_labels, progress=progress)
        self.format_ = data.format
        self.label_column_ = data.label_column
        self.benign_labels_ = list(data.benign_labels)
        self.read_report_ = data.report.to_dict()
        self.data_sha256_ = _data_checksum(source) if source is not None else None
        return self

    def read_options(self, **overrides: Any) -> ReadOptions:
        """Options to read new data the way the training data was read (labels optional)."""
        fmt = overrides.pop("format", None) or getattr(self, "format_", None)
        return ReadOptions(format=None if fmt == "csv" else fmt,
                           label_column=getattr(self, "label_column_", None) if fmt == "csv" else None,
                           benign_labels=tuple(getattr(self, "benign_labels_", None) or ()),
                           **overrides)

    def read_input(self, path: str | Path, *, strict: bool = False, format: str | None = None,
                   require_labels: bool = False) -> FlowData:
        """Read flows from ``path`` the way the training flows were read."""
        return read_flows(path, self.read_options(strict=strict, format=format,
                                                  require_labels=require_labels))

    def manifest_extra(self) -> dict[str, Any]:
        return {**super().manifest_extra(),
                "flow_format": getattr(self, "format_", None),
                "benign_labels": getattr(self, "benign_labels_", None),
                "label_column": getattr(self, "label_column_", None),
                "extractor_versions_flows": FLOW_FEATURES_VERSION}

    @classmethod
    def load(cls, path: str | Path, *, keras_model: bool = True) -> Self:
        detector = super().load(path, keras_model=keras_model)
        detector.format_ = detector.manifest_.get("flow_format")
        detector.benign_labels_ = detector.manifest_.get("benign_labels")
        detector.label_column_ = detector.manifest_.get("label_column")
        return detector


def _data_checksum(source: str | Path) -> dict[str, str]:
    """sha256 of every training file, by name."""
    return {str(p.name): sha256_file(p) for p in list_inputs(source)}


__all__ = ["DetectorConfig", "FlowDetector"]
