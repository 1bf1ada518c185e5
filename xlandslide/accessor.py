"""The ``landslide`` accessor: a thin, stateless façade over the package's functions.

Every method forwards to the public function of the same name with the Dataset as the
region; nothing is cached on the accessor (xarray may recreate it at any time).
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr


@xr.register_dataset_accessor("landslide")
class LandslideAccessor:
    """``ds.landslide.*``: region-level operations on a region Dataset.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(256, 256))
    >>> region = region.landslide.with_offsets()  # adds lazy uphill_dy / uphill_dx
    >>> prob = region.landslide.predict(model)  # doctest: +SKIP
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def validate(self) -> xr.Dataset:
        """Check the region data model; see :func:`xlandslide.validate_region`."""
        from .io import validate_region

        return validate_region(self._ds)

    def slope(self) -> xr.DataArray:
        """Slope of ``dem`` in degrees; see :func:`xlandslide.slope`."""
        from .terrain import slope

        return slope(self._ds["dem"])

    def uphill_offsets(self, distances: Sequence[float] = (30, 100, 300)) -> xr.Dataset:
        """Uphill offsets of ``dem``; see :func:`xlandslide.uphill_offsets`."""
        from .features import uphill_offsets

        return uphill_offsets(self._ds["dem"], distances=tuple(distances))

    def with_offsets(self, distances: Sequence[float] = (30, 100, 300)) -> xr.Dataset:
        """A new region with lazy ``uphill_dy``/``uphill_dx`` (distance, y, x) added."""
        offs = self.uphill_offsets(distances)
        return self._ds.assign(uphill_dy=offs["dy"], uphill_dx=offs["dx"])

    def aligned_features(
        self, names: Sequence[str], distances: Sequence[float] | None = None
    ) -> xr.DataArray:
        """Features ``names`` read at the uphill points; see :func:`xlandslide.aligned_features`.

        Uses the stored ``uphill_dy``/``uphill_dx`` when present, otherwise computes them
        lazily for ``distances`` (default 30, 100, 300 m).
        """
        from .features import aligned_features

        ds = self._ds
        if "uphill_dy" in ds and distances is None:
            offs = xr.Dataset({"dy": ds["uphill_dy"], "dx": ds["uphill_dx"]})
        else:
            offs = self.uphill_offsets(distances if distances is not None else (30, 100, 300))
        return aligned_features(ds["features"], offs, list(names))

    def patches(self, geometry=None, *, seed: int = 0, **kwargs):
        """Patch grid and split; see :func:`xlandslide.make_patches`."""
        from .grid import PatchGeometry
        from .patches import make_patches

        return make_patches(self._ds, geometry or PatchGeometry(), seed=seed, **kwargs)

    def predict(self, model, **kwargs) -> xr.DataArray:
        """Lazy susceptibility map; see :func:`xlandslide.predict`."""
        from .predict import predict

        return predict(self._ds, model, **kwargs)

    def evaluate(self, prob: xr.DataArray, mask: xr.DataArray | None = None, **kwargs) -> dict:
        """Metrics of ``prob`` against ``label``; see :func:`xlandslide.evaluate`."""
        from .evaluate import evaluate

        return evaluate(prob, self._ds["label"], mask, **kwargs)

    def to_store(self, store, **kwargs):
        """Write the region to a Zarr store; see :func:`xlandslide.write_region`."""
        from .io import write_region

        return write_region(self._ds, store, **kwargs)
