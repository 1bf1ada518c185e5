"""The ``landslide`` accessor: a thin, stateless façade over the package's functions.

Every method forwards to the public function of the same name with the Dataset as the
region; nothing is cached on the accessor (xarray may recreate it at any time).  The façade
methods :meth:`LandslideAccessor.fit` and :meth:`LandslideAccessor.predict` chain stages the
way the paper does (offsets, patches, the aligned-feature choice), each step explicit in
their code.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from .errors import GeometryWarning, RegionError
from .grid import PAPER_DISTANCES  # re-exported: the paper's looking distances, in metres


@xr.register_dataset_accessor("landslide")
class LandslideAccessor:
    """``ds.landslide.*``: region-level operations on a region Dataset.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(256, 256))
    >>> region = region.landslide.with_offsets()  # adds lazy uphill_dy / uphill_dx
    >>> region.landslide.features().sizes["feature"]
    94
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def validate(self, *, check_values: bool = False) -> xr.Dataset:
        """Check the region data model; see :func:`xlandslide.validate_region`."""
        from .validate import validate_region

        return validate_region(self._ds, check_values=check_values)

    def layout(self):
        """The region's :class:`~xlandslide.FeatureLayout` (layers, groups and classes)."""
        from .region import feature_layout

        return feature_layout(self._ds)

    def features(self, names: Sequence[str] | None = None) -> xr.DataArray:
        """The lazy one-hot view (feature, y, x); see :func:`xlandslide.onehot_features`."""
        from .region import onehot_features

        return onehot_features(self._ds, names)

    def offset_distances(self) -> tuple[float, ...]:
        """Distances (m) whose uphill offsets the region holds."""
        from .region import offset_distances

        return offset_distances(self._ds)

    def slope(self) -> xr.DataArray:
        """Slope of ``dem`` in degrees; see :func:`xlandslide.slope`."""
        from .terrain import slope

        return slope(self._ds["dem"])

    def uphill_offsets(
        self, distances: Sequence[float] = PAPER_DISTANCES, *, halo: int | None = None
    ) -> xr.Dataset:
        """Uphill offsets of ``dem``; see :func:`xlandslide.uphill_offsets`."""
        from .features import uphill_offsets
        from .grid import HALO

        return uphill_offsets(
            self._ds["dem"], distances=tuple(distances), halo=HALO if halo is None else halo
        )

    def with_offsets(
        self, distances: Sequence[float] = PAPER_DISTANCES, *, halo: int | None = None
    ) -> xr.Dataset:
        """A new region with lazy ``uphill_dy``/``uphill_dx`` (distance, y, x) for ``distances``.

        Offsets the region already holds for other distances are replaced.
        """
        offs = self.uphill_offsets(distances, halo=halo)
        ds = self._ds.drop_vars(["uphill_dy", "uphill_dx", "distance"], errors="ignore")
        return ds.assign(uphill_dy=offs["dy"], uphill_dx=offs["dx"])

    def aligned_features(self, names: Sequence[str]) -> xr.DataArray:
        """Features ``names`` of the one-hot view read at the region's uphill points.

        See :func:`xlandslide.aligned_features`; the region must hold offsets (for every
        distance it holds, distance-major: ``slope@30m``, ``dem@30m``, ``slope@100m``...).
        """
        from .features import aligned_features
        from .region import OFFSET_VARS, offset_distances

        ds = self._ds
        if not offset_distances(ds):
            raise RegionError(
                "the region holds no uphill offsets to read aligned features at; add them "
                "lazily with region = region.landslide.with_offsets((30, 100, 300))"
            )
        names = [names] if isinstance(names, str) else list(names)
        offs = xr.Dataset({"dy": ds[OFFSET_VARS[0]], "dx": ds[OFFSET_VARS[1]]})
        return aligned_features(self.features(names), offs, names)

    def patches(
        self,
        geometry=None,
        *,
        seed: int = 0,
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
        oversample: int = 5,
    ):
        """Patch grid and split; see :func:`xlandslide.make_patches`.

        The default geometry is the paper's 500 + 2 x 64 when the region holds enough
        patches for at least 3 in every split, else the largest core that does
        (:func:`xlandslide.grid.geometry_for`), with a
        :class:`~xlandslide.errors.GeometryWarning` saying what was chosen and why."""
        import warnings

        from .grid import geometry_for
        from .patches import make_patches

        if geometry is None:
            shape = (self._ds.sizes["y"], self._ds.sizes["x"])
            geometry, why = geometry_for(shape, fractions=fractions)
            if why:
                warnings.warn(why, GeometryWarning, stacklevel=2)
        return make_patches(
            self._ds,
            geometry,
            seed=seed,
            fractions=fractions,
            oversample=oversample,
        )

    def select_aligned_features(self, patches, **kwargs):
        """The paper's aligned-feature step; see :func:`xlandslide.select_aligned_features`."""
        from .train import select_aligned_features

        return select_aligned_features(self._ds, patches, **kwargs)

    def fit(
        self,
        model: str = "lacnn",
        *,
        patches=None,
        aligned: Sequence[str] | None = None,
        distances: Sequence[float] | None = None,
        llr_config=None,
        llr=None,
        threshold: float = 0.2,
        max_aligned: int | None = None,
        **kwargs,
    ):
        """Train ``model`` the paper's way, chaining the steps it needs (the façade of fit).

        1. ``patches`` default: ``region.landslide.patches()`` (core 500, halo 64, seeded
           split);
        2. aligned models: offsets for ``distances`` (default: those the region holds, else
           the paper's 30, 100, 300 m) are added lazily when the region lacks them, with the
           patches' halo as their limit; and ``aligned`` defaults to
           :func:`~xlandslide.select_aligned_features` — ``llr`` (a trained LLR of this
           region's layout), else an LLR fitted on the same patches with ``llr_config``
           (default: exactly, by L-BFGS), the features with ``|w| >= threshold`` (at most
           ``max_aligned``);
        3. a network with a linear path (the default, ``linear_skip``) starts from that LLR
           (``warm_start``; fitted here when not given): the untrained network is the LLR;
        4. :func:`xlandslide.fit` trains the model; ``kwargs`` go to it (and ``progress``
           and ``cache_bytes`` also to the LLR).

        Returns the trained :class:`~xlandslide.LandslideModel`; each step is also a public
        function, for callers who want to choose (or record) what the façade chooses.
        """
        from .models import model_entry
        from .region import offset_distances
        from .train import fit, select_aligned_features
        from .train.presets import DEFAULT_MODEL_CONFIG

        ds = self._ds
        entry = model_entry(model)
        if patches is None:
            patches = self.patches()
        shared = {k: kwargs[k] for k in ("progress", "cache_bytes") if k in kwargs}
        options = {**DEFAULT_MODEL_CONFIG.get(entry.name, {}), **(kwargs.get("model_config") or {})}
        start = options.get("linear_skip") and "warm_start" not in kwargs and not entry.linear
        if llr is None and (start or (entry.needs_offsets and aligned is None)):
            llr = fit(ds, "llr", patches=patches, config=llr_config, **shared)
        if start:
            kwargs["warm_start"] = llr
        if entry.needs_offsets:
            held = offset_distances(ds)
            distances = tuple(float(d) for d in (distances or held or PAPER_DISTANCES))
            if not set(distances) <= set(held):
                ds = ds.landslide.with_offsets(distances, halo=patches.geometry.halo)
            if aligned is None:
                aligned = select_aligned_features(
                    ds,
                    patches,
                    llr=llr,
                    threshold=threshold,
                    max_features=max_aligned,
                    **shared,
                ).names
        return fit(ds, model, patches=patches, aligned=aligned, distances=distances, **kwargs)

    def predict(
        self,
        model,
        *,
        block_size: int | None = None,
        batch_size: int | None = None,
        core: int | None = None,
        device=None,
    ) -> xr.DataArray:
        """Lazy susceptibility map; see :func:`xlandslide.predict`.

        The façade adds the model's uphill offsets lazily when the region lacks them (with
        the model's halo as their limit: a model whose distances exceed it is refused with
        :class:`~xlandslide.errors.HaloError`, as by ``predict``).
        """
        from .predict import predict
        from .region import offset_distances

        ds = self._ds
        spec = getattr(model, "spec", None)
        if spec is not None and spec.needs_offsets:
            if not set(spec.distances) <= set(offset_distances(ds)):
                ds = ds.landslide.with_offsets(spec.distances, halo=spec.geometry.halo)
        return predict(
            ds, model, block_size=block_size, batch_size=batch_size, core=core, device=device
        )

    def evaluate(
        self,
        prob: xr.DataArray,
        mask: xr.DataArray | None = None,
        *,
        train_ratio: float | None = None,
        roc: bool = False,
    ) -> dict:
        """Metrics of ``prob`` against the region's ``label`` (one streaming pass); see
        :func:`xlandslide.evaluate`.  ``mask``: e.g. ``patches.core_mask("test", like=ds)``.
        """
        from .evaluate import evaluate

        return evaluate(prob, self._ds["label"], mask, train_ratio=train_ratio, roc=roc)

    def to_store(self, store, *, overwrite: bool = False, chunks=None):
        """Write the region to a Zarr store (atomically); see :func:`xlandslide.write_region`."""
        from .io import write_region

        return write_region(self._ds, store, overwrite=overwrite, chunks=chunks)
