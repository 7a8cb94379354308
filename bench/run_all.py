"""Run every benchmark in turn and print its figures (`make bench`). Not a test.

Each bench prints its own numbers with the target and, where a peer exists, the peer's figure
from the same run (peers need the venv described in ../shared/peers/README.md). Pass names to
run a subset: `uv run python bench/run_all.py engine_throughput idle_footprint`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "engine_trigger_latency",
    "engine_throughput",
    "engine_log_capture",
    "scheduler_tick_cost",
    "scheduler_dst_tick",
    "scheduler_slot_latency",
    "live_ws_latency",
    "api_list_cost",
    "api_soak",
    "retention_cost",
    "idle_footprint",
]


def main() -> int:
    chosen = sys.argv[1:] or BENCHES
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        print(f"unknown bench: {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent)
        print(f"--- {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nbenches that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
