"""``make bench`` / ``python -m bench [NAME ...]``: run every benchmark (or the named ones) in turn.

Each benchmark runs in its own process so that peak-memory figures are its own.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).parent


def available() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if not m.name.startswith("_")
    )


def run(name: str) -> int:
    print(f"\n=== bench.{name}  (python -m bench {name})", flush=True)
    return subprocess.call([sys.executable, "-c", f"import bench.{name} as b; b.main()"])


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    failures = [name for name in names if run(name) != 0]
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
