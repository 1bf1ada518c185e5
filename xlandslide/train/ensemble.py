"""Ensembles of trained models: :class:`EnsembleModel` and :func:`fit_ensemble` (seeds).

With few labels (a point inventory of a few hundred points) one network's skill depends on
its seed as much as on the data; the mean of several seeds' probabilities is steadier (and
the spread of the members is a measure of the model's uncertainty).  An
:class:`EnsembleModel` predicts like a :class:`~xlandslide.LandslideModel` —
``xlandslide.predict(region, ensemble)`` is lazy and streams as for one model — and its
probability is the mean of its members'.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..model import SpecFacts


class EnsembleModel(SpecFacts):
    """The mean probability of several models of one spec (seeds, or CV folds).

    Parameters
    ----------
    members : sequence of LandslideModel
        Trained models with the same :class:`~xlandslide.ModelSpec` apart from their
        training settings (same name, layout, aligned features, distances, geometry).

    Notes
    -----
    ``spec`` is the first member's; ``history`` lists the members' histories.

    Examples
    --------
    Two LLRs trained on two random splits of the patches:

    >>> import numpy as np
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> geometry = xlandslide.PatchGeometry(32, 16)
    >>> a, b = (
    ...     xlandslide.fit(region, "llr", progress=False,
    ...                    patches=xlandslide.make_patches(region, geometry, seed=seed))
    ...     for seed in (0, 1)
    ... )
    >>> ens = xlandslide.EnsembleModel([a, b])
    >>> ens, ens.spec is a.spec
    (EnsembleModel('llr', members=2), True)
    >>> cont = region["continuous"].values[None, :, :32, :32]  # a batch of one patch
    >>> codes = region["categorical"].values[None, :, :32, :32]
    >>> mean = (a.predict_proba(cont, codes) + b.predict_proba(cont, codes)) / 2
    >>> bool(np.allclose(ens.predict_proba(cont, codes), mean, atol=1e-6))
    True
    """

    def __init__(self, members: Sequence):
        members = list(members)
        if not members:
            raise ConfigError("an ensemble needs at least one model")
        first = members[0].spec
        for m in members[1:]:
            s = m.spec
            same = (s.name, s.layout, s.aligned, s.distances, s.geometry) == (
                first.name,
                first.layout,
                first.aligned,
                first.distances,
                first.geometry,
            )
            if not same:
                raise ConfigError(
                    "the members of an ensemble must be the same model on the same inputs "
                    f"(name, layout, aligned features, distances, geometry); got {first.name!r} "
                    f"and {s.name!r}"
                )
        self.members = members
        self.spec = first
        self.history = {"members": [m.history for m in members]}

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"EnsembleModel({self.spec.name!r}, members={len(self.members)})"

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return ("xlandslide.EnsembleModel", *[tokenize(m) for m in self.members])

    @property
    def device(self):
        return self.members[0].device

    def predict_proba(self, continuous, categorical=None, offsets=None, **kwargs) -> np.ndarray:
        """Mean of the members' :meth:`~xlandslide.LandslideModel.predict_proba`."""
        total = None
        for m in self.members:
            p = m.predict_proba(continuous, categorical, offsets, **kwargs).astype(np.float64)
            total = p if total is None else total + p
        return (total / len(self.members)).astype(np.float32)


def fit_ensemble(region, model: str, *, seeds: Sequence[int] = (0, 1, 2), config=None, **kwargs):
    """Train ``model`` once per seed (``config.replace(seed=s)``) and average them.

    ``kwargs`` go to :func:`xlandslide.fit` (``patches``, ``aligned``, masks...).  A single
    seed returns the plain :class:`~xlandslide.LandslideModel`.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> ens = xlandslide.fit_ensemble(region, "llr", seeds=(0, 1), patches=patches, progress=False)
    >>> type(ens).__name__, len(ens.members)
    ('EnsembleModel', 2)
    >>> prob = region.landslide.predict(ens)  # lazy: the members' mean probability
    >>> prob.dims
    ('y', 'x')
    """
    from ..models import find_entry
    from .config import TrainConfig
    from .fit import fit

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds must name at least one seed, e.g. (0, 1, 2)")
    entry = find_entry(model)
    if entry is not None and not entry.trained:
        return fit(region, model, **kwargs)
    config = config if config is not None else TrainConfig.default(model)
    starts = _paired_starts(kwargs.pop("warm_start", None), len(seeds))
    members = [
        fit(region, model, config=config.replace(seed=s), warm_start=start, **kwargs)
        for s, start in zip(seeds, starts)
    ]
    return members[0] if len(members) == 1 else EnsembleModel(members)


def _paired_starts(warm_start, n: int) -> list:
    """The warm start of each of ``n`` seeds: member ``i`` of an ensemble of networks starts
    seed ``i`` (cycling when it has fewer), so a LACNN ensemble chained from a CNN ensemble
    holds ``n`` paired runs rather than ``n`` runs from the CNN's first member; an LLR or an
    ensemble of LLRs (whose members' mean is the start, :func:`xlandslide.fit`) starts all."""
    from ..models import find_entry

    members = getattr(warm_start, "members", None)
    entry = find_entry(getattr(members[0], "name", None)) if members else None
    if not members or entry is None or entry.linear:
        return [warm_start] * n
    return [members[i % len(members)] for i in range(n)]


__all__ = ["EnsembleModel", "fit_ensemble"]
