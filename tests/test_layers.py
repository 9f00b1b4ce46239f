"""The package's layers: core imports nothing else of deepsentry; each domain (flows, logs,
malware) imports only itself and core, never another domain nor the layers above it (detection,
evaluation, service, cli), which may import any domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import deepsentry

PACKAGE = Path(deepsentry.__file__).parent
ALLOWED = {"core": {"core"}, "flows": {"core", "flows"}, "logs": {"core", "logs"}, "malware": {"core", "malware"}}


def _imported_subpackages(path: Path) -> set[str]:
    """The deepsentry sub-packages a module imports (at any depth: lazy imports count too)."""
    layer = path.relative_to(PACKAGE).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(layer if node.module is None or path.parent != PACKAGE else node.module.split(".")[0])
            elif node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module and node.module.startswith("deepsentry."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("deepsentry."))
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_core_and_the_domains_import_only_what_their_layer_allows(layer):
    offences = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        extra = _imported_subpackages(path) - ALLOWED[layer]
        if extra:
            offences[str(path.relative_to(PACKAGE))] = sorted(extra)
    assert offences == {}


def test_the_check_sees_a_domain_importing_another(tmp_path, monkeypatch):
    module = PACKAGE / "flows" / "readers.py"
    source = module.read_text(encoding="utf-8")
    fake = tmp_path / "deepsentry" / "flows" / "readers.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source + "\nfrom ..logs.formats import LogFormat\n", encoding="utf-8")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "deepsentry")
    assert "logs" in _imported_subpackages(fake)
