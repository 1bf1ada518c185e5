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

Source codes -> classes: a :class:`ClassMapping` says how the codes of a source layer (the
integer or text codes of a geological map, a land-cover map...) become the classes of a group.
:func:`class_mapping` builds one from a preset — ``"inspire"`` (the INSPIRE classes above;
codes are your own, or the class names themselves in any spelling: ``"micaSchist"``, ``"Mica
schist"``, an INSPIRE code-list URI) or ``"corine"`` (CORINE Land Cover codes of levels 1-3
onto the five land-cover classes) — or from your own classes.

Label values are defined here too, as the one place the data model is written down:
``LABEL_LANDSLIDE`` (1), ``LABEL_STABLE`` (0) and ``LABEL_UNKNOWN`` (-1) for pixels outside
the region or without ground truth, which no loss or metric ever counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import ConfigError, RegionError

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
        raise KeyError(f"no categorical group {group!r}; the groups are {list(self.group_names)}")

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
            raise KeyError(
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
        raise KeyError(f"{name!r} is not a feature of this layout")

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
        raise KeyError(f"unknown category {category!r}; expected one of {sorted(INSPIRE_GROUPS)}")
    return tuple(f"{category}_{c}" for c in INSPIRE_GROUPS[category])


# ---------------------------------------------------------------------------------------------
# Source codes -> classes
# ---------------------------------------------------------------------------------------------
#: The "unknown" class of the INSPIRE groups that have one (codes missing from a mapping go
#: there only when asked: ``CategoricalLayer(..., unmapped="unknown")``).
INSPIRE_UNKNOWN = {"rock_family": "unknown", "rock_age": "unknown_age"}

#: CORINE Land Cover level-1 classes (first digit of every CLC code) as INSPIRE land cover.
CORINE_LEVEL1 = {
    "1": "artificial_surfaces",
    "2": "agricultural_areas",
    "3": "forest_and_semi_natural_areas",
    "4": "wetlands",
    "5": "water_bodies",
}

#: The CORINE Land Cover nomenclature: level-2 and level-3 codes (as in ``CODE_18``).
CORINE_CODES = (
    *("11", "12", "13", "14", "21", "22", "23", "24", "31", "32", "33", "41", "42", "51", "52"),
    *("111", "112", "121", "122", "123", "124", "131", "132", "133", "141", "142"),
    *("211", "212", "213", "221", "222", "223", "231", "241", "242", "243", "244"),
    *("311", "312", "313", "321", "322", "323", "324", "331", "332", "333", "334", "335"),
    *("411", "412", "421", "422", "423", "511", "512", "521", "522", "523"),
)

#: Presets of :func:`class_mapping`.
PRESETS = ("inspire", "corine")


def code_key(value) -> str | None:
    """The canonical text of a source code: ``12``, ``12.0``, ``"12"`` are all ``"12"``.

    Numbers (and text that reads as a number) become their shortest decimal form, other text
    is stripped; ``None`` and NaN (a missing code) give ``None``.
    """
    import numbers

    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return code_key(number) if math.isfinite(number) else text


def snake_name(text: str) -> str:
    """A class name in snake case: ``"micaSchist"``, ``"Mica schist"`` -> ``"mica_schist"``.

    The last segment of a URI (``.../LithologyValue/micaSchist``) is taken.
    """
    text = str(text).strip().rstrip("/").rsplit("/", 1)[-1]
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


@dataclass(frozen=True)
class ClassMapping:
    """How the codes of a source layer become the classes of a categorical group.

    Build one with :func:`class_mapping` (presets or your own classes).

    Parameters
    ----------
    classes : sequence of str
        The group's classes, in code order (class ``k`` is stored as code ``k``).
    codes : mapping or sequence of (code, class)
        Source code -> class name.  Codes compare by their text (:func:`code_key`).
    unknown : str, optional
        The group's "unknown" class, where codes missing from ``codes`` go when the layer
        asks for it (``unmapped="unknown"``); never used otherwise.
    match_names : bool
        Also accept, as a code, a class name in any spelling (:func:`snake_name`).

    Examples
    --------
    >>> m = ClassMapping(("clay", "sand"), {1: "clay", 2: "sand", 3: "sand"})
    >>> m.lookup(3), m.lookup("1"), m.lookup(9)
    (1, 0, None)
    """

    classes: tuple[str, ...]
    codes: tuple[tuple[str, str], ...] = ()
    unknown: str | None = None
    match_names: bool = False

    def __post_init__(self):
        classes = tuple(str(c) for c in self.classes)
        items = self.codes.items() if isinstance(self.codes, Mapping) else self.codes
        pairs, seen = [], {}
        for code, cls in items:
            key = code_key(code)
            if key is None:
                raise ConfigError(f"a mapping code is missing (None or NaN) for class {cls!r}")
            if key in seen and seen[key] != str(cls):
                raise ConfigError(
                    f"code {code!r} maps to both {seen[key]!r} and {cls!r}; give it one class"
                )
            seen[key] = str(cls)
            pairs.append((key, str(cls)))
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "codes", tuple(dict(pairs).items()))
        if not classes:
            raise ConfigError("a class mapping needs at least one class")
        if len(classes) > MAX_CLASSES:
            raise ConfigError(
                f"{len(classes)} classes do not fit a uint8 code (at most {MAX_CLASSES}; "
                f"{NODATA_CODE} is no data): merge classes or split the group"
            )
        if len(set(classes)) != len(classes):
            raise ConfigError(f"classes must be unique, got {list(classes)}")
        strays = sorted({c for _, c in self.codes} - set(classes))
        if strays:
            raise ConfigError(
                f"the mapping names classes {strays} that are not among the group's classes "
                f"{list(classes)}; fix the spelling or add them to the classes"
            )
        if self.unknown is not None and self.unknown not in classes:
            raise ConfigError(
                f"the unknown class {self.unknown!r} is not among the classes {list(classes)}"
            )

    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: k for k, c in enumerate(self.classes)}

    @cached_property
    def _table(self) -> dict[str, int]:
        return {key: self._index[c] for key, c in self.codes}

    def lookup(self, code) -> int | None:
        """The class index of a source ``code``, or ``None`` when the mapping lacks it."""
        key = code_key(code)
        if key is None:
            return None
        found = self._table.get(key)
        if found is None and self.match_names:
            found = self._index.get(snake_name(key))
        return found

    def numeric_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted float codes, uint8 class indices) of the numeric codes, for rasters."""
        keys, values = [], []
        for key, k in self._table.items():
            try:
                keys.append(float(key))
            except ValueError:
                continue
            values.append(k)
        order = np.argsort(keys, kind="stable")
        return np.asarray(keys, np.float64)[order], np.asarray(values, np.uint8)[order]


def class_mapping(
    group: str,
    *,
    preset: str | None = None,
    codes: Mapping | None = None,
    classes: Sequence[str] | None = None,
    unknown: str | None = None,
) -> ClassMapping:
    """A :class:`ClassMapping` for ``group``: from a preset, or from your own classes.

    Parameters
    ----------
    group : str
        The categorical group (``lithology``, ``land_cover``, ``soil``...).
    preset : {"inspire", "corine"}, optional
        ``"inspire"``: the group's INSPIRE classes (``group`` must be one of
        :data:`INSPIRE_GROUPS`); ``codes`` maps your codes to INSPIRE class names (any
        spelling), and without ``codes`` the source holds the class names themselves.
        ``"corine"``: the INSPIRE land-cover classes from CORINE Land Cover codes of level 1
        (``1``-``5``), 2 (``11``-``52``) or 3 (``111``-``523``), by their first digit;
        ``codes`` adds or overrides codes.  Without a preset: your own classes.
    codes : mapping, optional
        Source code -> class name (required without a preset).
    classes : sequence of str, optional
        Without a preset, the classes in code order (default: the classes of ``codes`` in
        order of first appearance).
    unknown : str, optional
        The class where codes missing from the mapping go, when a layer asks for it
        (default for INSPIRE: ``rock_family`` -> ``unknown``, ``rock_age`` ->
        ``unknown_age``; the other groups have none).

    Examples
    --------
    >>> class_mapping("land_cover", preset="corine").lookup("311")
    2
    >>> class_mapping("lithology", preset="inspire", codes={12: "Mica schist"}).lookup(12)
    1
    """
    if preset is None:
        if not codes:
            raise ConfigError(
                f"group {group!r}: give its codes ({{source code: class}}) or a preset "
                f"({' or '.join(map(repr, PRESETS))})"
            )
        if classes is None:
            classes = tuple(dict.fromkeys(str(c) for c in codes.values()))
        return ClassMapping(tuple(classes), codes, unknown)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; the presets are {list(PRESETS)}")
    if preset == "corine":
        own = {k: v for k, v in CORINE_LEVEL1.items()}
        own.update({c: CORINE_LEVEL1[c[0]] for c in CORINE_CODES})
        own.update({code_key(k): snake_name(v) for k, v in (codes or {}).items()})
        target, known = LAND_COVER, None
    else:
        if group not in INSPIRE_GROUPS:
            raise ConfigError(
                f"group {group!r} is not an INSPIRE group ({sorted(INSPIRE_GROUPS)}); name it "
                "after one of them, or give your own classes (no preset)"
            )
        target, known = INSPIRE_GROUPS[group], INSPIRE_UNKNOWN.get(group)
        own = {k: snake_name(v) for k, v in (codes or {}).items()}
    if classes is not None and tuple(classes) != tuple(target):
        raise ConfigError(f"preset {preset!r} fixes the classes of {group!r}; do not give them")
    bad = sorted({v for v in own.values() if v not in target})
    if bad:
        raise ConfigError(
            f"group {group!r}: {bad} are not {preset} classes; the classes are {list(target)}"
        )
    return ClassMapping(
        target, own, known if unknown is None else unknown, match_names=preset == "inspire"
    )


if not (
    len(LITHOLOGY) == 44
    and len(LAND_COVER) == 5
    and len(ROCK_FAMILY) == 5
    and len(ROCK_AGE) == 38
    and len(FEATURE_NAMES) == 94
):  # pragma: no cover - a guard on the tables above
    raise RuntimeError("the INSPIRE catalog no longer has the paper's 94 features")
