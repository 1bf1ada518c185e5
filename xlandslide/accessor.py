"""The ``landslide`` accessor: a thin, stateless façade over the package's functions."""

from __future__ import annotations

import xarray as xr


@xr.register_dataset_accessor("landslide")
class LandslideAccessor:
    """``ds.landslide.*``: region-level operations.  Holds no state beyond the Dataset."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds
