"""``gbm``: gradient-boosted trees by LightGBM, the groups as native categorical features.

Why LightGBM: categorical splits without one-hot (a lithology of 44 classes is one feature),
a ``lightgbm.dask`` interface for clusters, and a plain-text model format that the state
stores as is (no pickle).  Optional: ``pip install xlandslide[gbm]``.

Features: the continuous columns (NaN: LightGBM's missing value), then one column per group
holding its code as a float, with codes >= the group's class count (255: no class) turned
into NaN, declared ``categorical_feature``.  The defaults suit imbalanced landslide pixels
without reweighting the classes (so the output stays a probability, as NLL needs): few
leaves, a minimum leaf size, row and feature bagging and an L2 penalty on leaf values.

Prediction does not call LightGBM: the booster's JSON dump is compiled once into bit tables
evaluated by a single-threaded numba kernel (:mod:`xlandslide.learners.trees`; equal to
``booster.predict(raw_score=True)`` within 1e-12, about 18x faster on one core and with no
OpenMP threads of its own inside dask's) that reads the (n, C) float32 layers and (n, G)
uint8 codes in place.  On a cluster, :meth:`GBM.fit_dask` trains with
``lightgbm.dask`` from a pixel table left on the workers.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import ConfigError, MissingOptionalDependency
from .base import LearnerBase
from .table import Layout, PixelTable

__all__ = ["DEFAULT_PARAMS", "GBM"]

#: LightGBM parameters used unless overridden (``GBM(params={...})``).
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 4,
    "cat_smooth": 10.0,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}


def import_lightgbm():
    """The ``lightgbm`` module, or MissingOptionalDependency naming the extra."""
    try:
        import lightgbm
    except ImportError as error:
        raise MissingOptionalDependency(
            "the gbm learner needs LightGBM (>= 4); install it with "
            "`pip install xlandslide[gbm]` (or `pip install lightgbm`)"
        ) from error
    return lightgbm


def gbm_features(continuous: np.ndarray, codes: np.ndarray, n_classes) -> np.ndarray:
    """(n, C + G) float64: continuous columns, then the codes with no-class codes as NaN."""
    cats = codes.astype(np.float64)
    cats[codes >= np.asarray(n_classes, dtype=np.int64)[None, :]] = np.nan
    return np.concatenate([continuous.astype(np.float64), cats], axis=1)


class GBM(LearnerBase):
    """LightGBM boosted trees (``lightgbm.train``) on the pixel table.

    Parameters
    ----------
    num_boost_round : int
        Boosting rounds (default 300).
    seed : int
        LightGBM's ``seed`` (bagging, feature fraction).
    num_threads : int
        Threads; 0 is LightGBM's default (OpenMP's).
    params : dict, optional
        LightGBM parameters overriding :data:`DEFAULT_PARAMS` (``objective`` stays binary).

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.learners import PixelTable
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(600, 1)).astype("f4")
    >>> codes = rng.integers(0, 4, size=(600, 1)).astype("u1")
    >>> y = (rng.random(600) < 1 / (1 + np.exp(-2 * x[:, 0] - (codes[:, 0] == 2)))).astype("i1")
    >>> gbm = GBM(num_boost_round=50, num_threads=1).fit(PixelTable(x, codes, y, n_classes=(4,)))
    >>> gbm.importance().index.tolist()
    ['c0', 'g0']
    >>> bool(gbm.predict_logit(np.array([[2.0]], "f4"), np.array([[2]], "u1"))[0] > 0)
    True
    """

    name = "gbm"

    def __init__(
        self,
        num_boost_round: int = 300,
        seed: int = 0,
        num_threads: int = 0,
        params: dict[str, Any] | None = None,
    ):
        if isinstance(num_boost_round, bool) or int(num_boost_round) != num_boost_round:
            raise ConfigError(f"num_boost_round must be an integer, got {num_boost_round!r}")
        if num_boost_round < 1:
            raise ConfigError(f"num_boost_round must be >= 1, got {num_boost_round}")
        if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 0:
            raise ConfigError(f"num_threads must be an integer >= 0, got {num_threads!r}")
        params = dict(params or {})
        if params.get("objective", "binary") not in ("binary", "cross_entropy", "xentropy"):
            raise ConfigError(f"the gbm learner is binary; objective {params['objective']!r}")
        self.num_boost_round, self.seed = int(num_boost_round), int(seed)
        self.num_threads, self.params = int(num_threads), params
        self.booster_ = None
        self._compiled = None

    def options(self) -> dict[str, Any]:
        return {
            "num_boost_round": self.num_boost_round, "seed": self.seed,
            "num_threads": self.num_threads, "params": dict(self.params),
        }  # fmt: skip

    def lightgbm_params(self) -> dict[str, Any]:
        """The parameters handed to ``lightgbm.train``: defaults, overrides, seed, threads."""
        return {
            **DEFAULT_PARAMS, **self.params, "seed": self.seed, "num_threads": self.num_threads,
        }  # fmt: skip

    def features(self, continuous: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """The (n, C + G) float64 matrix LightGBM sees (see :func:`gbm_features`)."""
        continuous, codes = self._check(continuous, codes)
        return gbm_features(continuous, codes, self.layout.n_classes)

    def _categorical(self) -> list[int]:
        c = self.layout.n_continuous
        return list(range(c, c + self.layout.n_groups))

    def fit(self, table: PixelTable) -> GBM:
        """Boost ``num_boost_round`` trees on ``table`` (weighted by its sampling weights)."""
        lgb = import_lightgbm()
        self._start_fit(table)
        self.layout = table.layout
        data = lgb.Dataset(
            self.features(table.continuous, table.codes),
            label=table.label.astype(np.float64),
            weight=table.weight,
            feature_name=list(self._feature_names()),
            categorical_feature=self._categorical(),
            free_raw_data=True,
        )
        self.booster_ = lgb.train(
            self.lightgbm_params(), data, num_boost_round=self.num_boost_round
        )
        self._compiled = None
        return self

    def fit_dask(self, x, label, weight, layout: Layout, client) -> GBM:
        """Boost the same trees on a Dask cluster with LightGBM's own Dask interface.

        Parameters
        ----------
        x : dask array (n, C + G) float64
            :func:`gbm_features` of the pixel table's rows, blocks left on the workers (see
            :func:`xlandslide.train.exact.fit_learner` with ``client=``).
        label, weight : dask arrays (n,)
            Labels (0/1) and sampling weights, chunked as ``x``'s rows.
        layout : Layout
            The table's layout (names, class counts).
        client : dask.distributed.Client
            The cluster; every worker holding rows trains (``lightgbm.dask``'s data-parallel
            ``DaskLGBMClassifier``, the workers' histograms summed over its network).

        The booster is then the same kind of object as :meth:`fit`'s: it saves as its text
        model and predicts by the compiled trees.
        """
        lgb = import_lightgbm()
        from lightgbm.dask import DaskLGBMClassifier

        self.layout = layout
        params = self.lightgbm_params()
        model = DaskLGBMClassifier(
            client=client, n_estimators=self.num_boost_round, random_state=self.seed,
            **{k: v for k, v in params.items() if k not in ("seed", "num_threads")},
        )  # fmt: skip
        with warnings.catch_warnings():  # the sklearn wrapper's n_jobs: the workers' threads
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            model.fit(
                x, label, sample_weight=weight,
                feature_name=list(self._feature_names()),
                categorical_feature=self._categorical(),
            )  # fmt: skip
        self.booster_ = lgb.Booster(model_str=model.booster_.model_to_string())
        self._compiled = None
        return self

    def _feature_names(self) -> tuple[str, ...]:
        """Column names for LightGBM (no JSON special characters nor spaces in them)."""
        import re

        layout = self._fitted_layout()
        names = layout.continuous_names + layout.group_names
        return tuple(re.sub(r'[\s",:\[\]{}]', "_", n) for n in names)

    def compiled(self):
        """The booster's trees as arrays and bit tables (:mod:`xlandslide.learners.trees`),
        built once from its JSON dump."""
        if self._compiled is None:
            from .trees import bit_tables, compile_trees

            trees = compile_trees(self.booster_.dump_model())
            self._compiled = (trees, bit_tables(trees))
        return self._compiled

    def predict_logit(self, continuous: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """(n,) float64 raw scores (logits) of the boosted trees.

        Evaluated by the compiled trees (:func:`~xlandslide.learners.trees.tree_logits`, one
        thread, the GIL released, equal to ``booster.predict(raw_score=True)`` within
        1e-12) on ``continuous`` and ``codes`` as they are: no feature matrix is built, the
        kernel reads the float32 layers and the uint8 codes row by row and takes a code >=
        its group's class count as missing (what :func:`gbm_features` hands LightGBM).
        """
        from .trees import tree_logits

        continuous, codes = self._check(continuous, codes)
        trees, tables = self.compiled()
        return tree_logits(trees, continuous, codes, self.layout.n_classes, tables)

    def importance(self, kind: str = "gain"):
        """Importance per feature (``"gain"``, default, or ``"split"``) as a pandas Series."""
        import pandas as pd

        if kind not in ("gain", "split"):
            raise ConfigError(f"importance kind must be 'gain' or 'split', got {kind!r}")
        names = self._feature_names()
        values = self.booster_.feature_importance(importance_type=kind)
        return pd.Series(np.asarray(values, dtype=np.float64), index=list(names), name=kind)

    def to_state(self) -> dict:
        return {**self._header(), "model": self.booster_.model_to_string()}

    @classmethod
    def from_state(cls, state: dict) -> GBM:
        lgb = import_lightgbm()
        learner = cls._from_header(state)
        learner.booster_ = lgb.Booster(model_str=state["model"])
        learner._compiled = None
        return learner
