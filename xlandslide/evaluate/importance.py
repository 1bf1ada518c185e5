"""Which inputs the models use, and how sure they are: LLR weights, permutation importance
on held-out pixels, the spread of an ensemble.

- :func:`llr_weights`: the weights of a logistic regression (standardised continuous layers
  and one-hot classes) as a table — the paper's basis for choosing the aligned features;
- :func:`permutation_importance`: how much a score on held-out pixels drops when one
  continuous layer, or one categorical group (all its classes together: permuting one
  one-hot column alone would break the encoding), is shuffled;
- :func:`uncertainty_map`: the mean and standard deviation of several models' maps (the
  CV-fold models, or a seed ensemble), lazily.

Shuffling in bounded memory
---------------------------
A global permutation of a raster larger than memory is not lazy.  The layer is shuffled
within tiles of ``tile`` pixels on a grid anchored at pixel (0, 0): inside each tile the
valid pixels (not NaN, not class 255) exchange their values by a permutation seeded from
``seed``, the repeat and the tile.  A held-out pixel thus gets the value of a random pixel
of its tile — the layer's own distribution there — whatever the chunks of the region.  With
``tile`` at least the region's size this is the textbook global permutation.  The model
sees the shuffled layer everywhere, also at the uphill points of the aligned models.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError

#: Default tile of the shuffles (pixels).
TILE = 1024


def llr_weights(model):
    """The weights of an LLR (or of an ensemble of LLRs) as a table, largest first.

    Returns
    -------
    pandas.DataFrame
        ``feature``, ``weight`` (mean over the members), ``sd`` (over the members; 0 for one
        model) and ``abs_weight``, sorted by ``abs_weight``.  Weights multiply standardised
        continuous layers and 0/1 class indicators.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> table = xlandslide.llr_weights(llr)
    >>> list(table.columns)
    ['feature', 'weight', 'sd', 'abs_weight']
    >>> bool(table["abs_weight"].is_monotonic_decreasing)
    True
    """
    import pandas as pd

    from ..models import find_entry

    members = getattr(model, "members", [model])
    for m in members:
        entry = find_entry(getattr(m, "name", None))
        if entry is None or not entry.linear or not hasattr(m.module, "linear_weights"):
            raise ConfigError(f"llr_weights needs an LLR model, got {getattr(m, 'name', m)!r}")
    w = np.stack([m.module.linear_weights() for m in members])
    table = pd.DataFrame(
        {
            "feature": list(members[0].spec.feature_names),
            "weight": w.mean(axis=0),
            "sd": w.std(axis=0, ddof=1) if len(w) > 1 else np.zeros(w.shape[1]),
        }
    )
    table["abs_weight"] = table["weight"].abs()
    return table.sort_values("abs_weight", ascending=False, kind="stable").reset_index(drop=True)


def _shuffle_block(block, *, fill, seed, repeat, tile, block_info=None):
    (r0, _), (c0, _) = block_info[0]["array-location"][-2:]
    key = [int(seed), int(repeat), int(r0 // tile), int(c0 // tile)]
    rng = np.random.Generator(np.random.PCG64(key))
    out = np.array(block, copy=True)
    valid = ~np.isnan(out) if out.dtype.kind == "f" else out != fill
    idx = np.flatnonzero(valid)
    out.flat[idx] = out.flat[rng.permutation(idx)]
    return out


def shuffled(layer: xr.DataArray, *, seed: int = 0, repeat: int = 0, tile: int = TILE):
    """``layer`` (y, x) with its valid values shuffled within tiles (module notes), lazily."""
    import dask.array as da

    from ..catalog import NODATA_CODE
    from ..region import as_dask

    layer = as_dask(layer.transpose("y", "x"))
    ny, nx = layer.shape
    data = layer.data.rechunk((min(tile, ny), min(tile, nx)))
    out = da.map_blocks(
        _shuffle_block,
        data,
        fill=NODATA_CODE,
        seed=seed,
        repeat=repeat,
        tile=tile,
        dtype=data.dtype,
        meta=np.array((), dtype=data.dtype),
    )
    return layer.copy(data=out)


def _with_layer(region, var: str, dim: str, name: str, new: xr.DataArray) -> xr.Dataset:
    stack = region[var]
    parts = [
        new.expand_dims({dim: [n]}) if n == name else stack.sel({dim: [n]})
        for n in stack[dim].values.tolist()
    ]
    replaced = xr.concat(parts, dim=dim).transpose(*stack.dims)
    return region.assign({var: replaced.assign_attrs(stack.attrs)})


def permutation_importance(
    region: xr.Dataset,
    model,
    mask=None,
    *,
    features=None,
    groups=None,
    n_repeats: int = 3,
    seed: int = 0,
    metric: str = "auc",
    tile: int = TILE,
):
    """Drop of a held-out score when each continuous layer or categorical group is shuffled.

    Parameters
    ----------
    region : Dataset
        The region (with the offsets of an aligned model).
    model : LandslideModel or EnsembleModel
    mask : DataArray (y, x) of bool, optional
        The held-out pixels scored (e.g. ``folds.test_mask(f, region)``); default every
        labelled pixel.
    features : sequence of str, optional
        Continuous layers to shuffle (default all the model reads).
    groups : sequence of str, optional
        Categorical groups to shuffle (default all).
    n_repeats : int
        Shuffles per input (different seeds); the table gives their mean and sd.
    seed : int
    metric : {"auc", "nll", "pr_auc", "brier"}
        The score; importance is ``baseline - shuffled`` for AUCs and ``shuffled - baseline``
        for losses, so that larger is always more important.
    tile : int
        Side of the shuffling tiles (module notes).

    Returns
    -------
    pandas.DataFrame
        ``name``, ``kind`` (``"feature"`` or ``"group"``), ``importance`` (mean),
        ``sd`` and ``baseline``, sorted by importance.  One prediction and one score per
        input and repeat.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> table = xlandslide.permutation_importance(region, llr, n_repeats=1)
    >>> sorted(table["name"])
    ['dem', 'land_cover', 'lithology', 'rock_age', 'rock_family', 'slope']
    >>> table.iloc[0]["name"], bool(table.iloc[0]["importance"] > 0)  # slope drives the region
    ('slope', True)
    """
    import pandas as pd

    from ..predict import predict
    from ..region import feature_layout
    from .metrics import evaluate

    if metric not in ("auc", "nll", "pr_auc", "brier"):
        raise ConfigError(f"metric must be 'auc', 'nll', 'pr_auc' or 'brier', got {metric!r}")
    if int(n_repeats) < 1:
        raise ConfigError(f"n_repeats must be >= 1, got {n_repeats!r}")
    layout = feature_layout(region)
    features = list(layout.continuous if features is None else features)
    groups = list(layout.group_names if groups is None else groups)
    for f in features:
        if f not in layout.continuous:
            raise ConfigError(f"no continuous layer {f!r}; the region has {layout.continuous}")
    for g in groups:
        if g not in layout.group_names:
            raise ConfigError(f"no categorical group {g!r}; the region has {layout.group_names}")
    sign = 1.0 if metric in ("auc", "pr_auc") else -1.0
    label = region["label"]

    def score(reg):
        return float(evaluate(predict(reg, model), label, mask)[metric])

    baseline = score(region)
    rows = []
    jobs = [("feature", "continuous", "layer", f) for f in features]
    jobs += [("group", "categorical", "group", g) for g in groups]
    for kind, var, dim, name in jobs:
        drops = []
        for r in range(int(n_repeats)):
            new = shuffled(region[var].sel({dim: name}), seed=seed, repeat=r, tile=tile)
            drops.append(sign * (baseline - score(_with_layer(region, var, dim, name, new))))
        rows.append(
            {
                "name": name,
                "kind": kind,
                "importance": float(np.mean(drops)),
                "sd": float(np.std(drops, ddof=1)) if len(drops) > 1 else 0.0,
                "baseline": baseline,
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def uncertainty_map(region: xr.Dataset, models) -> xr.Dataset:
    """Mean and standard deviation of several models' probabilities, per pixel (lazy).

    ``models``: a sequence of models, an :class:`~xlandslide.EnsembleModel` (its members),
    or the fold models of :func:`xlandslide.cross_validate` (``result.models[name]``, seed
    ensembles unpacked).  The spread of the CV-fold models says where the map depends on
    which data trained it.

    Returns
    -------
    Dataset
        ``mean`` and ``std`` (y, x) float32 (population sd over the members), dask-backed.
        Its attrs, and each map's, name every member: ``n_members``, ``members`` (a list
        of ``{"name": model name, "weights_sha1": digest of its weights}``, in order) and
        ``model`` (the distinct names, comma-separated).  :func:`xlandslide.write_map`
        writes it to one Zarr store or one GeoTIFF (a band per map, the attrs as tags);
        :func:`xlandslide.open_map` reads ``mean`` by default, ``std`` with ``name="std"``.

    Examples
    --------
    >>> import numpy as np
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> naive = xlandslide.fit(region, "naive", patches=patches)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> spread = xlandslide.uncertainty_map(region, [naive, llr])  # lazy
    >>> sorted(spread.data_vars), spread.attrs["n_members"], spread.attrs["model"]
    (['mean', 'std'], 2, 'naive, llr')

    With two members the sd is half their difference:

    >>> a, b = region.landslide.predict(naive), region.landslide.predict(llr)
    >>> bool(np.allclose(spread["std"], abs(a - b) / 2, atol=1e-6, equal_nan=True))
    True
    """
    from ..predict import predict

    members = []
    for m in getattr(models, "members", models):
        members.extend(getattr(m, "members", [m]))
    if len(members) < 2:
        raise ConfigError(f"an uncertainty map needs at least 2 models, got {len(members)}")
    maps = xr.concat([predict(region, m) for m in members], dim="member")
    mean = maps.mean("member", skipna=False).astype(np.float32)
    std = maps.std("member", skipna=False).astype(np.float32)
    named = [{"name": m.spec.name, "weights_sha1": _weights_digest(m)} for m in members]
    attrs = {
        "n_members": len(members),
        "members": named,
        "model": ", ".join(dict.fromkeys(m["name"] for m in named)),
    }
    out = xr.Dataset(
        {
            "mean": mean.assign_attrs(
                long_name="mean landslide susceptibility", units="1", **attrs
            ),
            "std": std.assign_attrs(
                long_name="standard deviation over the models", units="1", **attrs
            ),
        },
        attrs=attrs,
    )
    return out


def _weights_digest(model) -> str | None:
    """The SHA-1 of a model's weights (the digest its dask token carries), or None."""
    token = getattr(model, "__dask_tokenize__", None)
    try:
        return str(token()[2]) if token is not None else None
    except (AttributeError, IndexError, TypeError):
        return None


def model_tables(model) -> dict:
    """The tables the field reads for the learners of :mod:`xlandslide.learners`.

    Returns ``{kind: DataFrame}``: ``"classes"`` for weights of evidence and frequency ratio
    (per layer and class: count, area share, landslides, W+, W-, contrast and its standard
    deviation, studentised contrast, FR), ``"gain"`` for the boosted trees (LightGBM's gain
    importance per column), ``"effects"`` for the GAM (every continuous layer's partial
    effect on the logit on a grid of 100 values, centred on the training pixels); ``{}``
    for the networks and the LLR (see :func:`llr_weights`).
    """
    import pandas as pd

    learner = getattr(getattr(model, "module", None), "fitted", None)
    if learner is None:
        return {}
    out = {}
    if hasattr(learner, "tables"):
        out["classes"] = learner.tables()
    if hasattr(learner, "booster_"):
        gain = learner.importance("gain")
        out["gain"] = (
            gain.rename_axis("feature")
            .reset_index()
            .sort_values("gain", ascending=False, ignore_index=True)
        )
    if hasattr(learner, "partial_effects"):
        rows = [
            pd.DataFrame({"layer": name, "x": x, "effect": effect})
            for name, (x, effect) in learner.partial_effects(100).items()
        ]
        out["effects"] = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return out


__all__ = [
    "TILE",
    "llr_weights",
    "model_tables",
    "permutation_importance",
    "shuffled",
    "uncertainty_map",
]
