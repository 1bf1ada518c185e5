"""Print a table of xlandslide's performance figures on this machine.

Runs the plain ``table_rows()`` functions of the ASV benchmark modules in
``asv_bench/benchmarks`` (the same cases ASV tracks) and prints one table.

    python benchmarks/bench_table.py                 # all areas, default sizes
    python benchmarks/bench_table.py features        # one area
    python benchmarks/bench_table.py veneto          # the Veneto-size run (slow, not default)
    XLANDSLIDE_BENCH_N=1024 python benchmarks/bench_table.py   # smaller inputs

The memory and streaming figures (peak RSS per case, in fresh processes) are printed by
``benchmarks/scale_table.py``.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AREAS = ("features", "region", "patches", "predict", "train", "evaluate")


def _machine() -> str:
    import torch

    cores = os.cpu_count()
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {cores} cores, {cuda}, Python {platform.python_version()}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    areas = argv or list(AREAS)
    sys.path.insert(0, str(ROOT / "asv_bench"))
    print(f"machine: {_machine()}")
    header = f"{'area':<9} {'benchmark':<48} {'seconds':>9} {'throughput':>22}"
    print(header)
    print("-" * len(header))
    for area in areas:
        module = importlib.import_module(f"benchmarks.{area}")
        for row in module.table_rows():
            thr = ""
            if "mpix_per_s" in row:
                thr = f"{row['mpix_per_s']:.2f} Mpix/s"
            elif "per_second" in row:
                thr = f"{row['per_second']:.2f} {row.get('unit', '/s')}"
            print(f"{area:<9} {row['benchmark']:<48} {row['seconds']:>9.3f} {thr:>22}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
