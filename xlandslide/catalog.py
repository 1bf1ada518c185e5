"""The feature catalog: the 94 INSPIRE-named input features of the paper, in order.

The paper (Hajimoradlou, Roberti, Poole, section 3) uses 94 standard features: slope,
44 lithology (rock type) one-hot maps, 5 land-cover classes, 5 rock-family maps
(metamorphic, sedimentary, plutonic, volcanic, unknown), 38 rock-age maps and the DEM.
Names follow the INSPIRE code lists (``LithologyValue``, CORINE level-1 land cover,
``GeochronologicEraValue``) written in snake case and prefixed by their category, so that a
name alone says what the layer is: ``lithology_gneiss``,
``land_cover_forest_and_semi_natural_areas``, ``rock_family_unknown``, ``rock_age_holocene``.

Continuous features (``slope``, ``dem``) are standardised; categorical ones are one-hot
(0 or 1, NaN outside the region).

Label values are defined here too, as the one place the data model is written down:
``LABEL_LANDSLIDE`` (1), ``LABEL_STABLE`` (0) and ``LABEL_UNKNOWN`` (-1) for pixels outside
the region or without ground truth, which no loss or metric ever counts.
"""

from __future__ import annotations

LABEL_LANDSLIDE = 1
LABEL_STABLE = 0
LABEL_UNKNOWN = -1

LITHOLOGY = (
    "gneiss",
    "mica_schist",
    "phyllite",
    "quartzite",
    "marble",
    "amphibolite",
    "metamorphic_rock",
    "granite",
    "granodiorite",
    "tonalite",
    "diorite",
    "gabbro",
    "porphyry",
    "basalt",
    "andesite",
    "rhyolite",
    "trachyte",
    "pyroclastic_rock",
    "tuffite",
    "volcanic_breccia",
    "limestone",
    "dolomite",
    "marlstone",
    "chalk",
    "evaporite",
    "gypsum_or_anhydrite",
    "flysch",
    "sandstone",
    "siltstone",
    "claystone",
    "mudstone",
    "shale",
    "conglomerate",
    "breccia",
    "calcarenite",
    "chert",
    "gravel",
    "sand",
    "silt",
    "clay",
    "peat",
    "moraine",
    "alluvium",
    "anthropogenic_material",
)

LAND_COVER = (
    "agricultural_areas",
    "artificial_surfaces",
    "forest_and_semi_natural_areas",
    "water_bodies",
    "wetlands",
)

ROCK_FAMILY = ("metamorphic", "sedimentary", "plutonic", "volcanic", "unknown")

ROCK_AGE = (
    "holocene",
    "upper_pleistocene",
    "middle_pleistocene",
    "lower_pleistocene",
    "pliocene",
    "upper_miocene",
    "middle_miocene",
    "lower_miocene",
    "oligocene",
    "upper_eocene",
    "middle_eocene",
    "lower_eocene",
    "paleocene",
    "upper_cretaceous",
    "lower_cretaceous",
    "cretaceous_jurassic_cycle",
    "upper_jurassic",
    "middle_jurassic",
    "lower_jurassic",
    "jurassic_triassic_cycle",
    "upper_triassic",
    "middle_triassic",
    "lower_triassic",
    "average_triassic_cycle",
    "permian_triassic_cycle",
    "upper_permian",
    "lower_permian",
    "carboniferous",
    "devonian",
    "silurian",
    "ordovician",
    "cambrian",
    "paleozoic_cycle",
    "neoproterozoic",
    "mesoproterozoic",
    "paleoproterozoic",
    "precambrian",
    "unknown_age",
)

CATEGORIES = {
    "lithology": LITHOLOGY,
    "land_cover": LAND_COVER,
    "rock_family": ROCK_FAMILY,
    "rock_age": ROCK_AGE,
}

#: Continuous features, standardised with (mean, std) over valid pixels.
CONTINUOUS = ("slope", "dem")


def _names() -> tuple[str, ...]:
    names = ["slope"]
    for category, classes in CATEGORIES.items():
        names.extend(f"{category}_{c}" for c in classes)
    names.append("dem")
    return tuple(names)


#: The 94 feature names in the order of the ``feature`` dimension.
FEATURE_NAMES: tuple[str, ...] = _names()


def category_names(category: str) -> tuple[str, ...]:
    """Return the one-hot feature names of ``category``, in catalog order.

    Raises ``KeyError`` naming the known categories when ``category`` is unknown.
    """
    if category not in CATEGORIES:
        raise KeyError(f"unknown category {category!r}; expected one of {sorted(CATEGORIES)}")
    return tuple(f"{category}_{c}" for c in CATEGORIES[category])


def feature_index(names) -> list[int]:
    """Positions of ``names`` along the ``feature`` dimension of the catalog."""
    lookup = {n: i for i, n in enumerate(FEATURE_NAMES)}
    missing = [n for n in names if n not in lookup]
    if missing:
        raise KeyError(f"features {missing} are not in the catalog of {len(FEATURE_NAMES)} names")
    return [lookup[n] for n in names]


assert len(LITHOLOGY) == 44 and len(LAND_COVER) == 5 and len(ROCK_FAMILY) == 5
assert len(ROCK_AGE) == 38 and len(FEATURE_NAMES) == 94
