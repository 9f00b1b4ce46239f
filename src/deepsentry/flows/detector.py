"""The flow intrusion detector: flow readers + :class:`~deepsentry.core.tabular.TabularDetector`.

>>> from deepsentry.flows import FlowDetector, read_flows             # doctest: +SKIP
>>> data = read_flows("KDDTrain+.txt")                                 # doctest: +SKIP
>>> detector = FlowDetector().fit_flows(data)                          # doctest: +SKIP
>>> detector.save("models/nsl")                                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from ..core.bundle import sha256_file
from ..core.errors import ConfigError, InputError, check_is_fitted
from ..core.tabular import DetectorConfig, TabularDetector
from ..core.tables import flat_record
from .capture import IDENTITY
from .formats import FORMATS, align_columns, column_renames, is_default_benign, normalise_name
from .portable import PORTABLE_FEATURES, portable_from_cic
from .readers import FlowData, ReadOptions, list_inputs, read_flows
from .zeek import record_as_read

FLOW_FEATURES_VERSION = 1
FEATURE_SETS = ("native", "portable")


def to_portable(features: Any) -> Any:
    """Portable features of a flow table: taken as they are when present (``extract flows``
    output), else computed from CICFlowMeter-style columns."""
    if set(PORTABLE_FEATURES) <= set(features.columns):
        return features[list(PORTABLE_FEATURES)].astype("float64")
    return portable_from_cic(features)


class FlowDetector(TabularDetector):
    """A :class:`TabularDetector` that remembers how its training flows were read."""

    kind = "flows"

    def fit_flows(self, data: FlowData, *, progress: Any = None, source: str | Path | None = None,
                  feature_set: str = "native") -> Self:
        """Fit on :class:`FlowData` (labels required unless the model is an autoencoder).

        ``feature_set="portable"`` trains on the features that captures yield too (see
        :mod:`deepsentry.flows.portable`), so the model can score packet captures. Flows read
        from captures (:func:`read_capture_flows`) have no others: they train a portable model.
        """
        if feature_set not in FEATURE_SETS:
            raise ConfigError(f"unknown flow feature set {feature_set!r}", hint="native or portable")
        if data.format == "capture":
            feature_set = "portable"
        features = to_portable(data.features) if feature_set == "portable" else data.features
        try:
            self.fit(features, data.labels, benign_labels=data.benign_labels, progress=progress)
        except InputError as exc:  # what is wrong with the data: name it
            raise exc.relocated(None, source) if source is not None else exc from None
        self.feature_set_ = feature_set
        self.format_ = data.format
        self.label_column_ = data.label_column
        self.benign_labels_ = list(data.benign_labels)
        self.read_report_ = data.report.to_dict()
        self.data_sha256_ = _data_checksum(source) if source is not None else None
        return self

    # The service's paths: record keys and CSV columns under another CICFlowMeter release's spelling
    # are renamed as files are (see read_input), so they are not scored as missing values.
    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        check_is_fitted(self, ("preprocessor_",))
        if getattr(self, "format_", None) == "zeek":  # missing values as in files: scored alike
            text = tuple(self.preprocessor_.categories_)
            records = [record_as_read(r, text) if isinstance(r, dict) else r for r in records]
        expected = self.preprocessor_.input_columns_
        first = records[0] if records else None
        if isinstance(first, dict) and any(isinstance(v, dict) for v in first.values()):
            # nested objects, flattened as a JSON-lines file's are when read (by the first record:
            # a cheap test on the service's path; a later nested record is refused, by name)
            records = [flat_record(r) if isinstance(r, dict) else r for r in records]
        for i, why in self.records_not_scored(records).items():  # Suricata's eve.json: a dns event is no flow
            raise InputError(why, row=i, hint="send only flow records (serve answers the others as skipped)")
        if isinstance(first, dict) and any(c not in first for c in expected):
            keys = dict.fromkeys(k for r in records[:1000] if isinstance(r, dict) for k in r)
            renames = column_renames(keys, expected)
            if renames:
                records = [{renames.get(k, k): v for k, v in r.items()} if isinstance(r, dict) else r
                           for r in records]
        return super().transform_records(records)

    def records_not_scored(self, records: list[Any]) -> dict[int, str]:
        """Records of a format that mixes flows with other events (Suricata's eve.json: dns,
        http, stats ...) that are not flows, by position, with why; empty for other formats.

        >>> detector = FlowDetector(); detector.format_ = "suricata-eve"
        >>> detector.records_not_scored([{"event_type": "flow"}, {"event_type": "dns"}])
        {1: "a dns event, not a flow record (event_type is not 'flow')"}
        """
        fmt = FORMATS.get(getattr(self, "format_", None) or "")
        if fmt is None or fmt.record_filter is None:
            return {}
        column = fmt.record_filter[0]
        found = {i: fmt.not_a_flow(record[column]) for i, record in enumerate(records)
                 if isinstance(record, dict) and column in record}
        return {i: why for i, why in found.items() if why is not None}

    def transform_table(self, table: Any) -> np.ndarray:
        check_is_fitted(self, ("preprocessor_",))
        renames = column_renames(table.column_names, self.preprocessor_.input_columns_)
        if renames:
            table = table.rename_columns([renames.get(c, c) for c in table.column_names])
        return super().transform_table(table)

    def read_options(self, **overrides: Any) -> ReadOptions:
        """Options to read new data the way the training data was read (labels optional)."""
        fmt = overrides.pop("format", None) or getattr(self, "format_", None)
        return ReadOptions(format=None if fmt == "csv" else fmt,
                           label_column=getattr(self, "label_column_", None),
                           benign_labels=tuple(getattr(self, "benign_labels_", None) or ()),
                           numeric_columns=self.numeric_input_columns(),
                           model_columns=tuple(self.preprocessor_.input_columns_),
                           **overrides)

    def read_input(self, path: str | Path, *, strict: bool = False, format: str | None = None,
                   require_labels: bool = False, capture_label: str | None = None) -> FlowData:
        """Read flows from ``path`` the way the training flows were read; a packet capture (or a
        directory of them) is turned into flows first (portable models only; labels as
        :func:`read_capture_flows` gives them)."""
        portable = getattr(self, "feature_set_", "native") == "portable"
        if holds_captures(path):
            if not portable:
                raise ConfigError("this model was trained on native flow features, which captures do not have",
                                  path=path, hint="train with --feature-set portable to score captures")
            return read_capture_flows(path, strict=strict, labelled=require_labels, capture_label=capture_label,
                                      benign_labels=tuple(self.benign_labels_ or ()))
        if capture_label is not None:
            raise ConfigError("a capture label applies to packet captures", path=path,
                              hint="flow tables carry their labels in a column (--label-column)")
        data = read_flows(path, self.read_options(strict=strict, format=format, require_labels=require_labels,
                                                  allow_empty=True, skip_unreadable=True))
        if portable:
            data.features = to_portable(data.features)
        else:  # CICFlowMeter's columns under another release's spelling
            data.features = align_columns(data.features, self.preprocessor_.input_columns_)
        return data

    def manifest_extra(self) -> dict[str, Any]:
        return {**super().manifest_extra(), "flow_feature_set": getattr(self, "feature_set_", "native"),
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
        detector.feature_set_ = detector.manifest_.get("flow_feature_set", "native")
        return detector


def holds_captures(path: str | Path) -> bool:
    """Whether ``path`` stands for packet captures: a capture, or a folder (searched to the bottom)
    holding captures and no flow table. A CTU-13 scenario's folder holds its Argus flows beside its
    capture: those flows are what it stands for."""
    from .capture import is_capture

    if Path(path).is_dir():
        try:
            list_inputs(path)
            return False
        except InputError:  # no flow table in it
            pass
    return is_capture(path)


def read_capture_flows(path: str | Path, *, strict: bool = False, labelled: bool = False,
                       capture_label: str | None = None, benign_labels: tuple[str, ...] = ()) -> FlowData:
    """The flows of a capture or a folder of captures (see :func:`holds_captures`) as
    :class:`FlowData`: the portable features, and the 5-tuple, times and capture as identifiers.

    Captures carry no labels: where labels are wanted (``labelled``), every flow takes
    ``capture_label``, or else the name of the sub-folder of ``path`` that holds its capture
    (``pcaps/attack/x.pcap`` -> ``attack``); the raw label is the capture's file name, so an
    evaluation reports the share of each capture's flows alerted. ``benign`` and ``normal``
    (in any case) are benign, besides ``benign_labels``."""
    from .capture import extract_flows

    flows = extract_flows([path])
    problems = flows.report.malformed_rows
    if strict and problems:
        first = f"; first: {flows.report.examples[0]}" if flows.report.examples else ""
        raise InputError(f"{problems} malformed packet record(s) (--strict){first}", path=path)
    table = flows.table
    labels = raw = None
    benign = tuple(benign_labels)
    if labelled or capture_label is not None:
        labels = _capture_labels(Path(path), flows.sources, capture_label)
        raw = table["capture"].to_numpy(dtype=object)
        benign += tuple(v for v in dict.fromkeys(labels.tolist()) if is_default_benign(v))
    return FlowData(features=flows.features, labels=labels, raw_labels=raw,
                    ids=np.arange(len(table)), format="capture", benign_labels=benign,
                    report=flows.report, positions=np.arange(len(table)), total_rows=len(table),
                    identifiers=table[IDENTITY + ["capture"]])


def read_training_flows(path: str | Path, options: ReadOptions) -> FlowData:
    """Training flows: :func:`read_flows`, or the flows of packet captures (labelled by the
    sub-folders that hold them where ``options.require_labels``; an autoencoder learns a
    capture of normal traffic without labels). Train on captures' flows with the portable
    feature set: it is all they have."""
    if not holds_captures(path):
        return read_flows(path, options)
    data = read_capture_flows(path, strict=options.strict, labelled=options.require_labels,
                              benign_labels=tuple(options.benign_labels))
    # a kept identifier (the capture, to split by with --group-column) rides along with the features
    by_name = {normalise_name(c): c for c in data.identifiers.columns}
    absent = [k for k in options.keep_columns if normalise_name(k) not in by_name]
    if absent:
        raise InputError(f"column(s) {', '.join(map(repr, absent))} not found", path=path,
                         hint=f"captures' flows have {', '.join(data.identifiers.columns)} besides their features")
    kept = [by_name[normalise_name(k)] for k in options.keep_columns]
    if kept:
        data.features = pd.concat([data.features.reset_index(drop=True), data.identifiers[kept]], axis=1)
    return data


def _capture_labels(root: Path, sources: np.ndarray, label: str | None) -> np.ndarray:
    """Each flow's label: ``label``, or the sub-folder of ``root`` its capture sits in."""
    if label is not None:
        return np.full(len(sources), label, dtype=object)
    if not root.is_dir():
        raise InputError("a capture carries no labels", path=root,
                         hint="give the label of its flows with --label (e.g. attack or benign)")
    names = {}
    for source in dict.fromkeys(sources.tolist()):
        parts = Path(source).relative_to(root).parts
        if len(parts) < 2:
            raise InputError("a capture outside a sub-folder that names its label", path=source,
                             hint=f"put captures in sub-folders of {root} named after their label "
                                  "(attack/, benign/, ...), or give one label with --label")
        names[source] = parts[0]
    return np.array([names[s] for s in sources.tolist()], dtype=object)


def _data_checksum(source: str | Path) -> dict[str, str]:
    """sha256 of every training file, by name (a capture in a sub-folder by its path there)."""
    from ..core.tables import ReadReport
    from .capture import _captures

    root = Path(source)
    if root.is_dir() and holds_captures(root):
        return {str(p.relative_to(root)): sha256_file(p) for p in _captures([root], ReadReport())}
    return {str(p.name): sha256_file(p) for p in list_inputs(source)}


__all__ = ["DetectorConfig", "FlowDetector", "holds_captures", "read_capture_flows", "read_training_flows"]
