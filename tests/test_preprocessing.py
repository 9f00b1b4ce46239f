import json

import numpy as np
import pandas as pd
import pytest

from deepsentry.core.errors import InputError, NotFittedError
from deepsentry.core.preprocessing import PreprocessingReport, TabularPreprocessor


def frame():
    return pd.DataFrame({
        "proto": ["tcp", "udp", "tcp", "icmp"] * 25,
        "bytes": [1, 10, 1000, 10**7] * 25,
        "const": [5] * 100,
        "rate": [0.1, np.nan, np.inf, 0.4] * 25,
        "flag": ["SF", "S0", "REJ", "SF"] * 25,
    })


def test_fit_transform_shapes_and_report():
    prep = TabularPreprocessor().fit(frame())
    assert "const" in prep.constant_columns_ and "const" not in prep.numeric_columns_
    assert "bytes" in prep.log_columns_
    assert prep.fit_report_.missing == {"rate": 50}  # 25 NaN + 25 inf
    assert prep.fit_report_.infinite == {"rate": 25}
    out = prep.transform(frame())
    assert out.dtype == np.float32 and out.shape == (100, len(prep.feature_names_))
    assert np.isfinite(out).all()


def test_unseen_category_goes_to_unknown_bucket():
    prep = TabularPreprocessor().fit(frame())
    new = frame().head(2).copy()
    new["proto"] = ["sctp", "tcp"]
    report = PreprocessingReport()
    out = prep.transform(new, report)
    unknown = prep.feature_names_.index("proto=<unknown>")
    assert out[0, unknown] == 1.0 and out[1, unknown] == 0.0
    assert report.unseen_categories == {"proto": 1}


def test_json_round_trip_is_exact_even_with_sorted_keys():
    prep = TabularPreprocessor().fit(frame())
    text = json.dumps(prep.to_json(), sort_keys=True)  # bundles are written with sorted keys
    again = TabularPreprocessor.from_json(json.loads(text))
    assert again.feature_names_ == prep.feature_names_
    np.testing.assert_array_equal(again.transform(frame()), prep.transform(frame()))


def test_missing_column_is_a_clear_error_and_extra_columns_are_ignored():
    prep = TabularPreprocessor().fit(frame())
    with pytest.raises(InputError, match="missing column.*bytes"):
        prep.transform(frame().drop(columns=["bytes"]))
    extra = frame().assign(surprise=1)
    np.testing.assert_array_equal(prep.transform(extra), prep.transform(frame()))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        TabularPreprocessor().transform(frame())
