"""Plausibility of a DEM at ingest (issue 18, item 8): elevations outside -500..9000 m unless
declared, pixels and coordinates that cannot be metres."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from xlandslide.errors import ConfigError, CRSUnitsError, ImplausibleValuesError, LayerError
from xlandslide.io import build_region
from xlandslide.io.ingest import read_ingest_config


def _dem(values, pixel=10.0, x0=500_000.0, y0=4_000_000.0, chunks=None):
    ny, nx = values.shape
    dem = xr.DataArray(
        values.astype(np.float32),
        dims=("y", "x"),
        coords={
            "y": y0 - pixel * (np.arange(ny) + 0.5),
            "x": x0 + pixel * (np.arange(nx) + 0.5),
        },
    ).rio.write_crs("EPSG:32632")
    return dem.chunk(chunks) if chunks else dem


def _hill(scale=1.0, shape=(24, 20)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (800 + 30 * np.sin(yy / 4) + 20 * np.cos(xx / 3)) * scale


@pytest.mark.parametrize("chunks", [None, 8])
def test_elevations_outside_the_plausible_range_are_refused(chunks):
    feet_in_cm = _dem(_hill(30.48), chunks=chunks)  # centimetres of feet: 24 000 m
    with pytest.raises(ImplausibleValuesError, match=r"outside the plausible -500..9000 m"):
        build_region(feet_in_cm)
    assert issubclass(ImplausibleValuesError, LayerError)
    assert issubclass(ImplausibleValuesError, ValueError)
    # declared: built
    region = build_region(feet_in_cm, dem_range=(0, 30_000))
    assert region.attrs["normalisation"]["dem"]["mean"] > 9000
    build_region(feet_in_cm, dem_range=None)
    with pytest.raises(ConfigError, match="dem_range"):
        build_region(feet_in_cm, dem_range=(10, 5))


def test_pixels_that_cannot_be_metres_are_refused():
    tiny = _dem(_hill(), pixel=0.001)
    with pytest.raises(CRSUnitsError, match=r"less than 0\.01 m"):
        build_region(tiny)
    degrees = _dem(_hill(), pixel=0.5, x0=10.0, y0=45.0)  # lon / lat labelled as UTM
    with pytest.raises(CRSUnitsError, match="longitude / latitude"):
        build_region(degrees)
    build_region(_dem(_hill()))  # a plausible DEM builds


def test_the_ingest_file_declares_the_range(tmp_path):
    toml = tmp_path / "region.toml"
    toml.write_text('[dem]\npath = "dem.tif"\nrange = [-1000, 12000]\n')
    assert read_ingest_config(toml).build["dem_range"] == (-1000.0, 12000.0)
    toml.write_text('[dem]\npath = "dem.tif"\nrange = [5, "x"]\n')
    with pytest.raises(ConfigError, match="dem_range"):
        read_ingest_config(toml)
    toml.write_text('[dem]\npath = "dem.tif"\nranges = [1, 2]\n')
    with pytest.raises(ConfigError, match="unknown key"):
        read_ingest_config(toml)
