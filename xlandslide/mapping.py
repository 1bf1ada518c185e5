"""Source codes -> classes: how the codes of a source layer become a group's classes.

A :class:`ClassMapping` says how the codes of a source layer (the integer or text codes of a
geological map, a land-cover map...) become the classes of a categorical group.
:func:`class_mapping` builds one from a preset — ``"inspire"`` (the INSPIRE classes of
:mod:`xlandslide.catalog`; codes are your own, or the class names themselves in any spelling:
``"micaSchist"``, ``"Mica schist"``, an INSPIRE code-list URI) or ``"corine"`` (CORINE Land
Cover codes of levels 1-3 onto the five land-cover classes) — or from your own classes.
Codes compare by their text (:func:`code_key`): ``12``, ``12.0`` and ``"12"`` are one code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .catalog import INSPIRE_GROUPS, INSPIRE_UNKNOWN, LAND_COVER, MAX_CLASSES, NODATA_CODE
from .errors import ConfigError

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


__all__ = [
    "CORINE_CODES",
    "CORINE_LEVEL1",
    "PRESETS",
    "ClassMapping",
    "class_mapping",
    "code_key",
    "snake_name",
]
