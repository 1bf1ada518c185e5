"""benchmarks/chain_control.py --quick runs end to end (slow: about a minute on 2 cores)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "chain_control.py"


@pytest.mark.slow
def test_chain_control_quick(capsys):
    spec = importlib.util.spec_from_file_location("chain_control", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = module.main(["--quick", "--case", "synthetic30", "--folds", "0"])
    assert lines == capsys.readouterr().out.strip().splitlines()
    pairs = [line for line in lines if " - " in line]
    assert len(pairs) == len(module.PAIRS) == 4
    for line, (a, b) in zip(pairs, module.PAIRS):
        auc_a, auc_b, diff = map(float, re.search(r"AUC (\S+) - (\S+) = (\S+)", line).groups())
        assert f" {a} - {b}" in re.sub(r"\s+", " ", line)
        assert 0.5 < auc_a < 1 and 0.5 < auc_b < 1
        assert diff == pytest.approx(auc_a - auc_b, abs=2e-4)
