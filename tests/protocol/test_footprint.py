"""The command's import graph stays lean (issue 10 §7: RSS <= 20 MiB).

Measured on the idle daemon (two interfaces, 100 neighbours), these modules
cost resident memory for nothing the daemon does without a key:

- ``ssl`` (imported by asyncio) maps libssl and libcrypto: ~3.5 MiB;
- ``hashlib``, ``hmac`` and ``secrets`` (secrets imports hmac) map
  libcrypto: ~2.5 MiB.

A fresh interpreter runs the command's entry point the way the console
script does (``linkname.cli.main``), including ``asyncio.run`` and the
control-socket client, and reports ``sys.modules``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("ssl", "_ssl", "hashlib", "_hashlib", "hmac", "secrets")

PROBE = """
import sys
from linkname.cli import main
rc = main(["status", "--runtime-dir", sys.argv[1]])
print(repr((rc, sorted(sys.modules))))
import ssl  # the block of linkname._lean is gone again
print(repr(ssl.PROTOCOL_TLS_CLIENT is not None))
"""


def _uncovered_env() -> dict[str, str]:
    """The environment without pytest-cov's subprocess measurement: coverage
    started in the child imports hashlib itself."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COV_CORE_", "COVERAGE_PROCESS_"))
    }


def _probe(tmp_path: Path) -> tuple[int, list[str], bool]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "no-daemon")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_uncovered_env(),
    ).stdout.splitlines()
    rc, modules = ast.literal_eval(out[0])
    return rc, modules, ast.literal_eval(out[1])


def test_command_does_not_import_ssl_or_openssl_hashes(tmp_path: Path) -> None:
    rc, modules, ssl_later = _probe(tmp_path)
    assert rc == 3  # status: no daemon -- asyncio.run and the client did run
    assert "asyncio" in modules
    assert "linkname.daemon" in modules
    assert [m for m in HEAVY if m in modules] == []
    assert ssl_later  # ssl still imports for whoever needs it later


def test_lean_leaves_a_process_with_asyncio_alone() -> None:
    code = (
        "import asyncio, sys, linkname.cli\n"
        "import asyncio.sslproto as p\n"
        "print(p.ssl is not None, 'ssl' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == ["True", "True"]
