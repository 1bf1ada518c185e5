"""Source codes -> classes: code keys, snake names, ClassMapping, the INSPIRE and CORINE
presets, your own classes."""

from __future__ import annotations

import numpy as np
import pytest

from xlandslide.catalog import LAND_COVER, LITHOLOGY, ROCK_AGE
from xlandslide.errors import ConfigError
from xlandslide.mapping import CORINE_CODES, ClassMapping, class_mapping, code_key, snake_name


def test_code_keys_compare_codes_by_their_text():
    assert code_key(12) == code_key(12.0) == code_key("12") == code_key(" 12 ") == "12"
    assert code_key("2.10") == code_key(2.1) == "2.1"
    assert code_key(None) is None and code_key(float("nan")) is None
    assert code_key("Gneiss") == "Gneiss"  # text stays text (exact)


def test_snake_names():
    for spelling in ("micaSchist", "Mica schist", "mica-schist", "MICA_SCHIST"):
        assert snake_name(spelling) == "mica_schist"
    uri = "http://inspire.ec.europa.eu/codelist/LithologyValue/pyroclasticRock"
    assert snake_name(uri) == "pyroclastic_rock"
    assert snake_name("Forest and semi-natural areas") == "forest_and_semi_natural_areas"


def test_inspire_preset_maps_your_codes_and_class_names():
    own = class_mapping("lithology", preset="inspire", codes={12: "Mica schist", "LS": "limestone"})
    assert own.classes == LITHOLOGY and own.unknown is None
    assert own.lookup(12) == own.lookup("12") == LITHOLOGY.index("mica_schist")
    assert own.lookup("LS") == LITHOLOGY.index("limestone")
    names = class_mapping("lithology", preset="inspire")  # the source holds the names
    for k, cls in enumerate(LITHOLOGY):
        assert names.lookup(cls) == k
    assert names.lookup("pyroclasticRock") == LITHOLOGY.index("pyroclastic_rock")
    assert names.lookup("granit") is None
    age = class_mapping("rock_age", preset="inspire")
    assert age.unknown == "unknown_age" and age.classes == ROCK_AGE


def test_corine_preset_covers_the_nomenclature():
    m = class_mapping("land_cover", preset="corine")
    assert m.classes == LAND_COVER
    assert len(CORINE_CODES) == 15 + 44  # level 2 and level 3 (CLC 2018)
    expected = {
        "1": "artificial_surfaces",
        "2": "agricultural_areas",
        "3": "forest_and_semi_natural_areas",
        "4": "wetlands",
        "5": "water_bodies",
    }
    for code in (*expected, *CORINE_CODES):
        assert LAND_COVER[m.lookup(code)] == expected[code[0]], code
    assert m.lookup(311) == m.lookup("311") == LAND_COVER.index("forest_and_semi_natural_areas")
    assert m.lookup("999") is None and m.lookup("6") is None  # no data, not a class
    extra = class_mapping("land_cover", preset="corine", codes={"999": "water_bodies"})
    assert LAND_COVER[extra.lookup(999)] == "water_bodies"


def test_own_classes_and_numeric_table():
    m = class_mapping("soil", codes={3: "sand", 1: "clay", 7: "sand"})
    assert m.classes == ("sand", "clay")  # in order of first appearance
    keys, values = m.numeric_table()
    np.testing.assert_array_equal(keys, [1.0, 3.0, 7.0])
    np.testing.assert_array_equal(values, [1, 0, 0])
    fixed = class_mapping("soil", codes={1: "clay"}, classes=("clay", "silt"), unknown="silt")
    assert fixed.classes == ("clay", "silt") and fixed.unknown == "silt"
    assert ClassMapping(("a",), {1: "a"}) == ClassMapping(("a",), {"1": "a"})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": ("a",), "codes": {1: "b"}}, r"\['b'\] that are not among"),
        ({"classes": ("a", "a"), "codes": {}}, "unique"),
        ({"classes": (), "codes": {}}, "at least one class"),
        ({"classes": ("a",), "codes": {1: "a"}, "unknown": "z"}, "unknown class 'z'"),
        ({"classes": ("a", "b"), "codes": [(1, "a"), ("1", "b")]}, "maps to both"),
        ({"classes": ("a",), "codes": {None: "a"}}, "missing"),
        ({"classes": tuple(f"c{i}" for i in range(256)), "codes": {}}, "do not fit a uint8"),
    ],
)
def test_class_mapping_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ClassMapping(**kwargs)
