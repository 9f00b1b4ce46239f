import json
import zipfile

import pytest

from deepsentry.core.bundle import FORMAT_VERSION, read_bundle, write_bundle
from deepsentry.core.errors import BundleError


def make(tmp_path, name="b"):
    return write_bundle(tmp_path / name, kind="flows", files={"preprocessing.json": {"a": 1}},
                        binary_writers={"model.keras": lambda p: p.write_bytes(b"\x00weights\x01")},
                        manifest_extra={"threshold": 0.5})


def test_round_trip_records_versions_and_checksums(tmp_path):
    path = make(tmp_path)
    contents = read_bundle(path, kind="flows")
    manifest = contents.manifest
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["files"]) == {"preprocessing.json", "model.keras"}
    assert "numpy" in manifest["packages"] and manifest["threshold"] == 0.5
    assert contents.read_json("preprocessing.json") == {"a": 1}


def test_tampered_file_is_refused(tmp_path):
    path = make(tmp_path)
    (path / "preprocessing.json").write_text('{"a": 2}')
    with pytest.raises(BundleError, match="preprocessing.json does not match its checksum"):
        read_bundle(path)


def test_truncated_model_is_refused(tmp_path):
    path = make(tmp_path)
    data = (path / "model.keras").read_bytes()
    (path / "model.keras").write_bytes(data[:3])
    with pytest.raises(BundleError, match="model.keras"):
        read_bundle(path)


@pytest.mark.parametrize("damage", ["missing_manifest", "bad_json", "version", "missing_file", "kind"])
def test_corrupt_bundles_fail_clearly(tmp_path, damage):
    path = make(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    if damage == "missing_manifest":
        (path / "manifest.json").unlink()
        match = "manifest.json is missing"
    elif damage == "bad_json":
        (path / "manifest.json").write_text("{not json")
        match = "not valid JSON"
    elif damage == "version":
        manifest["format_version"] = 99
        (path / "manifest.json").write_text(json.dumps(manifest))
        match = "format version 99 is not supported"
    elif damage == "missing_file":
        (path / "model.keras").unlink()
        match = "model.keras listed in the manifest is missing"
    else:
        match = "expected 'logs'"
    with pytest.raises(BundleError, match=match):
        read_bundle(path, kind="logs" if damage == "kind" else None)


def test_zip_bundles_and_hostile_zips(tmp_path):
    path = write_bundle(tmp_path / "m.zip", kind="flows", files={"x.json": [1]})
    contents = read_bundle(path)
    assert contents.read_json("x.json") == [1]
    contents.close()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.json", "{}")
    with pytest.raises(BundleError, match="unexpected member"):
        read_bundle(evil)
    # `zip -r nsl.zip models/nsl` keeps the bundle under its folder (and macOS adds __MACOSX/)
    folder = write_bundle(tmp_path / "models" / "nsl", kind="flows", files={"x.json": [1]})
    zipped = tmp_path / "nsl.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("nsl/", "")
        for file in folder.iterdir():
            archive.write(file, f"nsl/{file.name}")
        archive.writestr("__MACOSX/nsl/._x.json", "")
    contents = read_bundle(zipped)
    assert contents.read_json("x.json") == [1]
    contents.close()
    with zipfile.ZipFile(zipped, "a") as archive:
        archive.writestr("other/x.json", "[2]")  # a second folder: not one bundle's
    with pytest.raises(BundleError, match="unexpected member"):
        read_bundle(zipped)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for file in folder.iterdir():
            archive.writestr(f"nsl/{file.name}", "[2]" if file.name == "x.json" else file.read_bytes())
    with pytest.raises(BundleError, match=f"^{tampered}: file x.json does not match") as caught:  # not its copy
        read_bundle(tampered)
    assert "deepsentry-bundle-" not in str(caught.value)
    not_zip = tmp_path / "junk.bin"
    not_zip.write_bytes(b"junk")
    with pytest.raises(BundleError, match="not a bundle"):
        read_bundle(not_zip)
    with pytest.raises(BundleError, match="no such model bundle"):
        read_bundle(tmp_path / "absent")
    # a file of a bundle, or the folder that holds bundles, given for the bundle: which one to give
    with pytest.raises(BundleError, match=f"is a file of the model bundle {folder}, not a bundle"):
        read_bundle(folder / "x.json")
    with pytest.raises(BundleError, match=f"not a model bundle; it holds nsl \\(give one of them, e.g. {folder}\\)"):
        read_bundle(tmp_path / "models")


def test_out_that_holds_something_else_is_never_replaced(tmp_path):
    # a bundle is replaced whole: 'train --out ~/Documents' must not delete the documents
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    with pytest.raises(BundleError, match="exists and is not a model bundle; it is not replaced"):
        write_bundle(folder, kind="test", files={"a.json": {"x": 1}})
    assert (folder / "todo.txt").read_text() == "keep me"
    plain = tmp_path / "data.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("data.csv", "a,b\n")
    with pytest.raises(BundleError, match="not a model bundle"):
        write_bundle(plain, kind="test", files={"a.json": {"x": 1}})
    # an empty directory, an earlier bundle (directory or zip) are replaced
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "b", tmp_path / "b", tmp_path / "c.zip", tmp_path / "c.zip"):
        write_bundle(target, kind="test", files={"a.json": {"x": 2}})
        assert read_bundle(target, kind="test").read_json("a.json") == {"x": 2}
    from deepsentry.cli import main

    assert main(["train", "flows", "--data", str(tmp_path / "missing.csv"), "--out", str(folder)]) == 4
    assert (folder / "todo.txt").exists()
