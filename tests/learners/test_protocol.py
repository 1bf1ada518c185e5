"""Every learner: the protocol, a JSON-plain state that round-trips, extra (aligned) columns,
typed errors; and the docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import json

import numpy as np
import pytest

from xlandslide.errors import (
    CheckpointError,
    ConfigError,
    NameNotFoundError,
    NotFittedError,
    ShapeError,
)
from xlandslide.learners import LEARNERS, Learner, PixelTable, build_learner, learner_from_state

from .common import json_plain, synthetic_table

FAST = {"gbm": {"num_boost_round": 20, "num_threads": 1}}


def _aligned_table(n=300, seed=0):
    """The synthetic table with three extra continuous columns (as uphill-gathered ones)."""
    t = synthetic_table(n=n, seed=seed, missing=0.05)
    extra = np.random.default_rng(seed).normal(size=(n, 3)).astype("f4")
    extra[:, 0] = t.continuous[:, 0] + 0.1 * extra[:, 0]  # a correlated neighbour
    names = (*t.continuous_names, "slope_up_10", "slope_up_20", "dem_up_10")
    return PixelTable(
        np.c_[t.continuous, extra], t.codes, t.label, t.n_classes,
        continuous_names=names, group_names=t.group_names,
    )  # fmt: skip


def _to_json_and_back(state: dict) -> dict:
    def plain(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return json.loads(json.dumps(plain(state)))


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_protocol_state_and_aligned_columns(name):
    table = _aligned_table()
    learner = build_learner(name, **FAST.get(name, {}))
    assert isinstance(learner, Learner) and learner.name == name
    with pytest.raises(NotFittedError, match="not fitted"):
        learner.predict_logit(table.continuous, table.codes)
    assert learner.fit(table) is learner
    logit = learner.predict_logit(table.continuous, table.codes)
    assert logit.dtype == np.float64 and logit.shape == (table.n,) and np.isfinite(logit).all()
    state = learner.to_state()
    assert json_plain(state) and state["layout"]["continuous_names"][-1] == "dem_up_10"
    for rebuilt in (learner_from_state(state), learner_from_state(_to_json_and_back(state))):
        assert type(rebuilt) is type(learner) and repr(rebuilt) == repr(learner)
        np.testing.assert_array_equal(rebuilt.predict_logit(table.continuous, table.codes), logit)
    # a pixel with nothing known still gets a finite logit; no rows give no logits
    empty = learner.predict_logit(np.full((1, 5), np.nan, "f4"), np.full((1, 2), 255, "u1"))
    assert np.isfinite(empty).all()
    assert learner.predict_logit(np.zeros((0, 5), "f4"), np.zeros((0, 2), "u1")).shape == (0,)
    with pytest.raises(ShapeError, match=r"shape \(n, 5\)"):
        learner.predict_logit(table.continuous[:, :2], table.codes)


def test_state_errors():
    woe = build_learner("woe").fit(synthetic_table(n=100))
    state = woe.to_state()
    with pytest.raises(CheckpointError, match="not a fr learner's state"):
        LEARNERS["fr"].from_state(state)
    with pytest.raises(CheckpointError, match="refit"):
        LEARNERS["woe"].from_state({**state, "state_version": 99})
    with pytest.raises(CheckpointError, match="not a learner state"):
        learner_from_state({"name": "rf"})
    with pytest.raises(NameNotFoundError, match="choose one of"):
        build_learner("rf")


def test_fit_needs_both_classes():
    t = synthetic_table(n=50)
    one_class = PixelTable(t.continuous, t.codes, np.zeros(50, "i1"), t.n_classes)
    for name in ("woe", "llr"):
        with pytest.raises(ConfigError, match="needs landslide and stable pixels"):
            build_learner(name).fit(one_class)


MODULES = ["", ".table", ".optim", ".sampling", ".linear", ".evidence", ".gam", ".gbm"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module("xlandslide.learners" + module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0 and (result.attempted > 0 or module in (".base",))


LIGHT_SCRIPT = r"""
import sys
import xlandslide
before = set(sys.modules)
import numpy as np
from xlandslide.learners import PixelTable, build_learner
t = PixelTable(np.zeros((4, 1), "f4"), np.zeros((4, 0), "u1"), np.array([0, 1, 0, 1], "i1"))
for name in ("llr", "gam", "woe", "fr"):
    build_learner(name).fit(t).predict_logit(t.continuous, t.codes)
new = {m.split(".")[0] for m in set(sys.modules) - before}
print(sorted(new & {"torch", "dask", "xarray", "lightgbm", "sklearn", "numba"}))
"""


def test_learners_import_no_torch_dask_or_lightgbm():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LIGHT_SCRIPT], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_learners_import_only_numpy_scipy_pandas_and_lightgbm():
    """No xarray, dask or torch inside (numba for the trees' kernel): every import of the
    subpackage, read from its source."""
    import ast
    from pathlib import Path

    import xlandslide.learners as package

    allowed = {"numpy", "scipy", "pandas", "lightgbm", "__future__", "collections", "dataclasses"}
    allowed |= {"typing", "warnings", "re", "numba"}  # numba: the compiled trees' kernel
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level == 2:  # from ..x: only the package's floor
                    floor = ("errors", "catalog", "_hash", "kernels._jit")
                    assert node.module in floor, (path.name, node.module)
                    continue
                roots = set() if node.level else {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, (path.name, roots)
