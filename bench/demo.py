"""Wall time of ``make demo``: the whole load of N generated opportunities through Dagster.

Command: ``uv run python -m bench demo`` (``BENCH_DEMO_ROWS`` overrides 2,000,000 rows). Runs
``python -m orchestration.demo --records N`` exactly as ``make demo`` does, on a fresh machine state
(new emulator data directory and DAGSTER_HOME in a temporary folder), and prints the wall time,
the part spent generating data and starting the emulator, the load itself, and rows/s.
Target: under 3 minutes for 2M rows on 2 cores. Prints figures, asserts nothing.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 180.0


def main() -> None:
    rows = int(os.environ.get("BENCH_DEMO_ROWS", "2000000"))
    with tempfile.TemporaryDirectory(prefix="sfload-bench-demo-") as tmp:
        command = [
            sys.executable,
            "-m",
            "orchestration.demo",
            "--records",
            str(rows),
            "--data-dir",
            str(Path(tmp) / "emulator"),
        ]
        env = {**os.environ, "DAGSTER_HOME": str(Path(tmp) / "dagster_home")}
        print(f"command: make demo RECORDS={rows}  (= {' '.join(command[1:4])} {rows})", flush=True)
        started = time.monotonic()
        demo = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
    out = demo.stdout + demo.stderr
    ready = re.search(r"Emulator ready at \S+ \((\d+)s\)", out)
    loaded = re.search(r"([\d,]+) rows read in ([\d.]+)s", out)
    print(f"exit code:              {demo.returncode}")
    print(f"rows:                   {rows:,}")
    print(
        f"wall time:              {wall:.1f} s  (target < {TARGET_S:.0f} s: "
        f"{'met' if wall < TARGET_S and demo.returncode == 0 else 'NOT met'})"
    )
    if ready:
        print(f"  generate + start:     {int(ready.group(1))} s")
    if loaded:
        read, seconds = int(loaded.group(1).replace(",", "")), float(loaded.group(2))
        print(f"  load + checks:        {seconds:.1f} s ({read / seconds:,.0f} rows/s)")
    print(f"overall rows/s:         {rows / wall:,.0f}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"CPU of the demo's processes (reaped): {children.ru_utime + children.ru_stime:.1f} s")
    if demo.returncode != 0:
        print("demo output (tail):")
        print("\n".join(out.strip().splitlines()[-30:]))


if __name__ == "__main__":
    main()
