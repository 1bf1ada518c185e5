"""Fixtures shared by the tests; helpers live in tests/helpers.py, strategies in
tests/strategies.py."""

from __future__ import annotations

import pytest

from tests.helpers import ECUADOR_POINTS, ECUADOR_TIF, raise_if_dask_computes


@pytest.fixture
def no_compute():
    with raise_if_dask_computes():
        yield


@pytest.fixture(scope="session")
def ecuador_tif():
    """Path of the real 10 m DEM stack shipped in examples/data (part of every clone)."""
    if not ECUADOR_TIF.exists():  # pragma: no cover - the file is committed
        raise FileNotFoundError(f"the shipped real data is missing: {ECUADOR_TIF}")
    return ECUADOR_TIF


@pytest.fixture(scope="session")
def ecuador_points():
    """Path of the shipped Ecuador landslide points (GeoPackage)."""
    return ECUADOR_POINTS
