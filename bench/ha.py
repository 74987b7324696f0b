"""Run the Home Assistant benches (pytest files in bench/, run explicitly).

    .venv/bin/python -m bench.ha latency    # bench/test_ha_latency.py
    .venv/bin/python -m bench.ha scale      # bench/test_ha_scale.py

Extra arguments go to pytest.  Results are printed and written as JSON
under .cache/bench/.
"""

from __future__ import annotations

import sys

import pytest

from bench._common import ROOT

FILES = {"latency": "test_ha_latency.py", "scale": "test_ha_scale.py"}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in FILES:
        print(__doc__)
        return 2
    path = ROOT / "bench" / FILES[sys.argv[1]]
    return int(pytest.main([str(path), "-q", "-s", "-p", "no:randomly", *sys.argv[2:]]))


if __name__ == "__main__":
    sys.exit(main())
