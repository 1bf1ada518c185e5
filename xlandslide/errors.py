"""Exception hierarchy of xlandslide.

Every error subclasses :class:`XLandslideError` and the builtin it refines, so callers can
catch either.  Messages name what was expected, what came, and the fix.

Families a caller can catch by meaning: :class:`CheckpointError` (a checkpoint that cannot
be read or does not fit: :class:`CheckpointNotFoundError`, :class:`CheckpointMismatchError`);
:class:`GridError` (CRS, transform, pixel size, halo: :class:`GridMismatchError`,
:class:`CRSUnitsError`, :class:`HaloError`); input data (:class:`RegionError`,
:class:`LayerError` and theirs); :class:`ConfigError` (settings); stores and outputs
(:class:`StoreExistsError`, :class:`StoreIntegrityError` and theirs).  Every name here is
exported from the package root.
"""

from __future__ import annotations


class XLandslideError(Exception):
    """Base class of every error raised by xlandslide."""


class RegionError(XLandslideError, ValueError):
    """A Dataset or store is not a valid region (missing variables, wrong dims or dtypes)."""


class RegionNotFoundError(RegionError, FileNotFoundError):
    """A region store path does not exist."""


class LegacyStoreError(RegionError):
    """A region store of an earlier layout (one-hot ``features``) that must be rebuilt."""


class ConfigError(XLandslideError, ValueError):
    """A setting is out of range or of the wrong kind (training, patches, prediction)."""


class ShapeError(XLandslideError, ValueError):
    """Arrays handed to a model or a metric have the wrong shape, dims or dtype."""


class EvaluationError(XLandslideError, ValueError):
    """A map cannot be scored: probabilities outside [0, 1], bad labels, a single class."""


class PatchError(XLandslideError, ValueError):
    """The patches of a region cannot serve the task (too few, or none in a split)."""


class GridError(XLandslideError, ValueError):
    """A grid is unusable: no coordinates, irregular or non-square pixels, missing CRS."""


class GridMismatchError(GridError):
    """Two grids that must match (CRS, transform, shape) do not."""


class HaloError(GridError):
    """A stencil needs more context than the halo provides (for example a radius above it)."""


class CheckpointError(XLandslideError, ValueError):
    """A file is not a readable xlandslide checkpoint, or the model it holds cannot be used."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not fit the region it is applied to (features, distances, halo)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint file at the path given."""


class MissingOptionalDependency(XLandslideError, ImportError):
    """An optional package is needed; the message names the extra to install."""


class StoreExistsError(XLandslideError, FileExistsError):
    """An output store exists and ``overwrite`` was not asked for."""


class XLandslideWarning(UserWarning):
    """Warnings issued by xlandslide (turned into errors in the test suite)."""


# --- ingest (issue 7): layers brought into a region ------------------------------------------
class LayerError(XLandslideError, ValueError):
    """An input layer cannot be used: wrong dims, an unknown band, an unsupported source."""


class LayerNotFoundError(LayerError, FileNotFoundError):
    """A layer's file (raster or vector) does not exist."""


class CRSUnitsError(GridError):
    """A grid whose CRS is geographic (degrees) or not in metres where metres are needed."""


class LabelError(LayerError):
    """Labels that are not 1 (landslide), 0 (stable) or a declared unknown / no-data value."""


class NodataError(LayerError):
    """An undeclared no-data value (-9999, -32768, ...) used as data, or an infinite value."""


class UnmappedCodeError(LayerError, KeyError):
    """A categorical code that its mapping does not name (and no policy for it was asked)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0]) if self.args else ""


class ImplausibleValuesError(LayerError):
    """Values that cannot be what they claim to be: elevations outside -500..9000 m (feet,
    centimetres, an undeclared no-data value) unless the range is declared."""


class ConfigNotFoundError(ConfigError, FileNotFoundError):
    """A configuration file (``xlandslide ingest CONFIG.toml``) does not exist."""


# --- trust: store integrity, safe overwrite, resume (issue 8) ---------------------------------
class StoreIntegrityError(XLandslideError, OSError):
    """A store (or map file) is incomplete or damaged; the message names the variable, the
    chunk and the store."""


class IncompleteStoreError(StoreIntegrityError):
    """A store that does not record its completion (no manifest: a write that did not
    finish, or a store not written by xlandslide), or a chunk it lists is missing or has
    the wrong size."""


class CorruptChunkError(StoreIntegrityError):
    """A chunk of a store (or a block of a GeoTIFF) cannot be decoded."""


class ForeignOutputError(StoreExistsError):
    """``overwrite`` was asked for, but the path holds something xlandslide did not write
    (or an output of another kind): it is never replaced."""


class OutputWriteError(XLandslideError, OSError):
    """An output cannot be written where asked (a read-only or missing folder, a full disk);
    the message names the output, never its hidden temporary."""


class OutputLockedError(XLandslideError, FileExistsError):
    """Another process is writing the same output (its lock file names it); the message
    names the holder and the fix."""


class OutputIsInputError(XLandslideError, ValueError):
    """An output path is, holds or lies inside an input of the same computation."""


class ResumeError(XLandslideError, ValueError):
    """A run or a write cannot be resumed from what is on disk (other inputs or settings)."""


class InputTypeError(XLandslideError, TypeError):
    """An argument is of the wrong type (for example a numpy array where a DataArray is
    needed)."""


class NameNotFoundError(XLandslideError, KeyError):
    """A name (a feature, a variable, a layer) is not among those available."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DegenerateModelWarning(XLandslideWarning):
    """A trained model does not beat the Naive model on validation pixels by more than
    noise, or its predictions are nearly constant (:mod:`xlandslide.train.quality`)."""


class DegenerateMapWarning(XLandslideWarning):
    """A susceptibility map whose values span a negligible range (its zoning classes would
    differ in the sixth decimal)."""


class SmallFoldWarning(XLandslideWarning):
    """A cross-validation fold whose test set holds too few landslides for a meaningful
    AUC (:func:`xlandslide.patches.folds.check_fold_support`)."""


class GeometryWarning(XLandslideWarning):
    """The default patch geometry was adapted to a small region (the paper's 500-pixel
    core would leave too few patches in a split)."""


class IngestWarning(XLandslideWarning):
    """A region built from real data that would mislead a model: a categorical group with
    one class present, or too few patches for a split (:mod:`xlandslide.io.summary`)."""


# --- learners (issue 16): the field's non-torch models ------------------------------------------
class NotFittedError(XLandslideError, ValueError):
    """A learner is asked to predict or save before it was fitted."""


__all__ = [
    "CRSUnitsError",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "ConfigError",
    "ConfigNotFoundError",
    "CorruptChunkError",
    "DegenerateMapWarning",
    "DegenerateModelWarning",
    "EvaluationError",
    "ForeignOutputError",
    "GeometryWarning",
    "GridError",
    "GridMismatchError",
    "HaloError",
    "ImplausibleValuesError",
    "IncompleteStoreError",
    "IngestWarning",
    "InputTypeError",
    "LabelError",
    "LayerError",
    "LayerNotFoundError",
    "LegacyStoreError",
    "MissingOptionalDependency",
    "NameNotFoundError",
    "NodataError",
    "NotFittedError",
    "OutputIsInputError",
    "OutputLockedError",
    "OutputWriteError",
    "PatchError",
    "RegionError",
    "RegionNotFoundError",
    "ResumeError",
    "ShapeError",
    "SmallFoldWarning",
    "StoreExistsError",
    "StoreIntegrityError",
    "UnmappedCodeError",
    "XLandslideError",
    "XLandslideWarning",
]
