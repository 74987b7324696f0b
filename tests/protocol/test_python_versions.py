"""The core and the `linkname` command run on Python >= 3.11, not only 3.14.

Users install the command on Debian 12 / Raspberry Pi OS bookworm (3.11).
This runs the real package with every older interpreter found on the
machine: every module imports and `linkname --version` works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import custom_components.linkname.protocol as linkname

PACKAGE = Path(linkname.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__main__")


def older_pythons() -> list[str]:
    """Interpreters of Python 3.11 to 3.13 available here (by real path)."""
    found: dict[str, str] = {}
    names = ["python3.11", "python3.12", "python3.13", "python3"]
    candidates = [shutil.which(n) for n in names] + ["/usr/bin/python3"]
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates += [str(p / "bin" / "python3") for p in sorted(pyenv.glob("3.1[123].*"))]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        version = probe.stdout.strip()
        if probe.returncode == 0 and version in {"3.11", "3.12", "3.13"}:
            found.setdefault(version, candidate)
    return [found[v] for v in sorted(found)]


PYTHONS = older_pythons()


def test_an_older_python_is_checked_in_ci() -> None:
    """CI machines have Debian's or pyenv's 3.11: the check must not vanish."""
    if not PYTHONS:
        if os.environ.get("CI") == "true":
            pytest.fail("no Python 3.11-3.13 found to check the core with")
        pytest.skip("no Python 3.11-3.13 on this machine")
    assert sys.version_info >= (3, 14)


@pytest.mark.parametrize("python", PYTHONS)
def test_core_and_command_run_on_older_python(python: str, tmp_path: Path) -> None:
    """Import every module and run `python -m linkname --version`."""
    (tmp_path / "linkname").symlink_to(PACKAGE, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    imports = "; ".join(f"import linkname.{m}" for m in MODULES)
    result = subprocess.run(
        [python, "-c", imports], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [python, "-m", "linkname", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert linkname.__version__ in result.stdout
