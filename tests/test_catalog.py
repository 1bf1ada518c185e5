import pytest

from xlandslide import catalog


def test_catalog_counts_and_order():
    names = catalog.FEATURE_NAMES
    assert len(names) == 94
    assert len(set(names)) == 94
    assert names[0] == "slope" and names[-1] == "dem"
    assert len(catalog.category_names("lithology")) == 44
    assert len(catalog.category_names("land_cover")) == 5
    assert len(catalog.category_names("rock_family")) == 5
    assert len(catalog.category_names("rock_age")) == 38
    assert "rock_family_unknown" in names
    assert "land_cover_forest_and_semi_natural_areas" in names


def test_feature_index():
    assert catalog.feature_index(["slope", "dem"]) == [0, 93]
    with pytest.raises(KeyError, match="not in the catalog"):
        catalog.feature_index(["slope", "nope"])
    with pytest.raises(KeyError, match="expected one of"):
        catalog.category_names("soil")


def test_labels():
    assert (catalog.LABEL_LANDSLIDE, catalog.LABEL_STABLE, catalog.LABEL_UNKNOWN) == (1, 0, -1)
