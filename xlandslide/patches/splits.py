"""How a region's patches are dealt to training, validation and testing: the paper's
random split, 80 / 10 / 10.

:func:`split_sizes` says how many patches each split gets and :func:`random_split` deals
them, seeded.  :class:`JsonRecord` gives a record (a :class:`~xlandslide.PatchSet`, the
:class:`~xlandslide.SpatialFolds` of :mod:`xlandslide.patches.folds`) its atomic
``to_json`` / ``from_json``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError, InputTypeError, PatchError

SPLITS = ("train", "val", "test")


def split_sizes(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[int, int, int]:
    """Number of train, val and test patches among ``n``.

    Rounding: ``n_val = floor(n * f_val + 0.5)`` and ``n_test = floor(n * f_test + 0.5)``
    (round half up); when ``n >= 3`` a split with a positive fraction gets at least one patch,
    and train keeps at least one patch when its fraction is positive (the larger of val / test
    gives one back).  Train takes the rest.  With ``n < 3`` plain rounding applies, so the
    default fractions give every patch to train.

    Examples
    --------
    >>> split_sizes(10), split_sizes(15), split_sizes(3), split_sizes(2)
    ((8, 1, 1), (11, 2, 2), (1, 1, 1), (2, 0, 0))
    """
    f_train, f_val, f_test = check_fractions(fractions)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise InputTypeError(f"the number of patches must be an integer, got {n!r}")
    n = int(n)
    if n < 0:
        raise ConfigError(f"the number of patches must be >= 0, got {n}")
    n_val = math.floor(n * f_val + 0.5)
    n_test = math.floor(n * f_test + 0.5)
    if n >= 3:
        n_val = max(n_val, 1) if f_val > 0 else n_val
        n_test = max(n_test, 1) if f_test > 0 else n_test
    min_train = 1 if (f_train > 0 and n >= 3) else 0
    while n - n_val - n_test < min_train:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def check_fractions(fractions) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr):
        raise ConfigError(
            f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}"
        )
    if not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ConfigError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fr)})")
    return fr


def random_split(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> list[str]:
    """The split name of each of ``n`` patches: a seeded random deal of :func:`split_sizes`.

    ``numpy.random.Generator(PCG64(seed)).permutation(n)`` orders the patches; the first
    ``n_train`` go to train, the next ``n_val`` to val, the rest to test.
    """
    n_train, n_val, _ = split_sizes(n, fractions)
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    split = np.empty(n, dtype=object)
    split[perm[:n_train]] = "train"
    split[perm[n_train : n_train + n_val]] = "val"
    split[perm[n_train + n_val :]] = "test"
    return split.tolist()


def check_split(split: str) -> None:
    """Raise :class:`ConfigError` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {SPLITS}")


class JsonRecord:
    """``to_json`` / ``from_json`` for a record with ``to_dict`` / ``from_dict``.

    The file is written atomically (a temporary sibling, then a rename): a kill never leaves
    half a split under its name.
    """

    #: What the record is, in messages ("a patch set").
    _what = "a record"

    def to_json(self, path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically); returns the path."""
        import os

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)  # missing parents are created
        from ..io.atomic import output_errors

        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with output_errors(tmp, path):
            tmp.write_text(json.dumps(self.to_dict()))
            os.replace(tmp, path)
        return path

    @classmethod
    def _check_record(cls, d, newest: int) -> int:
        """The format version of dict ``d`` if it is this record's and not too new."""
        fmt = f"xlandslide.{cls.__name__}"
        if not isinstance(d, dict) or d.get("format") != fmt:
            raise PatchError(
                f"not {cls._what} (missing 'format': {fmt!r}); write it with "
                f"{cls.__name__}.to_dict / to_json"
            )
        version = d.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise PatchError(
                f"{cls._what}: format version {version!r} is not an integer; the file is damaged"
            )
        if version > newest:
            raise PatchError(
                f"{cls._what}: format version {version} is newer than this xlandslide "
                f"understands ({newest}); upgrade xlandslide"
            )
        return version

    @classmethod
    def from_json(cls, path):
        """Read a record written by :meth:`to_json`."""
        try:
            d = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PatchError(
                f"{str(path)!r} is not {cls._what} written by {cls.__name__}.to_json ({err})"
            ) from None
        return cls.from_dict(d)


def yx_chunks(obj):
    """dask chunks of ``obj`` along (y, x), or None when it is not dask-backed."""
    if isinstance(obj, xr.Dataset):
        arrays = [obj[v] for v in obj.data_vars if {"y", "x"} <= set(obj[v].dims)]
    else:
        arrays = [obj]
    for a in arrays:
        if a.chunks is not None:
            c = dict(zip(a.dims, a.chunks))
            return c["y"], c["x"]
    return None


__all__ = [
    "SPLITS",
    "JsonRecord",
    "check_fractions",
    "check_split",
    "random_split",
    "split_sizes",
    "yx_chunks",
]
