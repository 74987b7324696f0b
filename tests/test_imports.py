"""The tests load the protocol core under one name only.

The integration imports its core relatively, as
``custom_components.linkname.protocol``; the same files are also installed as
the top-level ``linkname`` package (the command).  A test importing both would
get two copies of every module, hence two ``Joined`` classes, and
``isinstance`` checks that fail for no visible reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_linkname(path: Path) -> bool:
    """True when the module imports ``linkname`` (code, not text in strings:
    a script handed to another interpreter may well import it)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "linkname" for alias in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "linkname"
        ):
            return True
    return False


def test_tests_and_benches_import_the_core_as_custom_components() -> None:
    """No test or HA bench module imports ``linkname`` (the packaged name)."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        # The codec, conflicts and ingest benches run standalone, without HA.
        if path.name
        not in {
            "codec.py",
            "conflicts.py",
            "footprint.py",
            "ingest.py",
            "_ingest_rx.py",
        }
        and imports_linkname(path)
    ]
    assert offenders == []


def test_one_joined_class() -> None:
    """The integration and the tests see the same event classes."""
    from custom_components.linkname import coordinator
    from custom_components.linkname.protocol import table

    assert coordinator.Joined is table.Joined
    assert table.__name__ == "custom_components.linkname.protocol.table"
