import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import synthetic_flows
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


def test_blanks_around_a_category_do_not_make_it_unseen():
    # a CSV written with ", " between fields pads every text value, in training or later
    padded = frame().assign(proto=lambda f: " " + f["proto"] + " ")
    for train, new in ((frame(), padded), (padded, frame())):
        prep = TabularPreprocessor().fit(train)
        assert prep.categories_["proto"] == ["icmp", "tcp", "udp"]
        report = PreprocessingReport()
        np.testing.assert_array_equal(prep.transform(new, report), prep.transform(train))
        assert report.unseen_categories == {}
        records = new.head(3).to_dict("records")
        np.testing.assert_array_equal(prep.transform_records(records), prep.transform(train.head(3)))
        np.testing.assert_array_equal(prep.transform_records(records[:1]), prep.transform(train.head(1)))


def test_a_missing_category_reads_as_an_empty_csv_field_whatever_the_source():
    """A CSV's empty field is the category ''; Parquet's null was read as 'None' or 'nan' and a
    JSON record's null or absent field as 'None': all unseen, so the same table scored
    differently from CSV and from Parquet."""
    from_csv = frame().assign(flag=lambda f: f["flag"].where(f.index % 5 != 0, ""))
    prep = TabularPreprocessor().fit(from_csv)
    assert "" in prep.categories_["flag"]
    expected = prep.transform(from_csv)
    for missing in (None, np.nan):
        as_null = from_csv.assign(flag=from_csv["flag"].astype(object).where(from_csv.index % 5 != 0, missing))
        report = PreprocessingReport()
        np.testing.assert_array_equal(prep.transform(as_null, report), expected)
        assert report.unseen_categories == {}
        np.testing.assert_array_equal(prep.transform_records(as_null.to_dict("records")), expected)
        np.testing.assert_array_equal(prep.transform_records(as_null.head(1).to_dict("records")), expected[:1])
        # trained on the nulls, the model reads an empty field as the same category
        np.testing.assert_array_equal(TabularPreprocessor().fit(as_null).transform(from_csv), expected)
    absent = from_csv.head(1).to_dict("records")[0]
    del absent["flag"]
    np.testing.assert_array_equal(prep.transform_records([absent]), expected[:1])


def test_json_round_trip_is_exact_even_with_sorted_keys():
    prep = TabularPreprocessor().fit(frame())
    text = json.dumps(prep.to_json(), sort_keys=True)  # bundles are written with sorted keys
    again = TabularPreprocessor.from_json(json.loads(text))
    assert again.feature_names_ == prep.feature_names_
    np.testing.assert_array_equal(again.transform(frame()), prep.transform(frame()))


@pytest.mark.parametrize("ple_bins", [0, 4])
def test_every_feature_knows_its_input_field_whatever_the_column_names(ple_bins):
    # names that hold the encoders' own separators ('=' of one-hot columns, '@bin' of bins)
    odd = frame().rename(columns={"bytes": "bytes=sent", "flag": "flag@bin", "rate": "a@bin2=b"})
    prep = TabularPreprocessor(ple_bins=ple_bins).fit(odd)
    fields = prep.feature_fields()
    assert len(fields) == len(prep.feature_names_)
    assert set(fields) == {"proto", "bytes=sent", "flag@bin", "a@bin2=b"}
    assert fields.count("flag@bin") == 4  # SF, S0, REJ and the unknown bucket
    again = TabularPreprocessor.from_json(json.loads(json.dumps(prep.to_json())))
    assert again.feature_fields() == fields


def test_missing_column_is_a_clear_error_and_extra_columns_are_ignored():
    prep = TabularPreprocessor().fit(frame())
    with pytest.raises(InputError, match="missing column.*bytes"):
        prep.transform(frame().drop(columns=["bytes"]))
    extra = frame().assign(surprise=1)
    np.testing.assert_array_equal(prep.transform(extra), prep.transform(frame()))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        TabularPreprocessor().transform(frame())


@pytest.mark.parametrize("ple_bins", [0, 4])
def test_one_record_path_equals_the_frame_path(ple_bins):
    """One record goes through a lean path (service latency); it must give the frame path's
    numbers, including log-scaled, negative, clipped, string-typed, unseen, null and non-finite
    values, with binned features or without, and hand a record missing a field to the general path."""
    train = frame().assign(delta=np.linspace(-1e6, 1e6, 100))
    prep = TabularPreprocessor(ple_bins=ple_bins).fit(train)
    assert prep.log_columns_
    rows = [{"proto": "tcp", "bytes": 10**7, "rate": 0.4, "flag": "SF", "delta": -5e5},
            {"proto": "sctp", "bytes": -3, "rate": 1e12, "flag": "XX", "delta": 0.0},  # unseen, clipped
            {"proto": "udp", "bytes": "1000", "rate": 0.1, "flag": "S0", "delta": -0.0},  # numeric string
            {"proto": "udp", "bytes": True, "rate": 0.1, "flag": "REJ", "delta": 7},
            {"proto": "icmp", "bytes": None, "rate": 0.1, "flag": "SF", "delta": 1},  # null: median
            {"proto": "icmp", "rate": float("inf"), "flag": "SF", "delta": 1},  # absent and inf
            {"bytes": 5, "rate": 0.2, "delta": 2, "extra": "ignored"},  # absent categories
            {"proto": "icmp", "bytes": float("-inf"), "rate": 0.1, "flag": "SF", "delta": 1},
            {"proto": "icmp", "bytes": float("nan"), "rate": 0.1, "flag": "SF", "delta": 1}]
    together = prep.transform_records(rows)
    lean = [prep._transform_one(row) is not None for row in rows]
    assert lean == [True] * 5 + [False, True, True, True]
    for i in (7, 8):  # null, -inf and NaN all take the median
        np.testing.assert_array_equal(together[4], together[i])
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(prep.transform_records([row]), together[i:i + 1])
    # rows 0-4 take the batch fast paths (all keys present, text categories), row 5 does not
    for upto in (4, 5):
        np.testing.assert_array_equal(prep.transform_records(rows[:upto]), together[:upto])
    as_frame = pd.DataFrame([{**r, "bytes": float(r["bytes"])} for r in rows[:4]])
    np.testing.assert_array_equal(together[:4], prep.transform(as_frame))
    with pytest.raises(InputError, match="not a number"):
        prep.transform_records([{**rows[0], "bytes": "lots"}])
    # as flow tools write numbers in text, and as files read them (core.tables.written_number)
    for written in ("10 M", "0x989680"):
        np.testing.assert_array_equal(prep.transform_records([{**rows[0], "bytes": written}]), together[:1])
    # a nested value is no category; it used to be scored as an unseen one, by its Python text
    for batch in ([{**rows[0], "proto": {"name": "tcp"}}], [rows[0], {**rows[1], "proto": ["tcp"]}]):
        with pytest.raises(InputError, match="not a category") as caught:
            prep.transform_records(batch)
        assert caught.value.column == "proto" and caught.value.row == len(batch) - 1
    with pytest.raises(InputError, match="^record 1: a number, not an object$"):
        prep.transform_records([rows[0], 7])


@pytest.mark.parametrize("ple_bins", [0, 4])
def test_the_largest_finite_values_are_clipped_without_a_numpy_warning(ple_bins):
    """A finite 1e308 is a valid number: it is scaled and clipped like any outlier, and numpy's
    overflow on the way (before the clip) is no warning for the user."""
    prep = TabularPreprocessor(ple_bins=ple_bins).fit(frame().assign(delta=np.linspace(-0.01, 0.01, 100)))
    rows = [{"proto": "tcp", "bytes": 5, "rate": 0.1, "flag": "SF", "delta": huge} for huge in (1e308, -1e308)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = [prep.transform_records([row]) for row in rows]
        together = prep.transform(pd.DataFrame(rows))
    np.testing.assert_array_equal(np.vstack(one), together)
    delta = prep.feature_names_.index("delta")
    assert together[0, delta] > 0 > together[1, delta] and np.isfinite(together).all()


def test_arrow_table_path_equals_the_frame_path():
    """CSV request bodies go from Arrow straight to the matrix; same numbers and report as the
    pandas route, with nulls, numeric strings, booleans, huge integers, absent columns and null or
    unseen categories."""
    import pyarrow as pa

    from deepsentry.core.tables import arrow_frame

    prep = TabularPreprocessor().fit(frame())
    table = pa.table({
        "proto": pa.array(["tcp", None, "sctp", "udp"]),
        "bytes": pa.array([2**60, None, 5, -1], pa.int64()),
        "rate": pa.array(["0.5", None, "inf", "1e3"]),
        "surprise": pa.array([True, False, None, True]),
    })  # "flag" is absent
    fast_report, slow_report = PreprocessingReport(), PreprocessingReport()
    fast = prep.transform_table(table, fast_report)
    slow = prep.transform(arrow_frame(table, prep.numeric_columns_), slow_report, fill_missing=True)
    np.testing.assert_array_equal(fast, slow)
    assert fast_report.to_dict() == slow_report.to_dict()
    with pytest.raises(InputError, match="not a number") as caught:
        prep.transform_table(pa.table({"bytes": ["1", "2", "many"], "rate": [1.0, 2.0, 3.0]}))
    assert caught.value.row == 2 and caught.value.column == "bytes"


def test_records_sharing_no_field_with_the_model_are_refused():
    frame = synthetic_flows(200, seed=1).drop(columns="label")
    prep = TabularPreprocessor().fit(frame)
    # a client using other names would otherwise be scored as the training medians
    with pytest.raises(InputError, match="no record has a field the model was trained on") as caught:
        prep.transform_records([{"Duration": 1.0, "Bytes": 2}, {"Duration": 3.0}])
    assert "received: Duration, Bytes" in str(caught.value)
    with pytest.raises(InputError, match="no column of the body"):
        prep.transform_table(pa.table({"Duration": [1.0]}))
    # a field in common is enough: the others are missing values
    first = frame.columns[0]
    assert prep.transform_records([{first: frame[first].iloc[0], "Duration": 1.0}]).shape[0] == 1
    # the explanations' reference row: every field missing
    np.testing.assert_array_equal(prep.baseline(), prep.transform_records([{c: None for c in frame.columns}])[0])


def test_the_hybrid_autoencoder_reconstructs_the_unbinned_columns_only(tmp_path):
    from deepsentry.core.tabular import DetectorConfig, TabularDetector

    data = synthetic_flows(400, seed=5)
    labels = data.pop("label").to_numpy()
    detector = TabularDetector(DetectorConfig(model="hybrid", ple_bins=4, epochs=1, ae_epochs=1, seed=0)).fit(data, labels)
    prep = detector.preprocessor_
    unbinned = prep.unbinned_columns()
    assert [prep.feature_names_[i] for i in unbinned] == [n for n in prep.feature_names_ if "@bin" not in n]
    features = detector.transform(data)
    moved = features.copy()
    binned = [i for i in range(features.shape[1]) if i not in set(unbinned)]
    moved[:, binned] = 1.0 - moved[:, binned]
    for network in (detector.network_, TabularDetector.load(detector.save(tmp_path / "m")).network_):
        from deepsentry.core.networks import run_model

        before, after = run_model(network, features), run_model(network, moved)
        np.testing.assert_array_equal(before["reconstruction_error"], after["reconstruction_error"])
        assert not np.allclose(before["logits"], after["logits"])
