"""Run the Veneto-size benchmark (see asv_bench/benchmarks/veneto.py for the stages)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "asv_bench"))

from benchmarks.veneto import main

if __name__ == "__main__":
    sys.exit(main())
