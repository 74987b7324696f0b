"""Long libFuzzer run on the NSS module's table parser.

    .venv/bin/python -m bench.nss.fuzz [--seconds 600] [--jobs 1]

``make -C nss fuzz`` (clang, libFuzzer + ASan + UBSan) for the given time,
starting from the corpus in nss/fuzz/corpus; the corpus it grows and any
crash input stay in .cache/bench-nss/fuzz/. Prints libFuzzer's final
statistics and writes .cache/bench/nss-fuzz.json. Exit status 1 when the
fuzzer found a crash, leak or timeout.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from bench._common import ROOT, write

BUILD = ROOT / ".cache" / "bench-nss" / "fuzz"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nss.fuzz")
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    BUILD.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    make = ["make", "-C", str(ROOT / "nss"), f"BUILD={BUILD}", "fuzz"]
    result = subprocess.run(
        [*make, f"FUZZ_TIME={args.seconds}"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    stats = {
        key: float(value) for key, value in re.findall(r"stat::(\w+):\s+(\d+)", output)
    }
    cov = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/", output)
    crashes = sorted(p.name for p in (BUILD / "crashes").glob("*"))
    summary = {
        "seconds": args.seconds,
        "elapsed": round(elapsed, 1),
        "exit_status": result.returncode,
        "crashes": crashes,
        "stats": stats,
        "final_coverage": dict(
            zip(("cov", "ft", "corpus"), map(int, cov[-1]), strict=True)
        )
        if cov
        else {},
        "corpus_files": len(list((BUILD / "corpus").glob("*"))),
    }
    print(output[-3000:])
    print(summary)
    write("nss-fuzz", summary)
    return 0 if result.returncode == 0 and not crashes else 1


if __name__ == "__main__":
    sys.exit(main())
