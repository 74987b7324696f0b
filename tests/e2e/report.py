"""What the end-to-end suite measured: step latencies and rejected packets.

The tests record into :data:`REPORT`; the suite's ``conftest`` prints it as a
table at the end of the run and writes it as JSON to
``.cache/e2e/measurements.json`` (for benchmarks).
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
JSON_PATH = REPO / ".cache" / "e2e" / "measurements.json"


@dataclass
class Step:
    """One measured step: how long it took, and the limit it had to meet."""

    name: str
    seconds: float
    limit: float | None = None


@dataclass
class Report:
    """Everything measured in this run."""

    steps: list[Step] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    facts: dict[str, Any] = field(default_factory=dict)
    started: float | None = None

    def step(self, name: str, seconds: float, limit: float | None = None) -> float:
        """Record a latency (seconds); returns it for the assertion."""
        self.steps.append(Step(name, seconds, limit))
        return seconds

    def reject(self, counts: Mapping[str, int]) -> None:
        """Add rejected-packet counts (by reason) seen by Home Assistant."""
        self.rejected.update({k: v for k, v in counts.items() if v})

    def fact(self, name: str, value: Any) -> None:
        """Record another measurement (rates, counts)."""
        self.facts[name] = value

    @property
    def empty(self) -> bool:
        """Nothing was recorded (the suite did not run)."""
        return not (self.steps or self.rejected or self.facts)

    def lines(self) -> list[str]:
        """The summary table as text lines."""
        width = max([len(s.name) for s in self.steps] + [30])
        out = [f"{'step':<{width}}  {'seconds':>8}  {'limit':>6}"]
        for s in self.steps:
            limit = f"{s.limit:g}" if s.limit is not None else "-"
            out.append(f"{s.name:<{width}}  {s.seconds:8.3f}  {limit:>6}")
        if self.rejected:
            out += [
                "",
                f"{'packets rejected by Home Assistant':<{width}}  {'count':>8}",
            ]
            for reason, count in sorted(self.rejected.items()):
                out.append(f"  {reason:<{width - 2}}  {count:8d}")
        if self.facts:
            out.append("")
            out += [f"{name}: {value}" for name, value in self.facts.items()]
        return out

    def write_json(self, path: Path = JSON_PATH) -> Path:
        """Write the measurements as JSON; returns the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "suite": "tests/e2e",
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.monotonic() - self.started, 3)
            if self.started is not None
            else None,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "steps": [
                {"name": s.name, "seconds": round(s.seconds, 4), "limit": s.limit}
                for s in self.steps
            ],
            "rejected": dict(sorted(self.rejected.items())),
            "facts": self.facts,
        }
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


REPORT = Report()
