"""Constants and class tables of the synthetic world (see :mod:`xlandslide.synthetic`)."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Constants of the rule (documented in the module docstring)
# ---------------------------------------------------------------------------------------------
GAMMA = 19.0  #: unit weight of soil, kN/m^3
GAMMA_W = 9.81  #: unit weight of water, kN/m^3
SOIL_MIN = 0.5  #: soil depth range (m) of the hidden soil-depth field
SOIL_MAX = 2.5
RELIEF_RADIUS = 250.0  #: half-width (m) of the square window of the upslope relief
RELIEF_DRY = 60.0  #: upslope relief (m) below which the soil is dry (m = 0)
RELIEF_SATURATION = 160.0  #: upslope relief (m) above which the soil is saturated (m = 1)
FS_CRITICAL = 1.0  #: a pixel slides when FS < FS_CRITICAL
FLIP_LOSS = 0.05  #: fraction of landslide pixels turned stable (label noise)
FLIP_GAIN = 0.0005  #: fraction of stable pixels turned into landslides (label noise)
LITHOLOGY_CELL = 500.0  #: size (m) of the lithology Voronoi lattice
LAND_COVER_CELL = 600.0  #: size (m) of the land-cover Voronoi lattice
UNKNOWN_AGE_FRACTION = 0.03  #: fraction of lithology cells of unknown rock age
TRIGGER_CELL = 150.0  #: size (m) of the Voronoi lattice of (hidden) landslide trigger cells
TRIGGER_FRACTION = 0.5  #: fraction of trigger cells that fire
TRANSITION_MIN = 8000.0  #: minimum width (m) of the mountain-to-plain transition

#: Fixed standardisation constants (the generator's typical statistics over valid pixels).
NORMALISATION = {
    "slope": {"mean": 13.5, "std": 12.0},
    "dem": {"mean": 800.0, "std": 650.0},
}

#: lithology -> (rock family, oldest.. youngest age range as (young, old) names, c_soil kPa,
#: friction angle deg, weight in the lowland table, weight in the mountain table)
LITHOLOGY_TABLE = {
    "gneiss": ("metamorphic", ("carboniferous", "precambrian"), 6.0, 39.0, 0.0, 4.0),
    "mica_schist": ("metamorphic", ("carboniferous", "precambrian"), 4.0, 33.0, 0.0, 3.0),
    "phyllite": ("metamorphic", ("carboniferous", "ordovician"), 3.0, 30.0, 0.0, 3.0),
    "quartzite": ("metamorphic", ("carboniferous", "precambrian"), 7.0, 41.0, 0.0, 1.0),
    "marble": ("metamorphic", ("permian_triassic_cycle", "paleozoic_cycle"), 8.0, 40.0, 0.0, 1.0),
    "amphibolite": ("metamorphic", ("devonian", "precambrian"), 6.0, 39.0, 0.0, 1.0),
    "metamorphic_rock": ("metamorphic", ("carboniferous", "precambrian"), 4.0, 34.0, 0.0, 2.0),
    "granite": ("plutonic", ("permian_triassic_cycle", "devonian"), 6.0, 40.0, 0.0, 2.0),
    "granodiorite": ("plutonic", ("permian_triassic_cycle", "devonian"), 6.0, 39.0, 0.0, 1.0),
    "tonalite": ("plutonic", ("oligocene", "upper_eocene"), 6.0, 39.0, 0.0, 1.0),
    "diorite": ("plutonic", ("permian_triassic_cycle", "devonian"), 6.0, 38.0, 0.0, 0.5),
    "gabbro": ("plutonic", ("permian_triassic_cycle", "devonian"), 7.0, 39.0, 0.0, 0.5),
    "porphyry": ("volcanic", ("upper_permian", "lower_permian"), 6.0, 39.0, 0.0, 1.0),
    "basalt": ("volcanic", ("lower_miocene", "lower_eocene"), 6.0, 38.0, 0.5, 1.5),
    "andesite": ("volcanic", ("upper_triassic", "lower_triassic"), 6.0, 38.0, 0.0, 0.5),
    "rhyolite": ("volcanic", ("permian_triassic_cycle", "lower_permian"), 6.0, 39.0, 0.0, 1.0),
    "trachyte": ("volcanic", ("oligocene", "middle_eocene"), 6.0, 38.0, 0.5, 0.5),
    "pyroclastic_rock": ("volcanic", ("upper_triassic", "lower_triassic"), 3.0, 33.0, 0.0, 1.0),
    "tuffite": ("volcanic", ("upper_triassic", "lower_triassic"), 3.0, 31.0, 0.0, 1.0),
    "volcanic_breccia": ("volcanic", ("upper_eocene", "lower_eocene"), 4.0, 35.0, 0.0, 0.5),
    "limestone": ("sedimentary", ("upper_cretaceous", "lower_triassic"), 8.0, 41.0, 1.0, 8.0),
    "dolomite": ("sedimentary", ("lower_jurassic", "average_triassic_cycle"), 8.0, 41.0, 0.0, 8.0),
    "marlstone": (
        "sedimentary",
        ("upper_eocene", "cretaceous_jurassic_cycle"),
        4.0,
        32.0,
        1.0,
        4.0,
    ),
    "chalk": ("sedimentary", ("upper_cretaceous", "lower_cretaceous"), 4.0, 33.0, 0.5, 2.0),
    "evaporite": ("sedimentary", ("permian_triassic_cycle", "upper_permian"), 3.0, 31.0, 0.0, 0.5),
    "gypsum_or_anhydrite": (
        "sedimentary",
        ("permian_triassic_cycle", "upper_permian"),
        3.0,
        31.0,
        0.0,
        0.5,
    ),
    "flysch": ("sedimentary", ("upper_eocene", "lower_cretaceous"), 2.0, 29.0, 1.0, 4.0),
    "sandstone": ("sedimentary", ("pliocene", "lower_permian"), 6.0, 37.0, 2.0, 3.0),
    "siltstone": ("sedimentary", ("upper_miocene", "upper_triassic"), 4.0, 31.0, 1.0, 1.0),
    "claystone": ("sedimentary", ("pliocene", "lower_cretaceous"), 2.0, 27.0, 2.0, 1.5),
    "mudstone": ("sedimentary", ("upper_miocene", "lower_triassic"), 2.0, 27.0, 1.0, 1.0),
    "shale": ("sedimentary", ("upper_cretaceous", "carboniferous"), 2.0, 28.0, 0.5, 1.5),
    "conglomerate": ("sedimentary", ("pliocene", "oligocene"), 6.0, 38.0, 2.0, 2.0),
    "breccia": ("sedimentary", ("lower_pleistocene", "upper_triassic"), 5.0, 37.0, 0.0, 1.0),
    "calcarenite": ("sedimentary", ("upper_miocene", "upper_eocene"), 6.0, 37.0, 1.0, 1.0),
    "chert": ("sedimentary", ("lower_cretaceous", "lower_jurassic"), 7.0, 39.0, 0.0, 0.5),
    "gravel": ("sedimentary", ("holocene", "lower_pleistocene"), 0.5, 37.0, 10.0, 1.5),
    "sand": ("sedimentary", ("holocene", "lower_pleistocene"), 0.5, 35.0, 10.0, 0.5),
    "silt": ("sedimentary", ("holocene", "lower_pleistocene"), 2.0, 29.0, 8.0, 0.5),
    "clay": ("sedimentary", ("holocene", "lower_pleistocene"), 3.0, 25.0, 8.0, 0.5),
    "peat": ("sedimentary", ("holocene", "holocene"), 2.0, 23.0, 2.0, 0.0),
    "moraine": ("sedimentary", ("upper_pleistocene", "lower_pleistocene"), 2.0, 35.0, 2.0, 4.0),
    "alluvium": ("sedimentary", ("holocene", "upper_pleistocene"), 1.0, 33.0, 15.0, 3.0),
    "anthropogenic_material": ("unknown", ("holocene", "holocene"), 2.0, 33.0, 3.0, 0.2),
}

#: land cover -> (root cohesion kPa, never slides, weight lowland, weight mountain)
LAND_COVER_TABLE = {
    "agricultural_areas": (1.0, False, 60.0, 15.0),
    "artificial_surfaces": (0.0, False, 15.0, 3.0),
    "forest_and_semi_natural_areas": (5.0, False, 17.0, 78.0),
    "water_bodies": (0.0, True, 4.0, 2.0),
    "wetlands": (0.0, False, 4.0, 2.0),
}
