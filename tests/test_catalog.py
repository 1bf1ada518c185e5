"""The feature catalog: FeatureLayout (names, index, groups, dict round trip) and INSPIRE."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from tests.strategies import layouts
from xlandslide import catalog
from xlandslide.catalog import INSPIRE, MAX_CLASSES, NODATA_CODE, FeatureLayout
from xlandslide.errors import NameNotFoundError, RegionError


def test_inspire_has_the_papers_94_features_in_view_order():
    names = INSPIRE.names
    assert len(names) == len(INSPIRE) == 94 and len(set(names)) == 94
    assert names == catalog.FEATURE_NAMES
    # continuous first (slope, dem), then the groups' classes, group by group
    assert names[:2] == ("slope", "dem") and INSPIRE.continuous == ("slope", "dem")
    assert INSPIRE.group_names == ("lithology", "land_cover", "rock_family", "rock_age")
    assert INSPIRE.n_classes == (44, 5, 5, 38)
    assert names[2] == "lithology_gneiss" and names[45] == "lithology_anthropogenic_material"
    assert names[46] == "land_cover_agricultural_areas"
    assert names[51:56] == tuple(f"rock_family_{c}" for c in catalog.ROCK_FAMILY)
    assert names[-1] == "rock_age_unknown_age"
    assert "land_cover_forest_and_semi_natural_areas" in names
    for group, n in zip(INSPIRE.group_names, INSPIRE.n_classes):
        assert len(catalog.category_names(group)) == n
        assert catalog.category_names(group) == tuple(
            f"{group}_{c}" for c in INSPIRE.classes(group)
        )
    assert INSPIRE.onehot_names == names[2:]


def test_category_names_unknown_group():
    with pytest.raises(NameNotFoundError, match="expected one of"):
        catalog.category_names("soil")


def test_constants():
    assert (catalog.LABEL_LANDSLIDE, catalog.LABEL_STABLE, catalog.LABEL_UNKNOWN) == (1, 0, -1)
    assert NODATA_CODE == 255 and MAX_CLASSES == 255


def test_layout_names_index_and_groups():
    lay = FeatureLayout(["slope", "twi"], {"soil": ["clay", "sand"], "cover": ["forest"]})
    assert lay.names == ("slope", "twi", "soil_clay", "soil_sand", "cover_forest")
    assert lay.onehot_names == ("soil_clay", "soil_sand", "cover_forest")
    assert lay.group_names == ("soil", "cover") and lay.n_classes == (2, 1)
    assert len(lay) == 5 and lay.classes("soil") == ("clay", "sand")
    assert lay.index(["cover_forest", "slope", "soil_sand"]) == [4, 0, 3]
    with pytest.raises(NameNotFoundError, match=r"\['nope'\] are not among the 5 features"):
        lay.index(["slope", "nope"])
    with pytest.raises(NameNotFoundError, match=r"groups are \['soil', 'cover'\]"):
        lay.classes("rock")
    assert lay.group_of("soil_sand") == "soil" and lay.group_of("cover_forest") == "cover"
    assert lay.group_of("twi") is None
    with pytest.raises(NameNotFoundError, match="not a feature"):
        lay.group_of("soil_silt")
    # inputs are normalised to tuples of str: equal layouts compare and hash equal
    same = FeatureLayout(("slope", "twi"), (("soil", ("clay", "sand")), ("cover", ("forest",))))
    assert same == lay and hash(same) == hash(lay)
    assert FeatureLayout(["slope"]).names == ("slope",) and FeatureLayout(["slope"]).groups == ()


def test_group_of_with_prefix_sharing_groups():
    # "a_b" could be group "a" class "b" or group "a_b"...; the class list decides
    lay = FeatureLayout([], {"a": ["b_c"], "a_b": ["c2"]})
    assert lay.group_of("a_b_c") == "a" and lay.group_of("a_b_c2") == "a_b"


def test_layout_dict_round_trip_through_json():
    d = INSPIRE.to_dict()
    assert d["continuous"] == ["slope", "dem"] and d["groups"][0][0] == "lithology"
    assert FeatureLayout.from_dict(json.loads(json.dumps(d))) == INSPIRE


@settings(max_examples=30, deadline=None)
@given(lay=layouts())
def test_random_layouts_round_trip(lay):
    back = FeatureLayout.from_dict(json.loads(json.dumps(lay.to_dict())))
    assert back == lay and back.names == lay.names
    assert len(lay) == len(lay.continuous) + sum(lay.n_classes) == len(lay.names)
    assert lay.index(lay.names) == list(range(len(lay)))
    for name in lay.names:
        group = lay.group_of(name)
        assert (group is None) == (name in lay.continuous)


@pytest.mark.parametrize(
    "bad", [{}, {"continuous": []}, {"continuous": ["a"], "groups": [["g"]]}, "nope"]
)
def test_from_dict_errors(bad):
    with pytest.raises(RegionError, match="not a feature layout"):
        FeatureLayout.from_dict(bad)


@pytest.mark.parametrize(
    "continuous, groups, match",
    [
        (["a", "a"], {}, r"unique, got repeated \['a'\]"),
        (["soil_x"], {"soil": ["x"]}, r"repeated \['soil_x'\]; rename"),
        ([], {"g": ["k", "k"]}, r"repeats classes \['k'\]"),
        ([], {"g": []}, "has no class"),
        ([], {"g": [f"k{i}" for i in range(256)]}, "256 classes; at most 255.*split the group"),
        ([], {}, "at least one"),
        ([], [("g", ["a"]), ("g", ["b"])], "group names must be unique"),
    ],
)
def test_layout_errors(continuous, groups, match):
    with pytest.raises(RegionError, match=match):
        FeatureLayout(continuous, groups)


def test_255_classes_fit():
    lay = FeatureLayout([], {"g": [f"k{i}" for i in range(MAX_CLASSES)]})
    assert lay.n_classes == (255,)
