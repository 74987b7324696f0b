"""A short libFuzzer run on the table parser (the long one: bench/nss_fuzz.py).

Starts from the corpus in nss/fuzz/corpus; the inputs it finds stay in the
temporary build directory. Any crash, leak, sanitizer report or timeout
fails the test, and the failing input is printed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .conftest import NSS_DIR, missing, need

FUZZ_SECONDS = int(os.environ.get("LINKNAME_FUZZ_SECONDS", "30"))


def test_fuzz_the_table_parser(tmp_path: Path) -> None:
    need("make", "clang")
    command = ["make", "-C", str(NSS_DIR), f"BUILD={tmp_path}", "fuzz"]
    result = subprocess.run(
        [*command, f"FUZZ_TIME={FUZZ_SECONDS}"],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 240,
        check=False,
    )
    output = result.stdout + result.stderr
    built = (tmp_path / "fuzz-table").exists()
    if not built and "cannot find" in output and "libclang_rt" in output:
        missing("the libFuzzer runtime (Debian package libclang-rt-dev)")
    crashes = sorted((tmp_path / "crashes").glob("*"))
    assert not crashes, f"inputs {[c.read_bytes() for c in crashes]}\n{output[-4000:]}"
    assert result.returncode == 0, output[-4000:]
    runs = re.search(r"stat::number_of_executed_units: (\d+)", output)
    assert runs, output[-2000:]
    assert int(runs.group(1)) > 10_000  # it really ran
    assert "Done" in output
