"""The feature catalog: layouts of input features, and the paper's INSPIRE preset.

A region's inputs are *continuous* layers (standardised floats: slope, DEM, curvature...)
and *categorical* groups (a class code per pixel: lithology, land cover...).  A
:class:`FeatureLayout` names both; its :attr:`~FeatureLayout.names` are the input features
a model sees, in order: the continuous layers, then one one-hot feature per class of every
group, named ``f"{group}_{class}"``.  Regions store the codes (1 byte a pixel and group) and
models expand them to one-hot on the device; the one-hot view
(:meth:`xarray.Dataset.landslide.features`) has exactly these names.

The paper (Hajimoradlou, Roberti, Poole, section 3) uses 94 features: slope, 44 lithology
(rock type) classes, 5 land-cover classes, 5 rock families (metamorphic, sedimentary,
plutonic, volcanic, unknown), 38 rock ages and the DEM.  :data:`INSPIRE` is that layout, with
class names from the INSPIRE code lists (``LithologyValue``, CORINE level-1 land cover,
``GeochronologicEraValue``) in snake case: ``lithology_gneiss``,
``land_cover_forest_and_semi_natural_areas``, ``rock_family_unknown``,
``rock_age_holocene``.  Its order is continuous first (``slope``, ``dem``), then the groups.

Codes: class ``k`` of a group (0-based, in the group's class order) is code ``k``;
:data:`NODATA_CODE` (255) marks a pixel with no class (outside the region or unmapped), so a
group holds at most 255 classes.

How the codes of a source layer (a geological map's, a land-cover map's) become these
classes is :mod:`xlandslide.mapping`'s (``ClassMapping``, ``class_mapping``: the INSPIRE and
CORINE presets, or your own classes).

Label values are defined here too, as the one place the data model is written down:
``LABEL_LANDSLIDE`` (1), ``LABEL_STABLE`` (0) and ``LABEL_UNKNOWN`` (-1) for pixels outside
the region or without ground truth, which no loss or metric ever counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import NameNotFoundError, RegionError

LABEL_LANDSLIDE = 1
LABEL_STABLE = 0
LABEL_UNKNOWN = -1

#: Code of "no class" in every categorical group (uint8).
NODATA_CODE = 255
#: Most classes a categorical group may hold (codes 0 .. 254).
MAX_CLASSES = 255

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


INSPIRE_GROUPS = {
    "lithology": LITHOLOGY,
    "land_cover": LAND_COVER,
    "rock_family": ROCK_FAMILY,
    "rock_age": ROCK_AGE,
}

#: The "unknown" class of the INSPIRE groups that have one (codes missing from a mapping go
#: there only when asked: ``CategoricalLayer(..., unmapped="unknown")``).
INSPIRE_UNKNOWN = {"rock_family": "unknown", "rock_age": "unknown_age"}

#: Continuous features of the paper, standardised with (mean, std) over valid pixels.
INSPIRE_CONTINUOUS = ("slope", "dem")


@dataclass(frozen=True)
class FeatureLayout:
    """Names of a region's input layers: continuous layers and categorical groups.

    Parameters
    ----------
    continuous : sequence of str
        Names of the continuous (standardised) layers, in order.
    groups : mapping or sequence of (str, sequence of str)
        Categorical groups in order, each with its class names in code order.

    Examples
    --------
    >>> lay = FeatureLayout(["slope"], {"soil": ["clay", "sand"]})
    >>> lay.names
    ('slope', 'soil_clay', 'soil_sand')
    >>> lay.n_classes
    (2,)
    """

    continuous: tuple[str, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        cont = tuple(str(n) for n in self.continuous)
        items = self.groups.items() if isinstance(self.groups, Mapping) else self.groups
        groups = tuple((str(g), tuple(str(c) for c in classes)) for g, classes in items)
        object.__setattr__(self, "continuous", cont)
        object.__setattr__(self, "groups", groups)
        for g, classes in groups:
            if not classes:
                raise RegionError(f"categorical group {g!r} has no class; give its class names")
            if len(classes) > MAX_CLASSES:
                raise RegionError(
                    f"categorical group {g!r} has {len(classes)} classes; at most "
                    f"{MAX_CLASSES} fit a uint8 code (255 is the no-data code): split the group"
                )
            if len(set(classes)) != len(classes):
                dup = sorted({c for c in classes if classes.count(c) > 1})
                raise RegionError(f"categorical group {g!r} repeats classes {dup}")
        names = self.names
        if not names:
            raise RegionError("a feature layout needs at least one continuous layer or group")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise RegionError(
                f"feature names must be unique, got repeated {dup}; rename the layers or groups"
            )
        group_names = [g for g, _ in groups]
        if len(set(group_names)) != len(group_names):
            raise RegionError(f"categorical group names must be unique, got {group_names}")

    @property
    def group_names(self) -> tuple[str, ...]:
        """Names of the categorical groups, in order."""
        return tuple(g for g, _ in self.groups)

    @property
    def n_classes(self) -> tuple[int, ...]:
        """Number of classes of every group."""
        return tuple(len(c) for _, c in self.groups)

    def classes(self, group: str) -> tuple[str, ...]:
        """Class names of ``group`` in code order."""
        for g, c in self.groups:
            if g == group:
                return c
        raise NameNotFoundError(
            f"no categorical group {group!r}; the groups are {list(self.group_names)}"
        )

    @property
    def onehot_names(self) -> tuple[str, ...]:
        """One-hot feature names of the groups: ``f"{group}_{class}"``, group by group."""
        return tuple(f"{g}_{c}" for g, classes in self.groups for c in classes)

    @property
    def names(self) -> tuple[str, ...]:
        """Every input feature: the continuous layers, then the one-hot classes."""
        return self.continuous + self.onehot_names

    def __len__(self) -> int:
        return len(self.continuous) + sum(self.n_classes)

    def index(self, names: Sequence[str]) -> list[int]:
        """Positions of ``names`` in :attr:`names`; ``KeyError`` naming the unknown ones."""
        lookup = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise NameNotFoundError(
                f"features {missing} are not among the {len(lookup)} features of this layout"
            )
        return [lookup[n] for n in names]

    def group_of(self, name: str) -> str | None:
        """The group whose one-hot feature ``name`` is, or ``None`` for a continuous layer."""
        for g, classes in self.groups:
            if name.startswith(f"{g}_") and name[len(g) + 1 :] in classes:
                return g
        if name in self.continuous:
            return None
        raise NameNotFoundError(f"{name!r} is not a feature of this layout")

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready); :meth:`from_dict` reverses it."""
        return {
            "continuous": list(self.continuous),
            "groups": [[g, list(c)] for g, c in self.groups],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> FeatureLayout:
        try:
            return cls(tuple(d["continuous"]), tuple((g, tuple(c)) for g, c in d["groups"]))
        except (KeyError, TypeError, ValueError) as err:
            raise RegionError(
                f"not a feature layout ({type(err).__name__}: {err}); expected "
                "{'continuous': [...], 'groups': [[group, [classes...]], ...]}"
            ) from None


#: The paper's 94-feature layout (slope, dem; lithology, land cover, rock family, rock age).
INSPIRE = FeatureLayout(INSPIRE_CONTINUOUS, INSPIRE_GROUPS)

#: The 94 feature names of :data:`INSPIRE`, in the order of the one-hot view.
FEATURE_NAMES: tuple[str, ...] = INSPIRE.names


def category_names(category: str) -> tuple[str, ...]:
    """One-hot feature names of the INSPIRE group ``category``, in class order."""
    if category not in INSPIRE_GROUPS:
        raise NameNotFoundError(
            f"unknown category {category!r}; expected one of {sorted(INSPIRE_GROUPS)}"
        )
    return tuple(f"{category}_{c}" for c in INSPIRE_GROUPS[category])


if not (
    len(LITHOLOGY) == 44
    and len(LAND_COVER) == 5
    and len(ROCK_FAMILY) == 5
    and len(ROCK_AGE) == 38
    and len(FEATURE_NAMES) == 94
):  # pragma: no cover - a guard on the tables above
    raise RuntimeError("the INSPIRE catalog no longer has the paper's 94 features")
