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


# -- names: every Python agrees on which text is valid and on name keys ---------

# Run by each interpreter with the package on its path: a digest of what the
# names module says about every code point and a few hard strings.
_NAMES_PROBE = r"""
import hashlib, json, sys, unicodedata
from linkname import names
h = hashlib.sha256()
allowed = 0
for code in range(0x110000):
    char = chr(code)
    if names.char_allowed(char):
        allowed += 1
        forms = (
            unicodedata.normalize("NFC", char),
            unicodedata.normalize("NFKC", char),
            char.casefold(),
            names.name_key(char),
            str(names.text_problem(char)),
        )
        line = "%x\0" % code + "\0".join(forms) + "\1"
        h.update(line.encode("utf-8", "surrogatepass"))
samples = json.loads(sys.stdin.read())
print(json.dumps({
    "unicode": unicodedata.unidata_version,
    "allowed": allowed,
    "digest": h.hexdigest(),
    "problems": [names.name_problem(s) for s in samples],
    "keys": [names.name_key(s) for s in samples],
}))
"""

# Names whose validity or key could differ between Unicode versions if the
# rules leaned on the interpreter's database: characters assigned after
# Unicode 14.0 (3.11), invisible ones, composed/decomposed pairs.
NAME_SAMPLES = [
    "pi",
    "Kitchen Pi",
    "\u0390",
    "\u03aa\u0301",
    "\u1e9e",  # LATIN CAPITAL LETTER SHARP S
    "Stra\u00dfe",
    "\uff2b\uff29\uff34",
    "\u3164",
    "p\u034fi",
    "pi\ufe0f",
    "\u2800",
    "p\u200bi",
    "\U0001fae8",  # Unicode 15.0 (Python 3.12)
    "\U0001fa89",  # Unicode 15.0
    "\U00031350",  # Unicode 15.0 (CJK extension H)
    "\u0cf3",  # Unicode 15.0 (Kannada)
    "\U0001fac8",  # Unicode 16.0 (Python 3.14)
    "\u1c89",  # Unicode 16.0 (Cyrillic TJE)
    "\u0897",  # Unicode 16.0 (Arabic pepet)
    "\uac00\u11a8",  # Hangul LV + T (composes)
    "\u1100\u1161",  # Hangul L + V (composes)
    "a\u0328\u0301",  # ordering of combining marks
    "\u2126",  # OHM SIGN (NFC: omega)
    "\u01c4",
    "\ufb01",
    "a\uff0eb",
    "\uac01",  # the NFC of the Hangul pair above
    "\u0105\u0301",  # NFC of a, ogonek, acute
    "\u00c5ngstr\u00f6m",
    "\u0915\u094d\u0937",  # Devanagari conjunct
    "\u65e5\u672c\u8a9e",
    "\U0001f642 pi",
]


def _names_report(python: str, tmp_path: Path) -> dict[str, object]:
    import json

    tmp_path.mkdir()
    (tmp_path / "linkname").symlink_to(PACKAGE, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [python, "-c", _NAMES_PROBE],
        input=json.dumps(NAME_SAMPLES),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("python", PYTHONS)
def test_names_agree_with_this_python(python: str, tmp_path: Path) -> None:
    """Validity and name keys are the same on 3.11..3.13 as on this 3.14,
    code point by code point and for strings that mix Unicode versions."""
    theirs = _names_report(python, tmp_path / "theirs")
    ours = _names_report(sys.executable, tmp_path / "ours")
    assert theirs["unicode"] != ours["unicode"]  # a real cross-version check
    assert theirs["allowed"] == ours["allowed"]
    assert theirs["problems"] == ours["problems"]
    assert theirs["digest"] == ours["digest"]
    # Keys of valid names agree (those of invalid names need not: they are
    # never stored, and a newer database folds characters an older lacks).
    valid = [i for i, p in enumerate(ours["problems"]) if p is None]  # type: ignore[arg-type]
    assert len(valid) >= 10
    assert [theirs["keys"][i] for i in valid] == [ours["keys"][i] for i in valid]  # type: ignore[index]


def test_repertoire_module_is_what_the_generator_makes_with_unicode_14() -> None:
    """scripts/gen_repertoire.py --check with Python 3.11 (Unicode 14.0.0)."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_repertoire.py"
    for python in PYTHONS:
        probe = subprocess.run(
            [python, "-c", "import unicodedata; print(unicodedata.unidata_version)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "14.0.0":
            break
    else:
        # Debian 13 has no 3.11; test_names_agree_with_this_python still
        # compares the table's behaviour across the Pythons it has.
        pytest.skip("no Python with Unicode 14.0.0 (3.11) to regenerate the table")
    result = subprocess.run(
        [python, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
