"""Versioned model bundles: a directory (or a zip of one) that holds everything a detector needs.

Layout::

    model.keras           Keras network(s), loaded with safe_mode=True
    preprocessing.json    fitted preprocessing (plain JSON)
    thresholds.json       operating threshold and the rule that chose it
    manifest.json         format version, package versions, features, data checksum, metrics,
                          and the sha256 of every other file (tamper check)

No pickle is written or read. :func:`read_bundle` verifies every checksum before anything is loaded,
so a truncated, corrupt or edited bundle fails with a :class:`BundleError` that names the file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import BundleError
from .tables import check_writable

FORMAT_NAME = "deepsentry-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_PACKAGES = ("deepsentry", "keras", "tensorflow", "tensorflow-cpu", "jax", "numpy", "pandas",
             "scikit-learn", "onnxruntime")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide how a bundle is read, for the manifest."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class BundleContents:
    """What :func:`read_bundle` hands back: the verified manifest and the directory to read from."""

    manifest: dict[str, Any]
    directory: Path
    _tempdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def path(self, name: str) -> Path:
        if name not in self.manifest["files"]:
            raise BundleError(f"bundle has no file {name!r}", path=self.directory)
        return self.directory / name

    def read_json(self, name: str) -> Any:
        file = self.path(name)
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"not valid JSON ({exc})", path=file) from None

    def close(self) -> None:
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def write_bundle(
    path: str | os.PathLike[str],
    *,
    kind: str,
    files: dict[str, Any],
    binary_writers: dict[str, Any] | None = None,
    manifest_extra: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a bundle directory (or ``.zip``) at ``path``.

    ``files`` maps a file name to a JSON-able object; ``binary_writers`` maps a file name to a
    callable that writes that file given its path (for ``model.keras``). The manifest records the
    sha256 of each file.
    """
    target = Path(path)
    as_zip = target.suffix == ".zip"
    if target.exists() and not overwrite:
        raise BundleError("already exists", path=target, hint="remove it or choose another --out")
    check_bundle_target(target)
    work = Path(tempfile.mkdtemp(prefix=".deepsentry-", dir=target.parent if target.parent.exists() else None))
    try:
        for name, obj in files.items():
            (work / name).write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n",
                                     encoding="utf-8")
        for name, writer in (binary_writers or {}).items():
            writer(work / name)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "packages": package_versions(),
            "files": {p.name: sha256_file(p) for p in sorted(work.iterdir())},
            **(manifest_extra or {}),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n",
                                     encoding="utf-8")
        if as_zip:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp_zip = work.with_suffix(".zip")
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in sorted(work.iterdir()):
                    archive.write(file, file.name)
            os.replace(tmp_zip, target)
        else:
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def check_bundle_target(path: str | os.PathLike[str]) -> None:
    """Refuse a ``--out`` that holds something other than a bundle: writing replaces the old
    bundle whole, so anything else there would be deleted with it. Called before training too,
    so the refusal comes before the work."""
    target = Path(path)
    if target.exists() and not _is_replaceable(target):
        raise BundleError("exists and is not a model bundle; it is not replaced", path=target,
                          hint="choose a new or empty directory for --out")
    check_writable(target.absolute().parent, directory=True)  # the bundle is written beside, then moved in


def _is_replaceable(target: Path) -> bool:
    """An empty directory, or a bundle written by deepsentry (directory or zip)."""
    try:
        if target.is_dir():
            if not any(target.iterdir()):
                return True
            manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        elif zipfile.is_zipfile(target):
            with zipfile.ZipFile(target) as archive:
                manifest = json.loads(archive.read(MANIFEST))
        else:
            return False
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME


def add_file(path: str | os.PathLike[str], name: str, writer: Any) -> None:
    """Add (or replace) one file in an existing bundle directory and re-sign the manifest."""
    contents = read_bundle(path)
    try:
        if contents._tempdir is not None:
            raise BundleError("cannot add files to a zipped bundle; unzip it first", path=path)
        writer(contents.directory / name)
        manifest = contents.manifest
        manifest["files"][name] = sha256_file(contents.directory / name)
        (contents.directory / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    finally:
        contents.close()


def _bundle_members(archive: zipfile.ZipFile, source: Path) -> dict[str, zipfile.ZipInfo]:
    """A zipped bundle's files by their names in the bundle. Bundles are flat; a zip of the bundle's
    folder (``zip -r nsl.zip models/nsl``) holds them under that one folder, which is dropped, and
    macOS's ``__MACOSX/`` metadata is passed over. Anything else is refused rather than extracted."""
    members = [m for m in archive.infolist() if not m.filename.startswith("__MACOSX/")]
    files = [m for m in members if not m.is_dir()]
    folders = {m.filename.split("/", 1)[0] for m in files}
    prefix = ""
    if len(folders) == 1 and all("/" in m.filename for m in files):
        prefix = folders.pop() + "/"
    named = {}
    for member in members:
        if member.filename == prefix:
            continue
        name = member.filename[len(prefix):]
        if not name or "/" in name or "\\" in name or name.startswith(".") or prefix.startswith("."):
            raise BundleError(f"unexpected member {member.filename!r} in zip", path=source)
        named[name] = member
    return named


def _check_not_beside_a_bundle(source: Path) -> None:
    """A file of a bundle, or a folder of bundles, given for the bundle: say which one to give."""
    if source.is_file() and (source.parent / MANIFEST).is_file():
        raise BundleError(f"is a file of the model bundle {source.parent}, not a bundle", path=source,
                          hint=f"give the bundle's directory: {source.parent}")
    if source.is_dir() and not (source / MANIFEST).exists():
        inner = sorted(p.name for p in source.iterdir() if (p / MANIFEST).is_file())
        if inner:
            raise BundleError("not a model bundle; it holds " + ", ".join(inner[:5]) + (", ..." if len(inner) > 5
                              else ""), path=source, hint=f"give one of them, e.g. {source / inner[0]}")


def read_bundle(path: str | os.PathLike[str], *, kind: str | None = None) -> BundleContents:
    """Open a bundle, check its format version and every file's checksum, and return its contents."""
    source = Path(path)
    tempdir = None
    if not source.exists():
        raise BundleError("no such model bundle", path=source)
    _check_not_beside_a_bundle(source)
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise BundleError("not a bundle directory or zip file", path=source)
        tempdir = tempfile.TemporaryDirectory(prefix="deepsentry-bundle-")
        try:
            with zipfile.ZipFile(source) as archive:
                for name, member in _bundle_members(archive, source).items():
                    with archive.open(member) as packed, open(Path(tempdir.name) / name, "wb") as out:
                        shutil.copyfileobj(packed, out)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            tempdir.cleanup()
            raise BundleError(f"corrupt zip ({exc})", path=source) from None
        except BundleError:
            tempdir.cleanup()
            raise
        directory = Path(tempdir.name)
    else:
        directory = source
    try:
        manifest = _verified_manifest(directory, kind)
    except BundleError as exc:
        if tempdir is not None:
            tempdir.cleanup()
            if exc.path is not None and exc.path.startswith(tempdir.name):  # name the zip, not its unpacked copy
                raise exc.relocated(exc.path, str(source) + exc.path[len(tempdir.name):]) from None
        raise
    return BundleContents(manifest=manifest, directory=directory, _tempdir=tempdir)


def _verified_manifest(directory: Path, kind: str | None) -> dict[str, Any]:
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise BundleError("not a model bundle: manifest.json is missing", path=directory)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"manifest is not valid JSON ({exc})", path=manifest_path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError("not a deepsentry bundle manifest", path=manifest_path)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version!r} is not supported (this deepsentry reads {FORMAT_VERSION})",
            path=manifest_path,
        )
    if kind is not None and manifest.get("kind") != kind:
        raise BundleError(f"bundle holds a {manifest.get('kind')!r} model, expected {kind!r}", path=directory)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError("manifest lists no files", path=manifest_path)
    for name, expected in files.items():
        if Path(name).name != name:
            raise BundleError(f"manifest names a file outside the bundle: {name!r}", path=manifest_path)
        file = directory / name
        if not file.is_file():
            raise BundleError(f"file {name} listed in the manifest is missing", path=directory)
        if sha256_file(file) != expected:
            raise BundleError(
                f"file {name} does not match its checksum in manifest.json",
                path=directory,
                hint="the bundle is corrupt or was modified after it was written",
            )
    return manifest
