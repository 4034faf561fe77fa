"""``python -m benchmarks.realworld``: (re)make the benchmark's venv, then run inside it."""

from __future__ import annotations

import sys

from benchmarks.realworld.venv import in_benchmark_venv, reexec

if __name__ == "__main__":
    if not in_benchmark_venv():
        reexec(sys.argv[1:])
    from benchmarks.realworld.runner import main

    sys.exit(main())
