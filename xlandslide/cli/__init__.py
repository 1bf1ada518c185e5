"""The ``xlandslide`` command line.

``main(argv=None)`` so tests can drive it.  Sub-commands chain the public functions:

- ``xlandslide demo --out DIR``: the whole pipeline on a built-in synthetic region.
- ``xlandslide synthetic STORE --shape NY NX``: write a synthetic region store (+ offsets).
- ``xlandslide offsets STORE --out NEW``: a new store with the uphill offsets added.
- ``xlandslide train STORE --model lacnn --out MODEL.pt``: train and write a checkpoint
  (and the patch split, ``MODEL.split.json``, unless ``--split`` names one to reuse); for
  an aligned model without ``--aligned``, an LLR on the same patches chooses the aligned
  features first (the paper's rule), and offsets the store lacks are computed on the fly.
- ``xlandslide predict STORE MODEL.pt --out MAP.zarr|MAP.tif``: write a susceptibility map
  (``--resume``: continue a Zarr map whose write was killed, computing only the missing
  blocks).
- ``xlandslide evaluate STORE MAP.zarr [--split MODEL.split.json]``: metrics of a map against
  the region's labels (on the test cores of a split when given).
- ``xlandslide cv STORE --models llr lann --folds kmeans --k 5 --out DIR``: spatial
  cross-validation (per-fold and mean ± sd table; ``--compare-random`` puts random folds
  beside it).
- ``xlandslide zone MAP --out ZONES.tif [--method quantile] [--store STORE]``: a classed
  GeoTIFF of susceptibility zones (and the zoning table).
- ``xlandslide report STORE --out DIR``: the paper's Table 2 and Figures 4-6 for all six
  models on one split.
- ``xlandslide importance STORE MODEL.pt --out TABLE.csv``: LLR weights, or the permutation
  importance of a model on held-out pixels (with a bar plot).
- ``xlandslide uncertainty STORE A.pt B.pt ... --out U.zarr``: mean and sd of their maps.

An output whose folder does not exist yet is written there (missing parent folders are
created).  An output is never an input, never inside a store, and ``--overwrite`` replaces
only what xlandslide wrote; settings that cannot work are refused before any work.

Every sub-command reports the progress of its long work with an ETA on stderr (a bar on a
terminal, a line every ~30 s in a log: :mod:`xlandslide._progress`); ``--quiet`` turns it
off.  One module per command family (``cli/train.py``, ``cli/cv.py``, ...); the options
several commands share are declared once (``cli/_options.py``).

A user's mistake (a missing file, a bad setting, an output that exists, a damaged store, a
full disk) prints one line, ``xlandslide: error: ...``, and exits with status 2; an interrupt
(Ctrl-C) prints one line and exits with 130; a traceback is shown only for a bug, or with
``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import sys

from .._progress import quiet
from .._version import __version__
from ..errors import XLandslideError
from . import (
    cv,
    demo,
    evaluate,
    importance,
    ingest,
    offsets,
    predict,
    report,
    synthetic,
    train,
    uncertainty,
    zone,
)
from ._messages import cli_wording
from ._options import QUIET

#: The modules that register sub-commands, in the order of ``--help``.
COMMAND_MODULES = (
    demo,
    ingest,
    synthetic,
    offsets,
    train,
    predict,
    evaluate,
    cv,
    zone,
    report,
    importance,
    uncertainty,
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` that keeps descriptions as written and states every real default.

    An option whose default is ``None`` or ``False`` (a flag, or "decided later", which its
    help says in words) shows no ``(default: None)``; a list default reads as it is typed
    (``30 100 300``).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default is argparse.SUPPRESS
            or "%(default)" in text
            or "(default:" in text
        ):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(format(v, "g") if isinstance(v, float) else str(v) for v in default)
        return f"{text} (default: {str(default).replace('%', '%%')})"


def _subparser(**kwargs) -> argparse.ArgumentParser:
    """A sub-command's parser (``register`` functions call add_parser): the same formatter,
    and ``--quiet`` (:data:`~xlandslide.cli._options.QUIET`) in every one."""
    kwargs["parents"] = [*kwargs.get("parents", ()), QUIET]
    return argparse.ArgumentParser(formatter_class=HelpFormatter, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xlandslide",
        description="Landslide susceptibility mapping with locally aligned CNNs (LACNN).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"xlandslide {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_subparser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


#: OS errors that are the user's or the machine's, not a bug: one line, exit status 2.
USER_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
#: errno values of the same kind (a full disk or quota, a read-only file system).
USER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG)


def _is_users(err: BaseException) -> bool:
    if isinstance(err, (XLandslideError, *USER_OS_ERRORS)):
        return True
    return isinstance(err, OSError) and err.errno in USER_ERRNOS


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0; 2 for a user's mistake; 130 for an
    interrupt)."""
    args = _parser().parse_args(argv)
    try:
        with quiet(args.quiet):
            return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        hint = " (rerun with --resume to continue)" if args.command in ("train", "predict") else ""
        print(f"xlandslide: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug or not _is_users(err):
            raise
        message = cli_wording(" ".join(str(err).split())) or type(err).__name__
        print(f"xlandslide: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
