"""What every bench shares: the machine description, statistics, JSON output."""

from __future__ import annotations

import importlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / ".cache" / "bench"
CORE = "custom_components/linkname/protocol"


def machine() -> dict[str, Any]:
    """Machine, kernel, Python and Home Assistant versions, load at start."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        from homeassistant.const import __version__ as ha_version
    except ImportError:
        ha_version = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "homeassistant": ha_version,
        "loadavg": os.getloadavg(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def command() -> str:
    """The command line that ran this bench (as typed from the repository)."""
    return " ".join([Path(sys.executable).name, *sys.orig_argv[1:]])


def summary(values: list[float]) -> dict[str, float]:
    """Median, minimum, maximum and quartiles of a list of measurements."""
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else ordered * 3
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "min": ordered[0],
        "q1": q[0],
        "q3": q[2],
        "max": ordered[-1],
    }


def percentiles(values: list[float], points: tuple[int, ...]) -> dict[str, float]:
    """Nearest-rank percentiles (p50, p95, ...) plus min and max."""
    ordered = sorted(values)
    out = {"n": float(len(ordered)), "min": ordered[0], "max": ordered[-1]}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n)
        out[f"p{p}"] = ordered[rank - 1]
    return out


def write(name: str, result: dict[str, Any]) -> Path:
    """Write ``.cache/bench/NAME.json`` (with the machine and command)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    payload = {"bench": name, "command": command(), "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def export_core(ref: str) -> Path:
    """The protocol core as it was at git ``ref``: ``DIR/linkname``; returns DIR.

    Put DIR first on PYTHONPATH (it wins over the editable install) to run
    that version, or use :func:`import_core` to load it beside this one.
    """
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = OUT_DIR / f"core-{commit}"
    package = dest / "linkname"
    if not package.exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, CORE],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest / "tree", filter="data")
        (dest / "tree" / CORE).rename(package)
    return dest


def import_core(ref: str, module: str) -> ModuleType:
    """Module ``module`` (e.g. "codec") of the core at ``ref``, importable
    beside the current one (as package ``linkname_<commit>``)."""
    dest = export_core(ref)
    name = f"linkname_{dest.name.removeprefix('core-')}"
    if name not in sys.modules:
        package = ModuleType(name)
        package.__path__ = [str(dest / "linkname")]
        sys.modules[name] = package
    return importlib.import_module(f"{name}.{module}")
