"""Fixtures of the NSS module's tests: a fresh build of nss/ per test run.

The module is built with the project's Makefile into a temporary directory
(never into the source tree). Without a C compiler or make the tests skip,
except with CI=true, where they fail (scripts/setup installs what they need).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from tests.netns import fast_lab, lab, link_pair
except ModuleNotFoundError:  # the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.netns import fast_lab, lab, link_pair

__all__ = ["fast_lab", "lab", "link_pair"]

NSS_DIR = Path(__file__).resolve().parents[2] / "nss"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(*tools: str) -> None:
    """Skip unless every tool is on PATH (fail under CI=true)."""
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if absent:
        missing(", ".join(absent))


def missing(what: str) -> None:
    """Skip because ``what`` is not installed (fail under CI=true)."""
    reason = f"needs {what} (scripts/setup installs it as root)"
    if IN_CI:
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def make(build: Path, *targets: str, timeout: float = 300, **env: str) -> str:
    """``make -C nss BUILD=build TARGETS``; the output, or the test fails."""
    result = subprocess.run(
        ["make", "-C", str(NSS_DIR), f"BUILD={build}", *targets],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"make {' '.join(targets)} failed:\n{output}"
    return output


@pytest.fixture(scope="session")
def nss_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build directory with libnss_linkname.so.2 and its test build."""
    need("make", "cc")
    build = tmp_path_factory.mktemp("nss-build")
    make(build, "all", f"{build}/test/libnss_linkname.so.2")
    return build
